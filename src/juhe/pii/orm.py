"""Personal data in ORM models: the attribute holds plaintext in Python, the column holds only a
sealed blob bound to its table, column and row (the primary key, assigned before the insert).

    class TransferItem(Base):
        creditor_name: Mapped[str] = mapped_column(SealedColumn())
    protect(TransferItem, "creditor_name", "creditor_account", index={"creditor_account": ("creditor_account_index", "account")})

Sealing happens in the mapper's before_insert/before_update, opening on load and refresh; Core
statements see the blob (juhe.pii.values.open_text opens one). Table-wide UPDATEs with values
for these columns bypass the hooks: write them through the ORM."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import LargeBinary, event, inspect
from sqlalchemy.orm import attributes, mapped_column
from sqlalchemy.types import TypeDecorator

from juhe.db.models import new_id
from juhe.pii import values
from juhe.pii.envelope import Sealed

_STASH = "pii_plain"


class SealedColumn(TypeDecorator):
    """Refuses anything but a Sealed blob, so a path that forgot to seal fails instead of storing plaintext."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and not isinstance(value, Sealed):
            raise TypeError("plaintext personal data bound to a sealed column: write it through the ORM model")
        return None if value is None else bytes(value)

    def process_result_value(self, value, dialect):
        return None if value is None else Sealed(value)


@dataclass(frozen=True)
class Protected:
    table: str
    columns: tuple[str, ...]
    index: dict[str, tuple[str, str]]  # sealed column → (index column, normalisation kind)
    pk: tuple[str, ...]


REGISTRY: dict[type, Protected] = {}


def protect(model: type, *columns: str, index: dict[str, tuple[str, str]] | None = None) -> None:
    pk = tuple(c.key for c in inspect(model).primary_key)
    spec = Protected(model.__tablename__, columns, index or {}, pk)
    REGISTRY[model] = spec
    event.listen(model, "before_insert", lambda m, c, target: _seal(spec, target, insert=True))
    event.listen(model, "before_update", lambda m, c, target: _seal(spec, target, insert=False))
    event.listen(model, "after_insert", lambda m, c, target: _restore(target))
    event.listen(model, "after_update", lambda m, c, target: _restore(target))
    event.listen(model, "load", lambda target, ctx: _open(spec, target, spec.columns))
    event.listen(model, "refresh", lambda target, ctx, attrs: _open(spec, target, attrs or spec.columns))


def row_key(spec: Protected, target) -> str:
    return "/".join(str(getattr(target, k)) for k in spec.pk)


def _seal(spec: Protected, target, insert: bool) -> None:
    if insert and len(spec.pk) == 1 and getattr(target, spec.pk[0]) is None:
        setattr(target, spec.pk[0], new_id())  # the row's id is part of what each value is bound to
    row = row_key(spec, target)
    stash = inspect(target).info.setdefault(_STASH, {})
    for column in spec.columns:
        plain = target.__dict__.get(column)
        if plain is None or isinstance(plain, Sealed):
            continue
        if not insert and not attributes.get_history(target, column).has_changes():
            continue
        stash[column] = plain
        setattr(target, column, values.seal(plain, spec.table, column, row))
        if column in spec.index:
            index_column, kind = spec.index[column]
            setattr(target, index_column, values.blind_index(plain, f"{spec.table}.{column}", kind))


def _restore(target) -> None:
    """After the statement: the object holds plaintext again, as if it had been read."""
    for column, plain in inspect(target).info.pop(_STASH, {}).items():
        attributes.set_committed_value(target, column, plain)


def _open(spec: Protected, target, names) -> None:
    row = row_key(spec, target)
    for column in spec.columns:
        if column not in names:
            continue
        blob = target.__dict__.get(column)
        if isinstance(blob, Sealed):
            plain = values.open_bytes(blob, spec.table, column, row)
            attributes.set_committed_value(target, column, plain if _is_bytes(target, column) else plain.decode())


def _is_bytes(target, column: str) -> bool:
    return inspect(target).mapper.columns[column].info.get("pii") == "bytes"


def sealed_bytes_column():
    """A sealed column whose plaintext is bytes (a pain.001 document), not text."""
    return mapped_column(SealedColumn(), info={"pii": "bytes"})


def blind_index_value(model: type, column: str, value: str) -> str:
    """What to compare a protected column's index with, to find rows holding `value`."""
    spec = REGISTRY[model]
    _, kind = spec.index[column]
    return values.blind_index(value, f"{spec.table}.{column}", kind)
