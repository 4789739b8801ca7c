"""Lua scripts run by SHA, reloaded after NOSCRIPT (a restarted server forgets them). Kvrocks serves the same."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis
from redis.exceptions import NoScriptError


class LuaScript:
    """One script from labkit/store/*.lua, callable in batches through a pipeline (one round trip)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = resources.files("labkit.store").joinpath(f"{name}.lua").read_text()
        self.sha: str | None = None

    def run_many(self, client: redis.Redis, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """EVALSHA every (keys, args) in one pipeline; after NOSCRIPT, load and run them again.

        Running again is safe because every labkit script is idempotent.
        """
        if not calls:
            return []
        if self.sha is None:
            self.sha = client.script_load(self.source)
        for _ in range(2):
            pipe = client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(self.sha, len(keys), *keys, *args)
            results = pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in results):
                break
            self.sha = client.script_load(self.source)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return list(results)
