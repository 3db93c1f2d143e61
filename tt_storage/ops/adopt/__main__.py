"""``python -m tt_storage.ops.adopt [DB_URL]``."""

from . import main

raise SystemExit(main())
