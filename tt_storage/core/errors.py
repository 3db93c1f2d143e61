"""The exceptions tt-storage raises."""

from __future__ import annotations


class StorageError(Exception):
    """Base class: the storage could not do what was asked."""


class StorageNotInitialized(StorageError):
    """No database: ``init_storage`` was not called (or ``close_storage`` was)."""


class StorageUnavailable(StorageError):
    """The database could not be reached, or did not answer in time."""


class StorageTimeout(StorageUnavailable):
    """A connection could not be acquired, or a statement did not finish, in time."""
