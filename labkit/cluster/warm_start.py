"""A warm start of the embedded cluster: the brokers map the ahead-of-time cache (cluster/aot.py) where one exists.
Where none does, the first broker of a cluster started from nothing records one: through the warm-up's pipe, a
training load of what the lab does besides (cluster/training.py) and whatever the session then runs. Its JVM
writes the cache when it stops cleanly (`down`, ≈ 9 s more, once), and every later start maps it. Training in
place costs a first start nothing but the training load; a trial that restarted the trainer to write the cache at
once took 108 s to be warm, against 67–71 s in place. Mixed into LocalCluster, whose state it reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
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
    _training: Path | None = None  # the file it writes as it stops
    _java: Path | None = None  # the JVM of the last start
    cache_refused: str | None = None  # why the last start's brokers could not map the cache, if they could not

    def log_file(self, name: str) -> Path:
        raise NotImplementedError  # LocalCluster's

    def _plan_cache(
        self, java: Path, classpath: str, state: ClusterState, dead: Sequence[BrokerState], train: bool
    ) -> None:
        """Which cache this start maps; whether its first broker records one (`train`: a warm start, from nothing,
        with no cache yet). The trainer's file is recorded in the state, for `down` to keep (`keep_trained_cache`)."""
        folder, self._java = self.tuning.aot_dir, java
        self._aot = None if folder is None else AotCache.for_jvm(folder, java, classpath, self.tuning.jvm_options)
        from_nothing = len(dead) == len(state.brokers)
        self._trainer = dead[0].node_id if train and self._aot and not self._aot.exists() and from_nothing else None
        self._training = self._aot.new_training_path() if self._aot and self._trainer else None
        if from_nothing:
            state.aot_training = str(self._training) if self._training else None

    def _jvm_options(self, node_id: int | None = None) -> tuple[str, ...]:
        """The tuning's options plus the cache's: recording for the trainer, mapping where a cache exists."""
        if self._aot is None:
            return self.tuning.jvm_options
        if node_id is not None and node_id == self._trainer and self._training is not None:
            return (*self.tuning.jvm_options, *self._aot.training_options(self._training))
        return (*self.tuning.jvm_options, *self._aot.use_options()) if self._aot.exists() else self.tuning.jvm_options

    def _check_cache(self, started: Sequence[BrokerState]) -> None:
        """After a start: if a broker could not map the cache, `cache_refused` says why, and the cache is deleted
        (a later warm start trains a new one). The broker runs on without it."""
        self.cache_refused = None
        if self._aot is None or not self._aot.exists():
            return
        for b in started:
            lines = kafka_broker.lines_since(self.log_file(f"broker-{b.node_id}"), self._log_start.get(b.node_id, 0))
            if reason := unused_cache_reason(lines):
                log.warning("the brokers started without their AOT cache %s (deleted): %s", self._aot.path, reason)
                self._aot.discard()
                self.cache_refused = reason
                return

    def _warm(self, state: ClusterState, say: Callable[[str], None]) -> None:
        """Say which JVM and cache the brokers run with, warm them up (`last_warmup`), and when this start trains a
        cache, run the training load after the warm-up."""
        began = time.monotonic()
        if self._java is not None:
            say(f"brokers run on {describe_java(self._java)}")
        if self.cache_refused is not None:
            cache = f"refused ({self.cache_refused}): the brokers started without it; deleted"
        elif self._aot is not None and self._trainer is None and self._aot.exists():
            cache = f"mapped from {self._aot.path}"
        elif self._trainer is not None:
            cache = f"recorded by broker {self._trainer}, written when the cluster stops cleanly"
        else:
            cache = "none"
        say(f"brokers' AOT cache: {cache}")
        pids = [b.pid for b in state.brokers if b.pid]
        warmed = warm_up(state.bootstrap_servers, pids, say, replication=min(3, len(pids)))
        if self._trainer is not None:
            seconds = run_training_load(state.bootstrap_servers, replication=min(3, len(pids)))
            say(
                f"broker {self._trainer} recorded an AOT cache through the warm-up and a {seconds:.0f}-s training "
                "load; it is written when the cluster stops cleanly (`labkit cluster down`), and later starts use it"
            )
        self.last_warmup = replace(warmed.since(began), aot_cache=cache)


def keep_trained_cache(state: ClusterState) -> None:
    """After every broker has stopped: the cache the trainer wrote as it exited becomes the cache."""
    if state.aot_training is None:
        return
    training = Path(state.aot_training)
    cache = AotCache.of_training(training)
    if cache.keep_trained(training):
        log.info("AOT cache written: %s (%.0f MB)", cache.path, cache.path.stat().st_size / 1e6)
    state.aot_training = None
