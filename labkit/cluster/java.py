"""Find a Java runtime new enough for the Kafka 4 broker (Java 17+)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from labkit.errors import ClusterError

MIN_JAVA = 17
_INSTALL_HINT = "install a JDK 17 or newer (Debian: apt-get install openjdk-17-jdk-headless) or point JAVA_HOME at one"


def find_java(java_home: Path | None) -> Path:
    """`java_home`/bin/java (Settings.java_home: JAVA_HOME), else `java` on PATH, checked to be Java 17 or newer."""
    candidate = java_home / "bin" / "java" if java_home else None
    if candidate is None or not candidate.is_file():
        found = shutil.which("java")
        if found is None:
            raise ClusterError(f"Java not found (no JAVA_HOME, no java on PATH): {_INSTALL_HINT}")
        candidate = Path(found)
    major = java_major_version(candidate)
    if major < MIN_JAVA:
        raise ClusterError(f"{candidate} is Java {major}; Kafka 4 brokers need Java {MIN_JAVA}+: {_INSTALL_HINT}")
    return candidate


def java_major_version(java: Path) -> int:
    """The major version `java -version` reports (`1.8.0_x` → 8, `17.0.15` → 17)."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"cannot run {java} -version: {exc}: {_INSTALL_HINT}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise ClusterError(f"cannot read the Java version from {java} -version: {out.strip()!r}")
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return minor if major == 1 else major
