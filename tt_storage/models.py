"""Deprecated: moved to ``tt_storage.core.models``."""

from ._moved import moved

moved(__name__, "tt_storage.core.models")

from .core.models import *  # noqa: E402, F403
