"""What an operator runs: migrations, adopting a database, the outbox, the Tortoise config for
an application's own ``Tortoise.init``/aerich, and the ``tt-storage`` CLI (``ops.cli``)."""

from ..core.config import tortoise_config
from ..core.database import flush_outbox, outbox_stats
from ..core.lifecycle import apply_migrations, pending_migrations
from ..core.outbox import OutboxStats
from ..core.pool import PoolOptions
from ..core.replay import OutboxEvent
from .adopt import adopt_database

__all__ = [
    "OutboxEvent",
    "OutboxStats",
    "PoolOptions",
    "adopt_database",
    "apply_migrations",
    "flush_outbox",
    "outbox_stats",
    "pending_migrations",
    "tortoise_config",
]
