"""Deprecated: moved to ``tt_storage.core.config``."""

from ._moved import moved

moved(__name__, "tt_storage.core.config")

from .core.config import *  # noqa: E402, F403
