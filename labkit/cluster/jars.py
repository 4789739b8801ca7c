"""The broker's jars: resolved by Maven from services/kafka/pom.xml, remembered as a classpath file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from labkit.cluster.java import find_java
from labkit.errors import ClusterError
from labkit.settings import java_home_from_env, project_root


def services_dir() -> Path:
    """`services/` of the checkout; the broker's pom and log config live there."""
    root = project_root()
    if root is None:
        raise ClusterError("the embedded cluster needs a labkit checkout (its services/ folder); clone the repository")
    return root / "services"


def kafka_version() -> str:
    """The pinned Kafka version, read from the pom so that it is written down once."""
    return pom_property(services_dir() / "kafka" / "pom.xml", "kafka.version")


def pom_property(pom: Path, name: str) -> str:
    """The value of `<name>` in the pom's properties."""
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", pom.read_text())
    if not match:
        raise ClusterError(f"{pom} has no <{name}>")
    return match.group(1)


def classpath_file(home: Path) -> Path:
    return home / f"kafka-{kafka_version()}.classpath"


def read_classpath(home: Path) -> str:
    """The classpath of fetched jars; ClusterError saying how to fetch them when any is missing."""
    path = classpath_file(home)
    if not path.is_file():
        raise ClusterError(
            f"Kafka {kafka_version()} jars are not fetched yet: run `labkit cluster fetch` (needs Maven)"
        )
    classpath = path.read_text().strip()
    missing = [jar for jar in classpath.split(os.pathsep) if not Path(jar).is_file()]
    if missing:
        raise ClusterError(
            f"{len(missing)} Kafka jar(s) are gone from the Maven cache (e.g. {missing[0]}): run `labkit cluster fetch`"
        )
    return classpath


def fetch(home: Path) -> str:
    """Resolve the broker's jars with Maven (downloads into ~/.m2 once) and write the classpath file."""
    resolve(services_dir() / "kafka" / "pom.xml", classpath_file(home), f"the Kafka {kafka_version()} jars")
    return read_classpath(home)


def resolve(pom: Path, target: Path, what: str) -> None:
    """Have Maven resolve `pom`'s dependencies (into ~/.m2, once) and write their paths, joined by the path
    separator, into `target`. `-U`: a download that failed once is tried again, not remembered for a day."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ClusterError(f"Maven (mvn) not found: install it (Debian: apt-get install maven) to fetch {what}")
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-B", "-q", "-U", "--no-transfer-progress", "-f", str(pom), "dependency:build-classpath"]
    cmd.append(f"-Dmdep.outputFile={target}")
    # Maven itself runs on labkit's JDK: a machine needs no Java of its own
    env = {**os.environ, "JAVA_HOME": str(find_java(java_home_from_env()).parent.parent)}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ClusterError(f"Maven could not resolve {what}:\n{tail}")


def ensure_classpath(home: Path) -> str:
    """The classpath, fetching the jars first when they are not there yet."""
    try:
        return read_classpath(home)
    except ClusterError:
        return fetch(home)
