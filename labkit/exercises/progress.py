"""Which exercises a learner has solved, kept in `<LABKIT_HOME>/exercises/<learner>.json` across kernels.

One small JSON file per learner, rewritten whole through a temporary file and a rename, so a kernel killed
mid-write leaves the previous file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from labkit.errors import ConfigError
from labkit.settings import Settings


class Progress:
    """`{exercise key: {"solved_at": …, "solution_seen_at": …}}` for one learner."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_learner(cls, settings: Settings | None = None) -> Progress:
        """The progress of LABKIT_LEARNER (default: your login name) under LABKIT_HOME."""
        settings = settings or Settings.from_env()
        return cls(settings.home / "exercises" / f"{settings.learner}.json")

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read exercise progress {self.path}: {error} (labkit exercises reset)") from error
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        with os.fdopen(fd, "w") as file:
            json.dump(data, file, indent=1, sort_keys=True)
        os.replace(temporary, self.path)

    def _stamp(self, key: str, what: str) -> None:
        data = self.read()
        entry = data.setdefault(key, {})
        if what not in entry:  # the first time counts
            entry[what] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self._write(data)

    def mark_solved(self, key: str) -> None:
        self._stamp(key, "solved_at")

    def mark_solution_seen(self, key: str) -> None:
        self._stamp(key, "solution_seen_at")

    def reset(self, keys: list[str] | None = None) -> list[str]:
        """Forget `keys` (every exercise when None); returns the keys that were remembered and are now not."""
        data = self.read()
        gone = sorted(data if keys is None else set(keys) & set(data))
        for key in gone:
            del data[key]
        if gone:
            self._write(data)
        return gone
