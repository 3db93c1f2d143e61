"""``python -m tt_storage.ops.cli``: the ``tt-storage`` command."""

from . import main

raise SystemExit(main())
