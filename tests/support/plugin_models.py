"""An application's own model next to tt-storage's: a note per chat, with a key to ``Users``."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from tt_storage import Users


class Note(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Users] = fields.ForeignKeyField(
        "tt_storage.Users", related_name="notes", on_delete=fields.CASCADE
    )
    text = fields.TextField()

    class Meta:
        table = "app_notes"
