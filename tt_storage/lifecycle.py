"""Deprecated: moved to ``tt_storage.core.lifecycle``."""

from ._moved import moved

moved(__name__, "tt_storage.core.lifecycle")

from .core.lifecycle import *  # noqa: E402, F403
