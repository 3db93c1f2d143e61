"""``aerich --app <yours> migrate`` for an app whose models have keys to another app's models
(tt-storage's ``Users``, ``Videos``…, or a second app of your own on the same connection).

aerich diffs one app's models and looks up every foreign key's target among that app's models
only: a new model with a key to ``tt_storage.Users`` fails its table ordering ("cyclic fk
references"), a new or dropped key column fails the lookup (``KeyError: 'tt_storage.Users'``).
Here the other apps' models become known targets that already exist: they are looked up, never
diffed, so a generated migration still holds the migrated app's changes only.
"""

from __future__ import annotations

from typing import Any


class _WithTargets(dict[str, Any]):
    """One app's model descriptions (what aerich iterates and diffs), which also answer a lookup
    by name for the other apps' models (foreign key targets) without listing them."""

    def __init__(self, own: dict[str, Any], targets: dict[str, Any]) -> None:
        super().__init__(own)
        self._targets = targets

    def __missing__(self, name: str) -> Any:
        return self._targets[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self or name in self._targets else default


def _other_apps(app: str) -> dict[str, Any]:
    """Descriptions (aerich's ``get_models_describe``) of every model outside ``app``."""
    from aerich.utils import get_models_describe
    from tortoise import Tortoise

    described: dict[str, Any] = {}
    for label in Tortoise.apps or {}:
        if label != app:
            described.update(get_models_describe(label))
    return described


def teach_migrate() -> None:
    """Patch aerich's ``Migrate`` (0.9.3 to 0.10.x: the same two methods) so that keys to other
    apps' models are resolved; an app without such keys gets byte-identical migrations."""
    from aerich.migrate import Migrate

    original_diff = Migrate.diff_models.__func__  # type: ignore[attr-defined]
    original_add = Migrate._handle_add_models.__func__  # type: ignore[attr-defined]

    def diff_models(
        cls: type[Any],
        old_models: dict[str, Any] | None,
        new_models: dict[str, Any],
        upgrade: bool = True,
        no_input: bool = False,
    ) -> None:
        targets = _other_apps(cls.app)
        if old_models is not None:  # None: aerich's own "run init-db first" error follows
            old_models = _WithTargets(old_models, targets)
        original_diff(cls, old_models, _WithTargets(new_models, targets), upgrade, no_input)

    def handle_add_models(
        cls: type[Any],
        upgrade: bool,
        new_models: dict[str, Any],
        new_table_items: list[tuple[str, dict[str, Any], Any]],
        other_table_items: list[tuple[str, dict[str, Any], Any]] | None = None,
    ) -> None:
        # New tables are ordered so that each comes after the tables its keys point to, which
        # aerich takes from this list (names only): the other apps' tables exist already.
        existing = [(name, describe, None) for name, describe in _other_apps(cls.app).items()]
        original_add(
            cls, upgrade, new_models, new_table_items, [*(other_table_items or []), *existing]
        )

    Migrate.diff_models = classmethod(diff_models)  # type: ignore[method-assign,assignment]
    Migrate._handle_add_models = classmethod(handle_add_models)  # type: ignore[method-assign,assignment]
