"""Deprecated: moved to ``tt_storage.bot.isolation``."""

from ._moved import moved

moved(__name__, "tt_storage.bot.isolation")

from .bot.isolation import *  # noqa: E402, F403
