"""Keyset pagination, newest first: `?limit=N&cursor=<last id>` → `{"data", "next_cursor"}`.

Ids are time-ordered (UUIDv7), so "older than the cursor" is `id < cursor`, which an index
answers without counting or skipping rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Sequence

PAGE_MAX = 200


@dataclass(frozen=True, slots=True)
class Page:
    data: list[dict]
    next_cursor: str | None

    def as_json(self) -> dict:
        return {"data": self.data, "next_cursor": self.next_cursor}


def keyset(query, id_column, *, limit: int, cursor: uuid.UUID | None):
    """The query narrowed to one page, plus one row to tell whether another page follows."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    return query.order_by(id_column.desc()).limit(min(limit, PAGE_MAX) + 1)


def split(rows: Sequence, limit: int) -> tuple[list, str | None]:
    """The rows of the page and the cursor of the next page (None on the last one)."""
    limit = min(limit, PAGE_MAX)
    page = list(rows[:limit])
    return page, (str(page[-1].id) if len(rows) > limit else None)
