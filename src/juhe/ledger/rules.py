"""The ledger's rules as pure functions over plain records (no database here).

`plan_batch` turns commands into the exact rows and balance changes to write, or into every
problem found. The database layer (`posting.py`) only loads, locks and stores what this decides.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Sequence

from uuid_utils.compat import uuid7

BATCH_MAX = 10_000
ENTRIES_MAX = 64
KEY_LENGTH_MAX = 200
AMOUNT_MAX = 2**63 - 1  # balances and entries are 64-bit columns


@dataclass(frozen=True, slots=True)
class Entry:
    account_id: uuid.UUID
    amount_minor: int  # debit positive, credit negative


@dataclass(frozen=True, slots=True)
class Post:
    """A posting; with `pending=True` a hold (two-phase transfer) that expires at `expires_at`."""

    key: str
    entries: tuple[Entry, ...]
    merchant_id: uuid.UUID | None = None
    description: str = ""
    metadata: Mapping | None = None
    pending: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    key: str
    hold_id: uuid.UUID
    amount_minor: int | None = None  # None captures the whole hold
    description: str = ""


@dataclass(frozen=True, slots=True)
class Void:
    key: str
    hold_id: uuid.UUID
    expired: bool = False  # set by the expiry sweep, recorded as status `expired`


@dataclass(frozen=True, slots=True)
class Reverse:
    key: str
    transaction_id: uuid.UUID
    description: str = ""


Command = Post | Capture | Void | Reverse


def transfer(key: str, debit: uuid.UUID, credit: uuid.UUID, amount_minor: int, **options) -> Post:
    """The common two-entry posting: `amount_minor` from `credit` to `debit`."""
    return Post(key, (Entry(debit, amount_minor), Entry(credit, -amount_minor)), **options)


@dataclass(slots=True)
class AccountState:
    id: uuid.UUID
    currency: str
    normal_side: str
    no_overdraft: bool
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def overdrawn(self) -> bool:
        """TigerBeetle's rule: what is spent or held may not exceed what came in."""
        if not self.no_overdraft:
            return False
        if self.normal_side == "credit":
            return self.debits_posted + self.debits_pending > self.credits_posted
        return self.credits_posted + self.credits_pending > self.debits_posted

    def overflows(self) -> bool:
        return max(self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending) > AMOUNT_MAX

    def add(self, amount_minor: int, *, pending: bool, times: int = 1) -> None:
        """Book an entry's amount on the posted or pending side; `times=-1` takes it off again."""
        if pending:
            if amount_minor > 0:
                self.debits_pending += times * amount_minor
            else:
                self.credits_pending -= times * amount_minor
        elif amount_minor > 0:
            self.debits_posted += times * amount_minor
        else:
            self.credits_posted -= times * amount_minor


@dataclass(frozen=True, slots=True)
class StoredEntry:
    account_id: uuid.UUID
    currency: str
    amount_minor: int


@dataclass(slots=True)
class StoredTxn:
    """A transaction already in the ledger, as the rules need to see it."""

    id: uuid.UUID
    key: str
    content_hash: str
    kind: str
    status: str
    merchant_id: uuid.UUID | None
    expires_at: datetime | None
    entries: list[StoredEntry] = field(default_factory=list)
    reversed: bool = False
    hold_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    description: str = ""
    metadata: Mapping | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    index: int  # position of the command in the batch
    code: str
    message: str


@dataclass(slots=True)
class PlannedTxn:
    id: uuid.UUID
    key: str
    content_hash: str
    kind: str  # posting, hold, capture, void, reversal
    status: str  # posted, pending (holds), voided (void rows)
    merchant_id: uuid.UUID | None
    description: str
    metadata: Mapping | None
    entries: list[StoredEntry]
    hold_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    replayed: bool = False  # the key was posted before with the same content: nothing to write


@dataclass(slots=True)
class Plan:
    transactions: list[PlannedTxn]
    hold_status: dict[uuid.UUID, str]  # holds resolved by this batch → captured | voided | expired
    accounts: dict[uuid.UUID, AccountState]  # the touched accounts' balances after the batch


def content_hash(command: Command) -> str:
    """Fingerprint of what a command asks for, to tell a replay from a reused key."""
    if isinstance(command, Post):
        parts = (
            "post",
            tuple((e.account_id.int, e.amount_minor) for e in command.entries),
            str(command.merchant_id),
            command.pending,
            command.expires_at.isoformat() if command.expires_at else None,
        )
    elif isinstance(command, Capture):
        parts = ("capture", str(command.hold_id), command.amount_minor)
    elif isinstance(command, Void):
        parts = ("void", str(command.hold_id))
    else:
        parts = ("reverse", str(command.transaction_id))
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def referenced_ids(commands: Sequence[Command]) -> set[uuid.UUID]:
    refs: set[uuid.UUID] = set()
    for command in commands:
        if isinstance(command, (Capture, Void)):
            refs.add(command.hold_id)
        elif isinstance(command, Reverse):
            refs.add(command.transaction_id)
    return refs


def touched_accounts(commands: Sequence[Command], referenced: Mapping[uuid.UUID, StoredTxn]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for command in commands:
        if isinstance(command, Post):
            ids.update(e.account_id for e in command.entries)
    for txn in referenced.values():
        ids.update(e.account_id for e in txn.entries)
    return ids


def plan_batch(
    commands: Sequence[Command],
    accounts: Mapping[uuid.UUID, AccountState],
    existing: Mapping[str, StoredTxn],
    referenced: Mapping[uuid.UUID, StoredTxn],
    now: datetime,
) -> tuple[Plan, list[Problem]]:
    """Decide a whole batch. Commands apply in order; any problem rejects the batch."""
    problems: list[Problem] = []
    if len(commands) > BATCH_MAX:
        return Plan([], {}, {}), [Problem(0, "batch_too_large", f"at most {BATCH_MAX} commands per batch")]
    states = {aid: _copy(state) for aid, state in accounts.items()}
    refs = {rid: _copy_txn(txn) for rid, txn in referenced.items()}
    seen: dict[str, PlannedTxn] = {}
    planned: list[PlannedTxn] = []
    hold_status: dict[uuid.UUID, str] = {}
    for index, command in enumerate(commands):
        digest = content_hash(command)
        earlier = seen.get(command.key) or _as_planned(existing.get(command.key))
        if earlier is not None:
            if earlier.content_hash != digest:
                problems.append(Problem(index, "idempotency_key_reused", f"key {command.key!r} was used for other content"))
            else:
                planned.append(_replay_of(earlier))
            continue
        txn, found = _plan_one(index, command, digest, states, refs, now)
        if found:
            problems.extend(found)
            continue
        problems.extend(_apply(index, txn, states, refs, hold_status))
        seen[command.key] = txn
        planned.append(txn)
    touched = {aid: states[aid] for aid in states if states[aid] != accounts[aid]}
    return Plan(planned, hold_status, touched), problems


def _plan_one(index, command, digest, states, refs, now) -> tuple[PlannedTxn | None, list[Problem]]:
    if not command.key or len(command.key) > KEY_LENGTH_MAX:
        return None, [Problem(index, "invalid_idempotency_key", f"key must be 1–{KEY_LENGTH_MAX} characters")]
    if isinstance(command, Post):
        return _plan_post(index, command, digest, states, now)
    target_id = command.transaction_id if isinstance(command, Reverse) else command.hold_id
    target = refs.get(target_id)
    if target is None:
        return None, [Problem(index, "transaction_not_found", f"no ledger transaction {target_id}")]
    if isinstance(command, Reverse):
        return _plan_reverse(index, command, digest, target, now)
    return _plan_resolve(index, command, digest, target, now)


def _plan_post(index, command: Post, digest, states, now):
    problems = check_entries(index, command.entries, states)
    if command.pending:
        if len(command.entries) != 2:
            problems.append(Problem(index, "hold_needs_two_entries", "a hold moves one amount between two accounts"))
        if command.expires_at is None or command.expires_at <= now:
            problems.append(Problem(index, "invalid_expiry", "a hold needs an expiry in the future"))
    if problems:
        return None, problems
    entries = [StoredEntry(e.account_id, states[e.account_id].currency, e.amount_minor) for e in command.entries]
    kind, status = ("hold", "pending") if command.pending else ("posting", "posted")
    return PlannedTxn(
        uuid7(), command.key, digest, kind, status, command.merchant_id, command.description,
        command.metadata, entries, expires_at=command.expires_at if command.pending else None,
    ), []


def check_entries(index: int, entries: Sequence[Entry], states: Mapping[uuid.UUID, AccountState]) -> list[Problem]:
    """Shape and balance: 2–64 non-zero entries on known accounts, summing to zero per currency."""
    if not 2 <= len(entries) <= ENTRIES_MAX:
        return [Problem(index, "invalid_entries", f"a transaction has 2–{ENTRIES_MAX} entries")]
    problems: list[Problem] = []
    totals: dict[str, int] = {}
    sums_known = True  # an entry of unknown account or size leaves the sums meaningless
    for entry in entries:
        state = states.get(entry.account_id)
        sized = type(entry.amount_minor) is int and abs(entry.amount_minor) <= AMOUNT_MAX
        if not sized or entry.amount_minor == 0:
            problems.append(Problem(index, "invalid_amount", "entry amounts are non-zero integers of minor units within 64 bits"))
        if state is None:
            problems.append(Problem(index, "account_not_found", f"no account {entry.account_id}"))
        if state is None or not sized:
            sums_known = False
            continue
        totals[state.currency] = totals.get(state.currency, 0) + entry.amount_minor
    if not sums_known:
        return problems
    for currency, total in totals.items():
        if total != 0:
            problems.append(Problem(index, "unbalanced", f"{currency} entries sum to {total}, not 0"))
    return problems


def _plan_reverse(index, command: Reverse, digest, target: StoredTxn, now):
    if target.kind not in ("posting", "capture"):
        return None, [Problem(index, "not_reversible", f"a {target.kind} cannot be reversed (void a hold instead)")]
    if target.reversed:
        return None, [Problem(index, "already_reversed", f"transaction {target.id} is already reversed")]
    entries = [StoredEntry(e.account_id, e.currency, -e.amount_minor) for e in target.entries]
    return PlannedTxn(
        uuid7(), command.key, digest, "reversal", "posted", target.merchant_id,
        command.description or f"reversal of {target.id}", None, entries, reverses_id=target.id,
    ), []


def _plan_resolve(index, command: Capture | Void, digest, hold: StoredTxn, now):
    if hold.kind != "hold":
        return None, [Problem(index, "not_a_hold", f"transaction {hold.id} is not a hold")]
    if hold.status != "pending":
        return None, [Problem(index, "hold_not_pending", f"hold {hold.id} is already {hold.status}")]
    expired = hold.expires_at is not None and hold.expires_at <= now
    if isinstance(command, Void):
        status = "expired" if command.expired else "voided"
        return PlannedTxn(uuid7(), command.key, digest, "void", status, hold.merchant_id, "", None, [], hold_id=hold.id), []
    if expired:
        return None, [Problem(index, "hold_expired", f"hold {hold.id} expired at {hold.expires_at.isoformat()}")]
    held = max(e.amount_minor for e in hold.entries)
    amount = held if command.amount_minor is None else command.amount_minor
    if type(amount) is not int or amount <= 0:
        return None, [Problem(index, "invalid_amount", "capture amount must be a positive integer")]
    if amount > held:
        return None, [Problem(index, "capture_exceeds_hold", f"capture {amount} exceeds held {held}")]
    entries = [StoredEntry(e.account_id, e.currency, amount if e.amount_minor > 0 else -amount) for e in hold.entries]
    return PlannedTxn(
        uuid7(), command.key, digest, "capture", "posted", hold.merchant_id, command.description, None,
        entries, hold_id=hold.id,
    ), []


def _apply(index, txn: PlannedTxn, states, refs, hold_status) -> list[Problem]:
    """Apply a planned transaction to the in-memory balances; reject it if it overdraws."""
    booked: list[tuple[AccountState, int, bool, int]] = []  # what was added: (account, amount, pending, times)

    def book(account_id: uuid.UUID, amount: int, pending: bool, times: int) -> None:
        state = states[account_id]
        state.add(amount, pending=pending, times=times)
        booked.append((state, amount, pending, times))

    if txn.kind in ("capture", "void"):
        for entry in refs[txn.hold_id].entries:
            book(entry.account_id, entry.amount_minor, True, -1)  # the hold is released
    for entry in txn.entries:
        book(entry.account_id, entry.amount_minor, txn.kind == "hold", 1)
    overdrawn = next((b[0] for b in booked if b[0].overdrawn()), None)
    overflowing = next((b[0] for b in booked if b[0].overflows()), None)
    if overdrawn or overflowing:
        for state, amount, pending, times in reversed(booked):
            state.add(amount, pending=pending, times=-times)
        if overflowing:
            return [Problem(index, "balance_overflow", f"account {overflowing.id} would exceed 64-bit balances")]
        return [Problem(index, "insufficient_funds", f"account {overdrawn.id} would be overdrawn")]
    if txn.hold_id is not None:
        refs[txn.hold_id].status = "captured" if txn.kind == "capture" else txn.status
        hold_status[txn.hold_id] = refs[txn.hold_id].status
    if txn.reverses_id is not None:
        refs[txn.reverses_id].reversed = True
    if txn.kind == "hold":
        refs[txn.id] = StoredTxn(txn.id, txn.key, txn.content_hash, "hold", "pending", txn.merchant_id, txn.expires_at, txn.entries)
    return []


def _as_planned(txn: StoredTxn | None) -> PlannedTxn | None:
    if txn is None:
        return None
    return PlannedTxn(
        txn.id, txn.key, txn.content_hash, txn.kind, txn.status, txn.merchant_id, txn.description, txn.metadata,
        txn.entries, txn.hold_id, txn.reverses_id, txn.expires_at,
    )


def _replay_of(earlier: PlannedTxn) -> PlannedTxn:
    return PlannedTxn(
        earlier.id, earlier.key, earlier.content_hash, earlier.kind, earlier.status, earlier.merchant_id,
        earlier.description, earlier.metadata, earlier.entries, earlier.hold_id, earlier.reverses_id,
        earlier.expires_at, replayed=True,
    )


def _copy(state: AccountState) -> AccountState:
    return AccountState(
        state.id, state.currency, state.normal_side, state.no_overdraft,
        state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending,
    )


def _copy_txn(txn: StoredTxn) -> StoredTxn:
    return StoredTxn(txn.id, txn.key, txn.content_hash, txn.kind, txn.status, txn.merchant_id, txn.expires_at, list(txn.entries), txn.reversed)
