"""Deprecated: moved to ``tt_storage.core.settings``."""

from ._moved import moved

moved(__name__, "tt_storage.core.settings")

from .core.settings import *  # noqa: E402, F403
