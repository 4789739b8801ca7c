"""A warm start of the embedded cluster: the brokers map the ahead-of-time cache (cluster/aot.py) where one exists.
Where none does, the first broker of a cluster started from nothing records one: through the warm-up's pipe, a
training load of what the lab does besides (cluster/training.py) and whatever the session then runs. Its JVM
writes the cache when it stops cleanly (`down`, ≈ 9 s more, once), and every later start maps it. Training in
place costs a first start nothing but the training load; a trial that restarted the trainer to write the cache at
once took 108 s to be warm, against 62–71 s in place. Mixed into LocalCluster, whose state it reads."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from labkit.cluster import broker as kafka_broker
from labkit.cluster.aot import MIN_JAVA_FOR_CACHE, AotCache, unused_cache_reason
from labkit.cluster.java import describe_java, java_major_version
from labkit.cluster.state import BrokerState, ClusterState
from labkit.cluster.training import run_training_load
from labkit.cluster.warmup import WarmUp, warm_up
from labkit.errors import ClusterError

log = logging.getLogger(__name__)
TRAINER_STOP_TIMEOUT = 90.0  # s for `down` to wait for a broker writing the AOT cache (≈ 9–13 s here)


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
        self._java = java
        from_nothing = len(dead) == len(state.brokers)
        if from_nothing:
            keep_trained_cache(state)  # a trainer that stopped without `down` (a reboot, a kill -TERM) wrote one
        self._aot = self._cache_for(java, classpath)
        wanted = train and from_nothing and self._aot is not None and not self._aot.exists()
        self._trainer = dead[0].node_id if wanted else None
        self._training = self._aot.new_training_path() if wanted and self._aot is not None else None
        if from_nothing:
            state.aot_training = None if self._training is None else str(self._training)

    def _cache_for(self, java: Path, classpath: str) -> AotCache | None:
        """The cache of this JVM, classpath and options; None without a cache folder that can be made, or on a JVM
        older than 25 (LABKIT_JAVA_HOME), which knows no such cache."""
        folder = self.tuning.aot_dir
        if folder is None or java_major_version(java) < MIN_JAVA_FOR_CACHE:
            return None
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            log.warning("no AOT cache for the brokers: cannot make %s (%s)", folder, error)
            return None
        return AotCache.for_jvm(folder, java, classpath, self.tuning.jvm_options)

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

    def _cache_suspected(self, error: ClusterError) -> ClusterError:
        """A broker died while starting with the cache mapped: the cache is deleted in case it was the cause (a
        start must never keep failing for it), and the error says so."""
        if self._aot is None or not self._aot.exists() or self._trainer is not None:
            return error
        self._aot.discard()
        return ClusterError(
            f"{error}\n(the brokers had mapped the AOT cache {self._aot.path}; it is deleted in case "
            "it was the cause: start again)"
        )

    def _warm(self, state: ClusterState, say: Callable[[str], None]) -> None:
        """Say which JVM and cache the brokers run with, warm them up (`last_warmup`), and when this start trains a
        cache, run the training load after the warm-up."""
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
        self.last_warmup = replace(warmed, aot_cache=cache)
        if self._trainer is not None:
            seconds = run_training_load(state.bootstrap_servers, replication=min(3, len(pids)))
            say(
                f"broker {self._trainer} recorded an AOT cache through the warm-up and a {seconds:.0f}-s training "
                "load; it is written when the cluster stops cleanly (`labkit cluster down`), and later starts use it"
            )


def keep_trained_cache(state: ClusterState, complete: bool = True) -> None:
    """After every broker has stopped: the cache the trainer wrote as it exited becomes the cache. Not if it had
    to be killed (`complete` False): what it wrote may be half a file."""
    if state.aot_training is None:
        return
    training = Path(state.aot_training)
    cache = AotCache.of_training(training)
    state.aot_training = None
    if not complete:
        AotCache(training).discard()
        log.warning("the brokers' AOT cache was not kept: its trainer had to be killed")
    elif cache.keep_trained(training):
        log.info("AOT cache written: %s (%.0f MB)", cache.path, cache.path.stat().st_size / 1e6)
    else:
        log.warning("the broker recording the AOT cache stopped without writing it (killed?): the next start trains")
