"""The models' columns as PostgreSQL sees them: type, nullability, server default.

The models declare every column fact once; the hand-written SQL (``sql``) and the adoption
checks (``tt_storage.ops.adopt``) read them from here.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from tortoise.fields import Field
from tortoise.fields.relational import ForeignKeyFieldInstance, RelationalField
from tortoise.models import Model

#: Tortoise's PostgreSQL column types, named as ``information_schema.columns.data_type`` names
#: them.
PG_TYPES = {
    "BIGINT": "bigint",
    "INT": "integer",
    "BOOL": "boolean",
    "VARCHAR": "character varying",
    "JSONB": "jsonb",
    "TIMESTAMPTZ": "timestamp with time zone",
    "DOUBLE PRECISION": "double precision",
    "TEXT": "text",
    "BIGINT[]": "ARRAY",
}


#: A length (``VARCHAR(100)``): ``information_schema`` names the type without it.
_LENGTH = re.compile(r"\(\d+\)$")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    #: As ``information_schema.columns.data_type`` names it.
    type: str
    nullable: bool
    #: Filled in by the database (a serial key): no INSERT names it.
    generated: bool
    #: The model's ``db_default`` as an SQL literal; None without one.
    default: str | None

    def omitted_value(self) -> str:
        """What an INSERT writes for this column when it has no value of its own: what the
        server would fill in (its default, else NULL), spelled out because a database adopted
        from the seed has no server defaults."""
        if self.default is not None:
            return self.default
        if self.nullable:
            return "NULL"
        raise ValueError(f"column {self.name} is NOT NULL without a default: give it a value")


def literal(value: Any) -> str:
    """``value`` as an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")


def columns(model: type[Model]) -> dict[str, Column]:
    """``model``'s columns by name, in declaration order, before ``Tortoise.init`` too (which
    adds each foreign key's column as a field of its own, ``<name>_id``, at the end)."""
    meta = model._meta
    keys = {f"{name}_id" for name in (*meta.fk_fields, *meta.o2o_fields)}
    found: dict[str, Column] = {}
    for name, field in meta.fields_map.items():
        if isinstance(field, ForeignKeyFieldInstance):
            # Once Tortoise.init has added ``<name>_id``, that field holds the column's name.
            added = meta.fields_map.get(f"{name}_id")
            column = (field if added is None else added).source_field or f"{name}_id"
            target = _target(field)._meta
            key = target.fields_map[field.to_field or target.pk_attr]
            found[column] = _column(column, field, key)
        elif not isinstance(field, RelationalField) and name not in keys:
            column = field.source_field or name
            found[column] = _column(column, field, field)
    return found


def _target(field: ForeignKeyFieldInstance[Any]) -> type[Model]:
    """The model a foreign key refers to. Before ``Tortoise.init`` resolves it, it is found by
    name beside the referring model (tt-storage's models refer only to each other)."""
    if field.related_model is not None:
        return field.related_model
    target: type[Model] = getattr(
        sys.modules[field.model.__module__], field.model_name.rpartition(".")[2]
    )
    return target


def _column(name: str, field: Field[Any], typed_by: Field[Any]) -> Column:
    return Column(
        name=name,
        type=PG_TYPES[_LENGTH.sub("", typed_by.get_for_dialect("postgres", "SQL_TYPE"))],
        nullable=field.null,
        generated=field.pk and field.generated,
        default=literal(field.db_default) if field.has_db_default() else None,
    )
