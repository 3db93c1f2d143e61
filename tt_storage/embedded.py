"""Deprecated: moved to ``tt_storage.core.embedded``."""

from ._moved import moved

moved(__name__, "tt_storage.core.embedded")

from .core.embedded import *  # noqa: E402, F403
