"""Deprecated: moved to ``tt_storage.services.storage`` (init/close) and
``tt_storage.core.lifecycle`` (migrations)."""

from ._moved import moved

moved(__name__, "tt_storage.services.storage")

from .services.storage import *  # noqa: E402, F403
