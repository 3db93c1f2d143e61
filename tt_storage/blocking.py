"""Deprecated: moved to ``tt_storage.bot.blocking``."""

from ._moved import moved

moved(__name__, "tt_storage.bot.blocking")

from .bot.blocking import *  # noqa: E402, F403
