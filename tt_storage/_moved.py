"""The old flat module paths (before the core/bot/admin/ops layout), kept for one release."""

from __future__ import annotations

import importlib
import sys
import warnings


def moved(old: str, new: str) -> None:
    """Warn that ``old`` is now ``new``, and make ``old`` that very module.

    Called by the shim module ``old`` while it is imported: the import system then hands out
    what ``sys.modules[old]`` holds, so every name (private ones too) is the new module's own.
    """
    # stacklevel 3: the line that imported the old path (the import system's frames are skipped).
    warnings.warn(
        f"{old} moved to {new}: import it from there ({old} goes away in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)


def run_moved(old: str, new: str) -> None:
    """``python -m old``: warn, then run ``new``'s ``main()`` as ``python -m new`` would."""
    warnings.warn(f"python -m {old} is now python -m {new}", DeprecationWarning, stacklevel=2)
    main = importlib.import_module(new).main
    raise SystemExit(main())
