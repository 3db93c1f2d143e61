"""What an operator runs: migrations, adopting a database, the outbox, the Tortoise config for
an application's own ``Tortoise.init``/aerich, and the ``tt-storage`` CLI (``ops.cli``)."""

import importlib
from typing import TYPE_CHECKING, Any

from ..core.config import tortoise_config
from ..core.database import flush_outbox, outbox_stats
from ..core.lifecycle import apply_migrations, pending_migrations
from ..core.outbox import OutboxEvent, OutboxStats
from ..core.pool import PoolOptions

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

if TYPE_CHECKING:
    from .adopt import adopt_database


def __getattr__(name: str) -> Any:
    # On first use: so that ``python -m tt_storage.ops.adopt`` runs that module exactly once.
    if name == "adopt_database":
        return importlib.import_module(".adopt", __name__).adopt_database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
