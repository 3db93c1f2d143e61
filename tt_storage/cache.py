"""Deprecated: moved to ``tt_storage.core.cache``."""

from ._moved import moved

moved(__name__, "tt_storage.core.cache")

from .core.cache import *  # noqa: E402, F403
