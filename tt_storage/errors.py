"""Deprecated: moved to ``tt_storage.core.errors``."""

from ._moved import moved

moved(__name__, "tt_storage.core.errors")

from .core.errors import *  # noqa: E402, F403
