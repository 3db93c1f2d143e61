"""Deprecated: moved to ``tt_storage.ops.cli`` (``python -m tt_storage.ops.cli``)."""

from ._moved import moved

if __name__ == "__main__":  # python -m tt_storage.cli
    from ._moved import run_moved

    run_moved("tt_storage.cli", "tt_storage.ops.cli")
else:
    moved(__name__, "tt_storage.ops.cli")

    from .ops.cli import *  # noqa: F403
