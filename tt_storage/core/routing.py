"""Tortoise's side of the read replica: which connection an ORM query on our models uses.

The library's own statements choose in ``db`` (``db.read_connection()``); this router does the
same for code that uses the models through the ORM (``Users.filter(...)``, ``Video.all()``):
reads go to the ``replica`` connection when the config has one, everything else — writes,
``select_for_update()``, and every query inside ``in_transaction()`` — to ``default``.

Tortoise keeps its routers in one process-wide object that every ``Tortoise.init`` resets
(aerich's included), so ``tortoise_config`` always lists this router and it decides per query
from the connections of the calling task's context.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.connection import get_connection, get_connections
from tortoise.exceptions import ConfigurationError

from .app import CONNECTION, REPLICA
from .models import Music, Users, Video

_ROUTED = (Users, Video, Music)


def replica_configured() -> bool:
    """Whether the current Tortoise context has a ``replica`` connection."""
    try:
        return REPLICA in get_connections().db_config
    except (ConfigurationError, RuntimeError):
        return False


class ReplicaRouter:
    """Reads of the three models to ``replica`` when configured; writes to ``default``."""

    def db_for_read(self, model: type[Any]) -> str | None:
        if not issubclass(model, _ROUTED):
            return None  # aerich's own table: its app's default
        # Inside in_transaction() the task sees its transaction client under "default": reads
        # there must see the transaction's own writes.
        if not replica_configured() or isinstance(
            get_connection(CONNECTION), TransactionalDBClient
        ):
            return CONNECTION
        return REPLICA

    def db_for_write(self, model: type[Any]) -> str | None:
        # "default" resolves to the task's transaction client inside in_transaction().
        return CONNECTION if issubclass(model, _ROUTED) else None
