"""Deprecated: moved to ``tt_storage.core.outbox``."""

from ._moved import moved

moved(__name__, "tt_storage.core.outbox")

from .core.outbox import *  # noqa: E402, F403
