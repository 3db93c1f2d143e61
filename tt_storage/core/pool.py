"""Connection pool options and time limits: plain values, checked once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Connection pool and time limits. Every wait the library does is bounded by one of these."""

    min_size: int = 1
    max_size: int = 10
    #: Seconds to wait for a free pooled connection before raising ``StorageTimeout``.
    acquire_timeout: float = 10.0
    #: Seconds to open a new connection.
    connect_timeout: float = 10.0
    #: Seconds one statement may run.
    command_timeout: float = 60.0
    #: asyncpg's prepared-statement cache; 0 behind pgbouncer in transaction mode.
    statement_cache_size: int = 1024
    max_inactive_connection_lifetime: float = 300.0
    #: Run asyncpg's full session reset (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks)
    #: each time a connection goes back to the pool: one more round trip per statement. Off,
    #: an open transaction is still rolled back; tt-storage leaves no other session state, so
    #: turn it on only if your own code SETs session variables on these connections.
    reset_sessions: bool = False

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> PoolOptions:
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown pool option(s): {', '.join(sorted(unknown))}")
        made = cls(**options)
        if made.min_size < 0 or made.max_size < 1 or made.min_size > made.max_size:
            raise ValueError("pool sizes need 0 <= min_size <= max_size and max_size >= 1")
        return made

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
