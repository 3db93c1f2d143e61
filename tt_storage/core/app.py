"""tt-storage as a Tortoise and aerich app: its label, its models module, the names of its
connections, and where its migration files are."""

from __future__ import annotations

from pathlib import Path

#: The Tortoise app (and aerich app) holding the three models. Not Tortoise's default
#: ``"models"``, which is the label an application's own models usually get.
APP = "tt_storage"
#: The module of the three models, as the Tortoise config lists it.
MODELS = "tt_storage.core.models"
#: The label earlier versions used: their aerich rows are relabelled on the next migration run.
LEGACY_APP = "models"
CONNECTION = "default"
#: The optional streaming replica's connection (``replica_url``): admin reads only.
REPLICA = "replica"


def migrations_location() -> Path:
    """aerich's migrations: inside the installed wheel, else the checkout's ``migrations/``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_migrations"
    return packaged if packaged.is_dir() else package.parent / "migrations"


def packaged_migrations() -> list[str]:
    """tt-storage's migration files (aerich's ``version`` names), in order."""
    found = [
        p.name
        for p in (migrations_location() / APP).glob("*_*.py")
        if p.name.split("_", 1)[0].isdigit()
    ]
    return sorted(found, key=lambda name: int(name.split("_", 1)[0]))
