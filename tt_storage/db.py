"""Deprecated: moved to ``tt_storage.core.db``."""

from ._moved import moved

moved(__name__, "tt_storage.core.db")

from .core.db import *  # noqa: E402, F403
