"""Deprecated: moved to ``tt_storage.bot.i18n``."""

from ._moved import moved

moved(__name__, "tt_storage.bot.i18n")

from .bot.i18n import *  # noqa: E402, F403
