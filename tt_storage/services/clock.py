"""The one clock the services write: epoch seconds, as every tt-bot timestamp column holds."""

from __future__ import annotations

import time


def now() -> int:
    """Epoch seconds (UTC)."""
    return int(time.time())
