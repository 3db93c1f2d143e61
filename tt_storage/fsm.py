"""Deprecated: moved to ``tt_storage.bot.fsm``."""

from ._moved import moved

moved(__name__, "tt_storage.bot.fsm")

from .bot.fsm import *  # noqa: E402, F403
