"""A warm start of the embedded cluster: the brokers map the ahead-of-time cache (cluster/aot.py) where one exists.
Where none does, the first broker of a cluster started from nothing records one: through the warm-up's pipe, a
training load of what the lab does besides (cluster/training.py) and whatever the session then runs. Its JVM
writes the cache when it stops cleanly (`down`, ≈ 9 s more, once), and every later start maps it. Training in
place costs a first start nothing but the training load; restarting the trainer to write the cache at once cost
≈ 50 s more (a measured 108 s against 55 s). Mixed into LocalCluster, whose state it reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit.cluster import broker as kafka_broker
from labkit.cluster.aot import AotCache, unused_cache_reason
from labkit.cluster.java import describe_java
from labkit.cluster.state import BrokerState, ClusterState
from labkit.cluster.training import run_training_load
from labkit.cluster.warmup import WarmUp, warm_up

log = logging.getLogger(__name__)


class WarmStart:
    """The brokers' JVM options with the cache, the trainer's, and the warm-up after a start."""

    tuning: kafka_broker.BrokerTuning
    last_warmup: WarmUp | None
    _log_start: dict[int, int]
    _aot: AotCache | None = None
    _trainer: int | None = None  # the node recording a cache since this start, if any
    _java: Path | None = None  # the JVM of the last start

    def log_file(self, name: str) -> Path:
        raise NotImplementedError  # LocalCluster's

    def _plan_cache(self, java: Path, classpath: str, state: ClusterState, dead: Sequence[BrokerState]) -> None:
        """Which cache this start maps; whether its first broker records one (a start from nothing, no cache yet).
        The trainer's cache file is recorded in the state, for `down` to keep it (`keep_trained_cache`)."""
        folder, self._java = self.tuning.aot_dir, java
        self._aot = None if folder is None else AotCache.for_jvm(folder, java, classpath, self.tuning.jvm_options)
        from_nothing = len(dead) == len(state.brokers)
        self._trainer = dead[0].node_id if self._aot and not self._aot.exists() and from_nothing else None
        if from_nothing:
            state.aot_training = str(self._aot.training_path) if self._aot and self._trainer else None

    def _jvm_options(self, node_id: int | None = None) -> tuple[str, ...]:
        """The tuning's options plus the cache's: recording for the trainer, mapping where a cache exists."""
        if self._aot is None:
            return self.tuning.jvm_options
        if node_id is not None and node_id == self._trainer:
            return (*self.tuning.jvm_options, *self._aot.training_options())
        return (*self.tuning.jvm_options, *self._aot.use_options()) if self._aot.exists() else self.tuning.jvm_options

    def _cache_refused(self, started: Sequence[BrokerState]) -> str | None:
        """After a start: if a broker could not map the cache, why (the cache is then deleted, to be trained anew)."""
        if self._aot is None or not self._aot.exists():
            return None
        for b in started:
            lines = kafka_broker.lines_since(self.log_file(f"broker-{b.node_id}"), self._log_start.get(b.node_id, 0))
            if reason := unused_cache_reason(lines):
                log.warning("the brokers started without their AOT cache %s (deleted): %s", self._aot.path, reason)
                self._aot.discard()
                return reason
        return None

    def _warm(self, state: ClusterState, started: Sequence[BrokerState], say: Callable[[str], None]) -> None:
        """Say which JVM and cache the brokers run with, warm them up (`last_warmup`), and when this start trains a
        cache, run the training load after the warm-up."""
        began = time.monotonic()
        if self._java is not None:
            say(f"brokers run on {describe_java(self._java)}")
        if (refused := self._cache_refused(started)) is not None:
            say(f"the AOT cache could not be used ({refused}): the brokers started without it; it is deleted")
        elif self._aot is not None and self._trainer is None and self._aot.exists():
            say(f"brokers started with their AOT cache {self._aot.path}")
        pids = [b.pid for b in state.brokers if b.pid]
        self.last_warmup = warm_up(state.bootstrap_servers, pids, say, replication=min(3, len(pids)))
        if self._trainer is not None:
            seconds = run_training_load(state.bootstrap_servers, replication=min(3, len(pids)))
            self.last_warmup = self.last_warmup.since(began)
            say(
                f"broker {self._trainer} recorded an AOT cache through the warm-up and a {seconds:.0f}-s training "
                "load; it is written when the cluster stops cleanly (`labkit cluster down`), and later starts use it"
            )


def keep_trained_cache(state: ClusterState) -> None:
    """After every broker has stopped: the cache the trainer wrote as it exited becomes the cache."""
    if state.aot_training is None:
        return
    cache = AotCache(Path(state.aot_training).with_suffix(".aot"))
    if cache.keep_trained():
        log.info("AOT cache written: %s (%.0f MB)", cache.path, cache.path.stat().st_size / 1e6)
    state.aot_training = None
