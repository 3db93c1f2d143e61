"""Deprecated: moved to ``tt_storage.bot.middleware``."""

from ._moved import moved

moved(__name__, "tt_storage.bot.middleware")

from .bot.middleware import *  # noqa: E402, F403
