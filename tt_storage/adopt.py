"""Deprecated: moved to ``tt_storage.ops.adopt`` (``python -m tt_storage.ops.adopt``)."""

from ._moved import moved

if __name__ == "__main__":  # python -m tt_storage.adopt
    from ._moved import run_moved

    run_moved("tt_storage.adopt", "tt_storage.ops.adopt")
else:
    moved(__name__, "tt_storage.ops.adopt")

    from .ops.adopt import *  # noqa: F403
