"""Deprecated: moved to ``tt_storage.core.user_settings``."""

from ._moved import moved

moved(__name__, "tt_storage.core.user_settings")

from .core.user_settings import *  # noqa: E402, F403
