"""Deprecated: moved to ``tt_storage.admin.broadcast``."""

from ._moved import moved

moved(__name__, "tt_storage.admin.broadcast")

from .admin.broadcast import *  # noqa: E402, F403
