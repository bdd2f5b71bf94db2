"""A model-based test of the ledger on SQLite: random sequences of transfers, holds, captures,
voids, reversals, replays and expiry sweeps, checked after every step against a plain model
(expected balances in a dict) and against verify_ledger."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule
from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.db.models import Account, LedgerTransaction
from juhe.ledger import Capture, Entry, LedgerError, Post, Reverse, Void, expire_holds, open_account, post_many, transfer, verify_ledger
from juhe.ledger.accounts import KINDS, kind_of

ACCOUNTS = Account.__table__
TXNS = LedgerTransaction.__table__
START = datetime(2030, 1, 1, tzinfo=timezone.utc)
SCRATCH_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None

# name: (code, currency, no_overdraft). Codes decide kind and normal side (accounts.CHART).
CHART = {
    "bank": ("bank:main", "CNY", False),  # debit-normal, may go negative
    "shop_a": ("payable:a", "CNY", True),  # credit-normal, no overdraft
    "shop_b": ("payable:b", "CNY", True),
    "fees": ("revenue:fees", "CNY", False),
    "due": ("clearing:alipay", "CNY", True),  # debit-normal, no overdraft
    "bank_usd": ("bank:main", "USD", False),
    "shop_usd": ("payable:a", "USD", True),
}
# (debit, credit): same-currency pairs, funding and spending in both directions.
PAIRS = [
    ("bank", "shop_a"), ("bank", "shop_b"), ("shop_a", "shop_b"), ("shop_b", "shop_a"),
    ("shop_a", "fees"), ("shop_b", "fees"), ("due", "bank"), ("bank", "due"), ("due", "shop_a"),
    ("bank_usd", "shop_usd"), ("shop_usd", "bank_usd"),
]
pairs = st.sampled_from(PAIRS)
amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")  # ids of holds placed
    posted = Bundle("posted")  # ids of postings, captures and reversals written

    def __init__(self):
        super().__init__()
        # tmpfs where there is one: thousands of fsyncs per run are what make shrinking slow.
        self.dir = tempfile.mkdtemp(prefix="juhe-stateful-", dir=SCRATCH_DIR)
        self.db = Database(f"sqlite:///{self.dir}/ledger.db")
        self.now = START
        self.keys = 0
        self.ids, self.sides, self.no_overdraft = {}, {}, {}
        with self.db.engine.begin() as conn:
            for name, (code, currency, no_overdraft) in CHART.items():
                account_id = open_account(conn, code, currency, no_overdraft=no_overdraft)
                self.ids[name] = account_id
                self.no_overdraft[account_id] = no_overdraft
                self.sides[account_id] = KINDS[kind_of(code)]
        self.model = {account_id: [0, 0, 0, 0] for account_id in self.ids.values()}  # dr, cr, dr pending, cr pending
        self.txns: dict = {}  # id → {"kind", "entries": [(account, amount)], "status", "expires_at", "reversed"}

    def teardown(self):
        self.db.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the model ------------------------------------------------------------------------

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def overdrawn(self, model, account_id) -> bool:
        dr, cr, dr_pending, cr_pending = model[account_id]
        if not self.no_overdraft[account_id]:
            return False
        return dr + dr_pending > cr if self.sides[account_id] == "credit" else cr + cr_pending > dr

    @staticmethod
    def book(model, entries, *, pending=False, sign=1) -> None:
        for account_id, amount in entries:
            column = (0 if amount > 0 else 1) + (2 if pending else 0)
            model[account_id][column] += sign * abs(amount)

    def accepts(self, model, entries, *, pending=False) -> bool:
        """Apply entries to `model` if no account that forbids overdraft ends up overdrawn."""
        trial = copy.deepcopy(model)
        self.book(trial, entries, pending=pending)
        if any(self.overdrawn(trial, a) for a, _ in entries):
            return False
        model.update(trial)
        return True

    def write(self, commands):
        with self.db.engine.begin() as conn:
            return post_many(conn, commands, self.now)

    def refused(self, commands) -> list[str]:
        try:
            self.write(commands)
        except LedgerError as error:
            return [p.code for p in error.problems]
        raise AssertionError(f"batch was accepted but the model expected a rejection: {commands}")

    def remember(self, txn, command, kind, entries, **extra) -> None:
        self.txns[txn.id] = {"command": command, "kind": kind, "entries": entries, "status": txn.status, "reversed": False, **extra}

    def has_transactions(self) -> bool:
        return any(t["kind"] != "void" for t in self.txns.values())

    # --- rules ----------------------------------------------------------------------------

    @initialize(target=posted, funds=st.lists(st.integers(min_value=0, max_value=20_000), min_size=4, max_size=4))
    def fund_accounts(self, funds):
        """Opening balances, some of them zero, for the accounts that forbid overdraft."""
        pairs_ = [("bank", "shop_a"), ("bank", "shop_b"), ("due", "bank"), ("bank_usd", "shop_usd")]
        commands = [transfer(self.key(), self.ids[dr], self.ids[cr], f) for (dr, cr), f in zip(pairs_, funds) if f]
        for txn, command in zip(self.write(commands), commands):
            entries = [(e.account_id, e.amount_minor) for e in command.entries]
            self.book(self.model, entries)
            self.remember(txn, command, "posting", entries)
        return multiple(*(t for t in self.txns))

    @rule(target=posted, moves=st.lists(st.tuples(pairs, amounts), min_size=1, max_size=4), repeat_first=st.booleans())
    def transfer_batch(self, moves, repeat_first):
        commands = [transfer(self.key(), self.ids[dr], self.ids[cr], amount) for (dr, cr), amount in moves]
        if repeat_first:  # a client retry inside the same batch is written once
            commands.append(commands[0])
        trial = copy.deepcopy(self.model)
        ok = all(self.accepts(trial, [(c.entries[0].account_id, c.entries[0].amount_minor),
                                      (c.entries[1].account_id, c.entries[1].amount_minor)]) for c in commands[: len(moves)])
        if not ok:
            codes = self.refused(commands)
            assert set(codes) == {"insufficient_funds"}, codes
            event("transfer batch refused")
            return multiple()
        written = self.write(commands)
        self.model = trial
        for command, txn in zip(commands, written):
            if not txn.replayed:
                self.remember(txn, command, "posting", [(e.account_id, e.amount_minor) for e in command.entries])
        if repeat_first:
            assert written[-1].replayed and written[-1].id == written[0].id
        event("transfer batch written")
        return multiple(*(t.id for t in written[: len(moves)]))

    @rule(target=posted, cny=amounts, usd=amounts)
    def currency_conversion(self, cny, usd):
        """Shop A sells CNY for USD: four entries, balanced per currency."""
        entries = [(self.ids["shop_a"], cny), (self.ids["bank"], -cny), (self.ids["bank_usd"], usd), (self.ids["shop_usd"], -usd)]
        command = Post(self.key(), tuple(Entry(a, m) for a, m in entries))
        if not self.accepts(self.model, entries):
            assert self.refused([command]) == ["insufficient_funds"]
            return multiple()
        [txn] = self.write([command])
        self.remember(txn, command, "posting", entries)
        return txn.id

    @rule(target=holds, pair=pairs, amount=amounts, ttl_minutes=st.integers(min_value=1, max_value=120))
    def place_hold(self, pair, amount, ttl_minutes):
        debit, credit = self.ids[pair[0]], self.ids[pair[1]]
        expires_at = self.now + timedelta(minutes=ttl_minutes)
        command = transfer(self.key(), debit, credit, amount, pending=True, expires_at=expires_at)
        entries = [(debit, amount), (credit, -amount)]
        if not self.accepts(self.model, entries, pending=True):
            assert self.refused([command]) == ["insufficient_funds"]
            event("hold refused")
            return multiple()
        [txn] = self.write([command])
        assert (txn.kind, txn.status) == ("hold", "pending")
        event("hold placed")
        self.remember(txn, command, "hold", entries, expires_at=expires_at)
        return txn.id

    def release(self, hold_id, status) -> None:
        hold = self.txns[hold_id]
        self.book(self.model, hold["entries"], pending=True, sign=-1)
        hold["status"] = status

    @rule(target=posted, hold_id=holds, amount=st.one_of(st.none(), st.integers(min_value=1, max_value=6_000)))
    def capture(self, hold_id, amount):
        hold = self.txns[hold_id]
        held = hold["entries"][0][1]
        command = Capture(self.key(), hold_id, amount)
        expected = (
            "hold_not_pending" if hold["status"] != "pending"
            else "hold_expired" if hold["expires_at"] <= self.now
            else "capture_exceeds_hold" if amount is not None and amount > held
            else None
        )
        event(f"capture: {expected or 'written'}")
        if expected:
            assert self.refused([command]) == [expected]
            return multiple()
        [txn] = self.write([command])
        captured = held if amount is None else amount
        entries = [(hold["entries"][0][0], captured), (hold["entries"][1][0], -captured)]
        self.release(hold_id, "captured")
        self.book(self.model, entries)
        self.remember(txn, command, "capture", entries)
        return txn.id

    @rule(hold_id=holds)
    def void(self, hold_id):
        hold = self.txns[hold_id]
        command = Void(self.key(), hold_id)
        event(f"void: hold {hold['status']}")
        if hold["status"] != "pending":
            assert self.refused([command]) == ["hold_not_pending"]
            return
        [txn] = self.write([command])
        assert (txn.kind, txn.status) == ("void", "voided")
        self.release(hold_id, "voided")
        self.remember(txn, command, "void", [])

    @precondition(has_transactions)
    @rule(target=posted, txn_id=st.one_of(posted, holds))
    def reverse(self, txn_id):
        original = self.txns[txn_id]
        command = Reverse(self.key(), txn_id)
        mirrored = [(a, -m) for a, m in original["entries"]]
        expected = (
            "not_reversible" if original["kind"] not in ("posting", "capture")
            else "already_reversed" if original["reversed"]
            else None if self.accepts(self.model, mirrored)
            else "insufficient_funds"
        )
        event(f"reversal: {expected or 'written'}")
        if expected:
            assert self.refused([command]) == [expected]
            return multiple()
        [txn] = self.write([command])
        assert txn.reverses_id == txn_id
        original["reversed"] = True
        self.remember(txn, command, "reversal", mirrored)
        return txn.id

    @precondition(has_transactions)
    @rule(txn_id=st.one_of(posted, holds))
    def replay(self, txn_id):
        """The same command again, whatever happened since (even a hold that expired): a replay."""
        [txn] = self.write([self.txns[txn_id]["command"]])
        assert (txn.id, txn.replayed) == (txn_id, True)

    @precondition(has_transactions)
    @rule(txn_id=st.one_of(posted, holds), delta=st.integers(min_value=1, max_value=100))
    def reuse_key_for_other_content(self, txn_id, delta):
        command = self.txns[txn_id]["command"]
        other = Post(command.key, (Entry(self.ids["bank"], delta), Entry(self.ids["fees"], -delta)))
        assert self.refused([other]) == ["idempotency_key_reused"]

    @rule(minutes=st.integers(min_value=1, max_value=90))
    def advance_clock(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule(hold_id=holds)
    def advance_clock_to_expiry(self, hold_id):
        """The boundary: at its expiry instant a hold is expired (no capture, swept)."""
        self.now = max(self.now, self.txns[hold_id]["expires_at"])

    @rule()
    def expiry_sweep(self):
        due = [i for i, t in self.txns.items() if t["kind"] == "hold" and t["status"] == "pending" and t["expires_at"] <= self.now]
        with self.db.engine.begin() as conn:
            assert expire_holds(conn, self.now) == len(due)
        for hold_id in due:
            self.release(hold_id, "expired")
            self.txns[f"expire:{hold_id}"] = {"kind": "void", "entries": [], "status": "expired", "reversed": False}
        event(f"sweep expired {min(len(due), 2)}{'+' if len(due) > 2 else ''} holds")

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def stored_ledger_matches_the_model_and_verifies(self):
        with self.db.engine.connect() as conn:
            stored = {
                row[0]: list(row[1:])
                for row in conn.execute(
                    select(ACCOUNTS.c.id, ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted,
                           ACCOUNTS.c.debits_pending, ACCOUNTS.c.credits_pending)
                )
            }
            statuses = dict(conn.execute(select(TXNS.c.id, TXNS.c.status).where(TXNS.c.kind == "hold")).all())
            count = conn.scalar(select(func.count()).select_from(TXNS))
            report = verify_ledger(conn)
        assert stored == self.model
        assert statuses == {i: t["status"] for i, t in self.txns.items() if t["kind"] == "hold"}
        assert count == len(self.txns)
        assert report.ok, report.problems


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    # No `explain` phase: it traces every line of SQLAlchemy and would take minutes on a failure.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerStateful = LedgerMachine.TestCase
