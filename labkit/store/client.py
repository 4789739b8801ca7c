"""The Redis client labkit talks to (Redis here, Kvrocks in production), and reading its replies."""

from __future__ import annotations

from typing import Any

import redis


def connect_redis(url: str, socket_timeout: float | None = None, connect_timeout: float | None = None) -> redis.Redis:
    """A client for `url` (it connects on its first command). Replies come as bytes (no decode_responses): the
    Lua scripts' and hashes' values are read with `text`."""
    return redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout)


def text(value: Any) -> str:
    """A reply as str: redis-py types replies as bytes or str, and labkit's client gives bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)
