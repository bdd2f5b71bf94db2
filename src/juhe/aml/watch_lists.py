"""Watch lists in the running product: the files settings name, lists uploaded through the API
(stored as uploaded, so every process parses the same text), and one cached WatchList per scope
per process, rebuilt when that scope's version counter moves.

Two scopes: the platform's (configured files + lists the operator uploaded) screens every
merchant; a merchant's own uploads screen only its payments. A screening reads both versions
(one small query), so a list uploaded through one process is used by all of them from the
next screening on."""

from __future__ import annotations

import re
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.aml.errors import AmlError
from juhe.aml.lists import WatchEntry, load_list
from juhe.aml.models import PLATFORM_SCOPE, AmlListVersion, AmlWatchList
from juhe.aml.screening import WatchList
from juhe.db.types import utcnow

UPLOAD_BYTES_MAX = 20 * 1024 * 1024  # the full OFAC SDN list is ~5 MB
LIST_NAME = re.compile(r"[\w .()&'-]{1,120}")
MERCHANT_SCOPES_CACHED_MAX = 1_000  # merchants' own lists are small; beyond this the oldest are dropped


@dataclass(frozen=True, slots=True)
class StoredList:
    id: uuid.UUID
    scope: str
    name: str
    entry_count: int
    uploaded_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ScreeningLists:
    """What one screening runs against: the scopes' WatchLists and the versions they were built from."""

    watch_lists: tuple[WatchList, ...]
    version: str

    @property
    def entry_count(self) -> int:
        return sum(len(watch_list) for watch_list in self.watch_lists)


def scope_of(merchant_id: uuid.UUID | None) -> str:
    return PLATFORM_SCOPE if merchant_id is None else str(merchant_id)


def parse_list_text(text: str, name: str) -> list[WatchEntry]:
    """Entries of an uploaded list in any format juhe.aml.lists reads; errors name the list and line."""
    check_list_name(name)
    if len(text.encode()) > UPLOAD_BYTES_MAX:
        raise AmlError("malformed_list", f"a list upload is at most {UPLOAD_BYTES_MAX} bytes", path=name)
    with tempfile.TemporaryDirectory(prefix="juhe-aml-") as folder:
        path = Path(folder) / "list.csv"  # alone in its folder: an OFAC upload has no alt.csv beside it
        path.write_text(text, encoding="utf-8")
        try:
            entries = load_list(path, list_name=name)
        except AmlError as error:
            raise AmlError(error.code, error.reason, line=error.line, path=name) from None
    if not entries:
        raise AmlError("malformed_list", "the list has no entries", path=name)
    return entries


def check_list_name(name: str) -> None:
    if not isinstance(name, str) or not LIST_NAME.fullmatch(name) or not name.strip():
        raise AmlError("invalid_list_name", "a list name is 1-120 letters, digits, spaces and . ( ) & ' -")


def upload_list(session: Session, merchant_id: uuid.UUID | None, name: str, text: str, actor: str) -> StoredList:
    """Store (or replace, by name) a list of the scope and bump the scope's version; nothing changes if it does not parse."""
    entries = parse_list_text(text, name)
    scope = scope_of(merchant_id)
    # First, so that the version row's lock orders two uploads to one scope (PostgreSQL).
    _bump_version(session, scope, merchant_id)
    session.execute(delete(AmlWatchList).where(AmlWatchList.scope == scope, AmlWatchList.name == name))
    row = AmlWatchList(scope=scope, merchant_id=merchant_id, name=name, entry_count=len(entries), content=text,
                       uploaded_by=actor, created_at=utcnow())
    session.add(row)
    session.flush()
    return _stored(row)


def _bump_version(session: Session, scope: str, merchant_id: uuid.UUID | None) -> None:
    bump = update(AmlListVersion).where(AmlListVersion.scope == scope).values(version=AmlListVersion.version + 1,
                                                                              updated_at=utcnow())
    if session.execute(bump).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(AmlListVersion(scope=scope, merchant_id=merchant_id, version=1, updated_at=utcnow()))
    except IntegrityError:  # a concurrent first upload created the row: bump it instead
        session.execute(bump)


def stored_lists(session: Session, merchant_id: uuid.UUID | None) -> list[StoredList]:
    """The platform's uploaded lists, and the merchant's own when a merchant asks."""
    scopes = {PLATFORM_SCOPE, scope_of(merchant_id)}
    rows = session.scalars(select(AmlWatchList).where(AmlWatchList.scope.in_(scopes))
                           .order_by(AmlWatchList.scope, AmlWatchList.name))
    return [_stored(row) for row in rows]


def _stored(row: AmlWatchList) -> StoredList:
    return StoredList(row.id, row.scope, row.name, row.entry_count, row.uploaded_by, row.created_at)


class WatchListCache:
    """Per process: the platform's WatchList (files + platform uploads) and merchants' own, each
    with the version it was built from. Safe to share between threads."""

    def __init__(self, files: Sequence[Path]):
        self.files = tuple(Path(path) for path in files)
        self._built: OrderedDict[str, tuple[int, WatchList]] = OrderedDict()
        self._lock = threading.Lock()

    def lists_for(self, session: Session, merchant_id: uuid.UUID) -> ScreeningLists:
        scopes = (PLATFORM_SCOPE, scope_of(merchant_id))
        versions = dict(session.execute(select(AmlListVersion.scope, AmlListVersion.version)
                                        .where(AmlListVersion.scope.in_(scopes))).all())
        platform = self._current(session, PLATFORM_SCOPE, versions.get(PLATFORM_SCOPE, 0))
        own_version = versions.get(scopes[1], 0)
        # A merchant without uploads has no version row: nothing to build or cache for it.
        own = self._current(session, scopes[1], own_version) if own_version else None
        return ScreeningLists(tuple(w for w in (platform, own) if w is not None and len(w)),
                              f"{PLATFORM_SCOPE}:{versions.get(PLATFORM_SCOPE, 0)};merchant:{own_version}")

    def _current(self, session: Session, scope: str, version: int) -> WatchList:
        with self._lock:
            cached = self._built.get(scope)
            if cached is not None and cached[0] == version:
                self._built.move_to_end(scope)
                return cached[1]
            built = WatchList(self._entries(session, scope))
            self._built[scope] = (version, built)
            if len(self._built) > MERCHANT_SCOPES_CACHED_MAX + 1:
                oldest = next(key for key in self._built if key != PLATFORM_SCOPE)
                del self._built[oldest]
            return built

    def _entries(self, session: Session, scope: str) -> list[WatchEntry]:
        entries = [entry for path in self.files for entry in load_list(path)] if scope == PLATFORM_SCOPE else []
        for name, content in session.execute(select(AmlWatchList.name, AmlWatchList.content)
                                             .where(AmlWatchList.scope == scope).order_by(AmlWatchList.name)):
            entries.extend(parse_list_text(content, name))
        return entries


_process_cache: WatchListCache | None = None
_process_lock = threading.Lock()


def configure_watch_lists(files: Sequence[Path]) -> WatchListCache:
    """Replace this process's cache (tests; a process that reads other files than settings name)."""
    global _process_cache
    with _process_lock:
        _process_cache = WatchListCache(files)
        return _process_cache


def watch_lists() -> WatchListCache:
    """This process's cache, built on first use from the files `JUHE_AML_WATCH_LISTS` names."""
    global _process_cache
    with _process_lock:
        if _process_cache is None:
            from juhe.config import get_settings

            _process_cache = WatchListCache(get_settings().aml_watch_lists)
        return _process_cache
