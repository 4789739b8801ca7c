"""The brokers' ahead-of-time cache (JDK 25: JEP 483's classes loaded and linked ahead of time, JEP 514's one-step
training, JEP 515's method profiles): one broker of a warm start records what the warm-up's load makes it load
and run; at its clean stop the JVM writes the cache, and every later start of every broker maps it, so classes
need no loading and the JIT compiles the hot code at once instead of profiling it first.

A cache is tied to the JVM build, the classpath and the JVM options, so its name is a hash of them: a new JDK or
new jars simply find no cache and train one. It lives in the user's cache folder, outside any checkout, shared by
every labkit home. It never makes a start fail: the JVM starts without a cache it cannot use and says why in the
broker's log, and labkit then reports it (`unused_cache_reason`) and deletes it, so that the next start trains anew.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.settings import user_cache_dir

AOT_DIR_VAR = "LABKIT_AOT_DIR"
# Training writes hundreds of harmless warnings (classes it cannot store: proxies, JFR events) into the broker's
# log; errors are kept. A start that maps the cache keeps the warnings: they say why a cache was not used.
_TRAINING_LOG = "-Xlog:aot=error,cds=error"
_REFUSED = "An error has occurred while processing the AOT cache"
_TAGS = re.compile(r"^(\[[^]]*\])+")  # "[0.038s][error  ][aot] " before a JVM log line's text
MIN_JAVA_FOR_CACHE = 25  # -XX:AOTCacheOutput (JEP 514) and method profiles (JEP 515) came with JDK 25


def default_aot_dir(environ: Mapping[str, str] | None = None) -> Path:
    """LABKIT_AOT_DIR, else `$XDG_CACHE_HOME/labkit/aot` (`~/.cache/labkit/aot`)."""
    env = os.environ if environ is None else environ
    if env.get(AOT_DIR_VAR):
        return Path(env[AOT_DIR_VAR]).expanduser()
    return user_cache_dir(env) / "aot"


@dataclass(frozen=True)
class AotCache:
    """The cache for one JVM build, classpath and set of JVM options."""

    path: Path

    @classmethod
    def for_jvm(cls, folder: Path, java: Path, classpath: str, jvm_options: Sequence[str]) -> AotCache:
        """Named by a hash of what the cache is tied to: the JVM (its path and its libjvm's size and time), the
        classpath and the options."""
        jvm = java.resolve()
        libjvm = jvm.parent.parent / "lib" / "server" / "libjvm.so"
        stamp = f"{libjvm.stat().st_size}:{libjvm.stat().st_mtime_ns}" if libjvm.is_file() else "?"
        key = "\n".join([str(jvm), stamp, classpath, *jvm_options])
        return cls(folder / f"brokers-{hashlib.sha256(key.encode()).hexdigest()[:16]}.aot")

    def new_training_path(self) -> Path:
        """Where one trainer writes: a name of its own, so that two clusters training at once never write the same
        file; `of_training` finds the cache again from it."""
        return self.path.with_name(f"{self.path.stem}.{uuid.uuid4().hex[:8]}.training")

    @classmethod
    def of_training(cls, training: Path) -> AotCache:
        return cls(training.with_name(training.name.split(".", 1)[0] + ".aot"))

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def use_options(self) -> tuple[str, ...]:
        return (f"-XX:AOTCache={self.path}",)

    def training_options(self, training: Path) -> tuple[str, ...]:
        """The JVM writes the cache when it exits cleanly (it starts a second JVM to assemble it, ~9 s here)."""
        return (f"-XX:AOTCacheOutput={training}", _TRAINING_LOG)

    def keep_trained(self, training: Path) -> bool:
        """After the trainer exited: the cache it wrote becomes the cache (False if it wrote none)."""
        if not training.is_file() or training.stat().st_size == 0:
            with contextlib.suppress(FileNotFoundError):
                training.unlink()
            return False
        training.replace(self.path)
        return True

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def unused_cache_reason(log_lines: Sequence[str]) -> str | None:
    """Why a broker started without its cache, from the lines it logged since it started; None if it used it."""
    aot_lines = [line.strip() for line in log_lines if "][aot]" in line.replace(" ", "")]
    if not any(_REFUSED in line for line in aot_lines):
        return None
    reasons = [_TAGS.sub("", line).strip() for line in aot_lines if _REFUSED not in line]
    return "; ".join(reasons[:3]) or "the JVM could not map it"
