"""The ledger's rules as worked examples: plan_batch, check_entries and AccountState, no database.

`Book` below is the smallest in-memory stand-in for posting.py: it hands plan_batch what the
database layer would load, and on success keeps what the plan says to store.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from juhe.ledger.rules import (
    AMOUNT_MAX,
    BATCH_MAX,
    ENTRIES_MAX,
    AccountState,
    Capture,
    Entry,
    Post,
    Reverse,
    StoredTxn,
    Void,
    check_entries,
    plan_batch,
    referenced_ids,
    transfer,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=1)


def account(currency: str = "CNY", normal_side: str = "credit", no_overdraft: bool = True, **balances) -> AccountState:
    return AccountState(uuid.uuid4(), currency, normal_side, no_overdraft, **balances)


def payable(currency: str = "CNY", received: int = 0) -> AccountState:
    """A merchant's balance: credit-normal, may not go below zero; `received` already credited."""
    return account(currency, "credit", True, credits_posted=received)


def bank(currency: str = "CNY") -> AccountState:
    """The platform's bank account: debit-normal, may go negative in these examples."""
    return account(currency, "debit", False)


class Book:
    """Accounts and stored transactions in memory, as posting.py would load and store them."""

    def __init__(self, *accounts: AccountState):
        self.accounts = {a.id: a for a in accounts}
        self.txns: dict[uuid.UUID, StoredTxn] = {}

    def plan(self, *commands, now=NOW):
        by_key = {t.key: t for t in self.txns.values()}
        existing = {c.key: by_key[c.key] for c in commands if c.key in by_key}
        referenced = {i: self.txns[i] for i in referenced_ids(commands) if i in self.txns}
        return plan_batch(commands, self.accounts, existing, referenced, now)

    def post(self, *commands, now=NOW):
        plan, problems = self.plan(*commands, now=now)
        assert problems == [], problems
        self.accounts.update(copy.deepcopy(plan.accounts))
        for t in plan.transactions:
            if t.replayed:
                continue
            self.txns[t.id] = StoredTxn(t.id, t.key, t.content_hash, t.kind, t.status, t.merchant_id, t.expires_at, list(t.entries))
            if t.reverses_id is not None:
                self.txns[t.reverses_id].reversed = True
        for hold_id, status in plan.hold_status.items():
            self.txns[hold_id].status = status
        return plan.transactions

    def problems(self, *commands, now=NOW) -> list[tuple[int, str]]:
        plan, problems = self.plan(*commands, now=now)
        return [(p.index, p.code) for p in problems]

    def balances(self, acct: AccountState) -> tuple[int, int, int, int]:
        s = self.accounts[acct.id]
        return s.debits_posted, s.credits_posted, s.debits_pending, s.credits_pending


def hold(key: str, debit: AccountState, credit: AccountState, amount: int, expires_at=LATER) -> Post:
    return transfer(key, debit.id, credit.id, amount, pending=True, expires_at=expires_at)


def move(key: str, debit: AccountState, credit: AccountState, amount: int) -> Post:
    return transfer(key, debit.id, credit.id, amount)


# --- shape and balance ----------------------------------------------------------------------


def test_balanced_transfer_is_planned_with_entries_and_new_balances():
    shop, till = payable(received=500), bank()
    book = Book(shop, till)
    [txn] = book.post(move("t1", shop, till, 200))
    assert (txn.kind, txn.status, txn.replayed) == ("posting", "posted", False)
    assert [(e.account_id, e.currency, e.amount_minor) for e in txn.entries] == [
        (shop.id, "CNY", 200),
        (till.id, "CNY", -200),
    ]
    assert book.balances(shop) == (200, 500, 0, 0)
    assert book.balances(till) == (0, 200, 0, 0)


def test_unbalanced_entries_are_rejected():
    a, b = bank(), bank()
    book = Book(a, b)
    assert book.problems(Post("t1", (Entry(a.id, 100), Entry(b.id, -99)))) == [(0, "unbalanced")]


def test_each_currency_must_balance_on_its_own():
    cny, usd = bank("CNY"), bank("USD")
    book = Book(cny, usd)
    # The amounts sum to zero overall, but 100 fen are not -100 cents.
    assert book.problems(Post("t1", (Entry(cny.id, 100), Entry(usd.id, -100)))) == [(0, "unbalanced"), (0, "unbalanced")]


def test_entries_balanced_per_currency_may_mix_currencies():
    cny_in, cny_out, usd_in, usd_out = bank("CNY"), bank("CNY"), bank("USD"), bank("USD")
    book = Book(cny_in, cny_out, usd_in, usd_out)
    conversion = Post("fx1", (Entry(cny_in.id, 720), Entry(cny_out.id, -720), Entry(usd_in.id, 100), Entry(usd_out.id, -100)))
    [txn] = book.post(conversion)
    assert sorted((e.currency, e.amount_minor) for e in txn.entries) == [("CNY", -720), ("CNY", 720), ("USD", -100), ("USD", 100)]


@pytest.mark.parametrize("amount", [0, 1.0, 100.0, True, None, AMOUNT_MAX + 1, -AMOUNT_MAX - 1])
def test_entry_amount_must_be_a_non_zero_int(amount):
    a, b = bank(), bank()
    problems = check_entries(0, (Entry(a.id, amount), Entry(b.id, 100)), {a.id: a, b.id: b})
    assert "invalid_amount" in [p.code for p in problems]


def test_entry_on_an_unknown_account_is_rejected():
    a = bank()
    problems = check_entries(3, (Entry(a.id, 100), Entry(uuid.uuid4(), -100)), {a.id: a})
    assert (3, "account_not_found") in [(p.index, p.code) for p in problems]


@pytest.mark.parametrize("count", [0, 1, ENTRIES_MAX + 1])
def test_a_transaction_has_two_to_64_entries(count):
    a = bank()
    entries = tuple(Entry(a.id, 1 if i % 2 else -1) for i in range(count))
    assert [p.code for p in check_entries(0, entries, {a.id: a})] == ["invalid_entries"]


def test_64_entries_are_allowed():
    accounts = [bank() for _ in range(ENTRIES_MAX)]
    entries = tuple(Entry(a.id, 1 if i % 2 else -1) for i, a in enumerate(accounts))
    assert check_entries(0, entries, {a.id: a for a in accounts}) == []


# --- overdraft ------------------------------------------------------------------------------


def test_credit_normal_account_cannot_pay_out_more_than_it_received():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    assert book.problems(move("t1", shop, till, 101)) == [(0, "insufficient_funds")]
    book.post(move("t2", shop, till, 100))  # to the last fen is fine
    assert book.balances(shop) == (100, 100, 0, 0)


def test_debit_normal_account_cannot_be_credited_beyond_its_debits():
    due = account("CNY", "debit", True, debits_posted=50)  # e.g. clearing owed to us by a channel
    other = bank()
    book = Book(due, other)
    assert book.problems(move("t1", other, due, 51)) == [(0, "insufficient_funds")]
    book.post(move("t2", other, due, 50))


def test_entry_of_exactly_64_bits_is_allowed():
    a, b = bank(), bank()
    assert check_entries(0, (Entry(a.id, AMOUNT_MAX), Entry(b.id, -AMOUNT_MAX)), {a.id: a, b.id: b}) == []


@pytest.mark.parametrize("column", ["debits_posted", "credits_posted"])
def test_balance_that_would_exceed_64_bits_is_rejected(column):
    full = account("CNY", "debit", False, **{column: AMOUNT_MAX})
    other = bank()
    book = Book(full, other)
    pushes = move("t1", full, other, 1) if column == "debits_posted" else move("t1", other, full, 1)
    assert book.problems(pushes) == [(0, "balance_overflow")]


def test_pending_balance_that_would_exceed_64_bits_is_rejected():
    full = account("CNY", "debit", False, debits_pending=AMOUNT_MAX)
    other = bank()
    assert Book(full, other).problems(hold("h1", full, other, 1)) == [(0, "balance_overflow")]


def test_account_that_allows_overdraft_may_go_negative():
    a, b = bank(), bank()
    book = Book(a, b)
    book.post(move("t1", a, b, 10**15))
    assert book.balances(b) == (0, 10**15, 0, 0)


@pytest.mark.parametrize(
    ("balances", "overdrawn"),
    [
        (dict(credits_posted=100, debits_posted=100), False),
        (dict(credits_posted=100, debits_posted=101), True),
        (dict(credits_posted=100, debits_posted=60, debits_pending=40), False),
        (dict(credits_posted=100, debits_posted=60, debits_pending=41), True),  # holds count against it
        (dict(credits_posted=0, credits_pending=1000, debits_posted=1), True),  # incoming holds do not help
    ],
)
def test_credit_normal_overdraft_counts_outgoing_holds_but_not_incoming(balances, overdrawn):
    assert account("CNY", "credit", True, **balances).overdrawn() is overdrawn


@pytest.mark.parametrize(
    ("balances", "overdrawn"),
    [
        (dict(debits_posted=100, credits_posted=100), False),
        (dict(debits_posted=100, credits_posted=101), True),
        (dict(debits_posted=100, credits_posted=60, credits_pending=41), True),
        (dict(debits_posted=0, debits_pending=1000, credits_posted=1), True),
    ],
)
def test_debit_normal_overdraft_counts_outgoing_holds_but_not_incoming(balances, overdrawn):
    assert account("CNY", "debit", True, **balances).overdrawn() is overdrawn


def test_account_without_the_flag_is_never_overdrawn():
    assert not account("CNY", "credit", False, debits_posted=10**9).overdrawn()
    assert not account("CNY", "debit", False, credits_posted=10**9).overdrawn()


# --- holds (two-phase) ----------------------------------------------------------------------


def test_hold_moves_funds_to_pending_balances():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    [txn] = book.post(hold("h1", shop, till, 70))
    assert (txn.kind, txn.status, txn.expires_at) == ("hold", "pending", LATER)
    assert book.balances(shop) == (0, 100, 70, 0)
    assert book.balances(till) == (0, 0, 0, 70)


def test_held_funds_cannot_be_spent_again():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    book.post(hold("h1", shop, till, 70))
    assert book.problems(move("t1", shop, till, 31)) == [(0, "insufficient_funds")]
    assert book.problems(hold("h2", shop, till, 31)) == [(0, "insufficient_funds")]
    book.post(move("t2", shop, till, 30))


def test_hold_needs_exactly_two_entries():
    a, b, c = bank(), bank(), bank()
    book = Book(a, b, c)
    three = Post("h1", (Entry(a.id, 2), Entry(b.id, -1), Entry(c.id, -1)), pending=True, expires_at=LATER)
    assert book.problems(three) == [(0, "hold_needs_two_entries")]


@pytest.mark.parametrize("expires_at", [None, NOW, NOW - timedelta(seconds=1)])
def test_hold_needs_an_expiry_in_the_future(expires_at):
    shop, till = payable(received=100), bank()
    assert Book(shop, till).problems(hold("h1", shop, till, 10, expires_at)) == [(0, "invalid_expiry")]


def funded_hold(amount: int = 70, received: int = 100):
    shop, till = payable(received=received), bank()
    book = Book(shop, till)
    [txn] = book.post(hold("h1", shop, till, amount))
    return book, shop, till, txn.id


def test_partial_capture_posts_the_amount_and_releases_the_rest_of_the_hold():
    book, shop, till, hold_id = funded_hold(70)
    [capture] = book.post(Capture("c1", hold_id, 50))
    assert (capture.kind, capture.hold_id) == ("capture", hold_id)
    assert sorted(e.amount_minor for e in capture.entries) == [-50, 50]
    assert book.balances(shop) == (50, 100, 0, 0)  # 20 not captured is available again
    assert book.balances(till) == (0, 50, 0, 0)
    assert book.txns[hold_id].status == "captured"


def test_capture_without_amount_takes_the_whole_hold():
    book, shop, till, hold_id = funded_hold(70)
    book.post(Capture("c1", hold_id))
    assert book.balances(shop) == (70, 100, 0, 0)


def test_capture_of_exactly_the_held_amount_is_allowed():
    book, shop, _, hold_id = funded_hold(70)
    book.post(Capture("c1", hold_id, 70))
    assert book.balances(shop) == (70, 100, 0, 0)


def test_capture_above_hold_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Capture("c1", hold_id, 71)) == [(0, "capture_exceeds_hold")]


@pytest.mark.parametrize("amount", [0, -5, 5.0])
def test_capture_amount_must_be_a_positive_int(amount):
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Capture("c1", hold_id, amount)) == [(0, "invalid_amount")]


@pytest.mark.parametrize("when", [LATER, LATER + timedelta(days=1)])
def test_capture_at_or_after_expiry_is_rejected(when):
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Capture("c1", hold_id), now=when) == [(0, "hold_expired")]


def test_capture_just_before_expiry_is_allowed():
    book, _, _, hold_id = funded_hold(70)
    book.post(Capture("c1", hold_id), now=LATER - timedelta(microseconds=1))


def test_void_releases_the_hold_and_posts_nothing():
    book, shop, till, hold_id = funded_hold(70)
    [void] = book.post(Void("v1", hold_id))
    assert (void.kind, void.status, void.entries) == ("void", "voided", [])
    assert book.balances(shop) == (0, 100, 0, 0)
    assert book.balances(till) == (0, 0, 0, 0)
    assert book.txns[hold_id].status == "voided"


def test_expiry_sweep_void_is_recorded_as_expired_even_after_expiry():
    book, shop, _, hold_id = funded_hold(70)
    book.post(Void("expire:1", hold_id, expired=True), now=LATER + timedelta(days=1))
    assert book.txns[hold_id].status == "expired"
    assert book.balances(shop) == (0, 100, 0, 0)


def test_second_capture_of_a_hold_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    book.post(Capture("c1", hold_id, 10))
    assert book.problems(Capture("c2", hold_id, 10)) == [(0, "hold_not_pending")]
    assert book.problems(Void("v1", hold_id)) == [(0, "hold_not_pending")]


def test_second_capture_in_the_same_batch_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Capture("c1", hold_id, 10), Capture("c2", hold_id, 10)) == [(1, "hold_not_pending")]
    assert book.problems(Void("v1", hold_id), Capture("c1", hold_id)) == [(1, "hold_not_pending")]


def test_capture_of_a_voided_hold_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    book.post(Void("v1", hold_id))
    assert book.problems(Capture("c1", hold_id)) == [(0, "hold_not_pending")]


def test_capture_of_a_posting_is_rejected():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    [txn] = book.post(move("t1", shop, till, 10))
    assert book.problems(Capture("c1", txn.id)) == [(0, "not_a_hold")]
    assert book.problems(Void("v1", txn.id)) == [(0, "not_a_hold")]


def test_capture_of_an_unknown_transaction_is_rejected():
    book, _, _, _ = funded_hold(70)
    assert book.problems(Capture("c1", uuid.uuid4())) == [(0, "transaction_not_found")]


# --- reversals ------------------------------------------------------------------------------


def test_reversal_mirrors_the_original_entries():
    cny_in, cny_out, usd_in, usd_out = bank("CNY"), bank("CNY"), bank("USD"), bank("USD")
    book = Book(cny_in, cny_out, usd_in, usd_out)
    accounts = (cny_in, cny_out, usd_in, usd_out)
    before = [book.balances(a) for a in accounts]
    [original] = book.post(
        Post("fx1", (Entry(cny_in.id, 720), Entry(cny_out.id, -720), Entry(usd_in.id, 100), Entry(usd_out.id, -100)))
    )
    [reversal] = book.post(Reverse("r1", original.id))
    assert (reversal.kind, reversal.reverses_id) == ("reversal", original.id)
    assert [(e.account_id, e.currency, -e.amount_minor) for e in reversal.entries] == [
        (e.account_id, e.currency, e.amount_minor) for e in original.entries
    ]
    # Net effect nets to zero per account; the gross columns keep both movements.
    for a, (dr, cr, _, _) in zip(accounts, before):
        dr2, cr2, _, _ = book.balances(a)
        assert dr2 - cr2 == dr - cr


def test_reversal_of_a_capture_is_allowed():
    book, shop, _, hold_id = funded_hold(70)
    [capture] = book.post(Capture("c1", hold_id, 50))
    book.post(Reverse("r1", capture.id))
    assert book.balances(shop) == (50, 150, 0, 0)


def test_reversal_of_a_hold_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Reverse("r1", hold_id)) == [(0, "not_reversible")]


def test_reversal_of_a_reversal_is_rejected():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    [txn] = book.post(move("t1", shop, till, 10))
    [reversal] = book.post(Reverse("r1", txn.id))
    assert book.problems(Reverse("r2", reversal.id)) == [(0, "not_reversible")]


def test_reversing_twice_is_rejected():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    [txn] = book.post(move("t1", shop, till, 10))
    assert book.problems(Reverse("r1", txn.id), Reverse("r2", txn.id)) == [(1, "already_reversed")]
    book.post(Reverse("r1", txn.id))
    assert book.problems(Reverse("r2", txn.id)) == [(0, "already_reversed")]


def test_reversal_that_would_overdraw_is_rejected():
    shop, spare, till = payable(), payable(), bank()
    book = Book(shop, spare, till)
    [funding] = book.post(move("fund", till, shop, 100))
    book.post(move("spend", shop, spare, 80))
    # Taking the 100 back would leave the shop at -80.
    assert book.problems(Reverse("r1", funding.id)) == [(0, "insufficient_funds")]


# --- idempotency ----------------------------------------------------------------------------


def test_replay_within_a_batch_is_applied_once():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    first, again = book.post(move("t1", shop, till, 60), move("t1", shop, till, 60))
    assert (again.id, again.replayed) == (first.id, True)
    assert book.balances(shop) == (60, 100, 0, 0)
    assert len(book.txns) == 1


def test_replay_against_an_existing_transaction_changes_nothing():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    [first] = book.post(move("t1", shop, till, 60))
    plan, problems = book.plan(move("t1", shop, till, 60))
    assert problems == []
    [again] = plan.transactions
    assert (again.id, again.kind, again.status, again.replayed) == (first.id, "posting", "posted", True)
    assert plan.accounts == {}
    # 60 more would overdraw: proof that the replay is not re-applied.
    assert book.problems(move("t1", shop, till, 60)) == []


def test_same_key_with_other_content_is_rejected():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    book.post(move("t1", shop, till, 60))
    assert book.problems(move("t1", shop, till, 61)) == [(0, "idempotency_key_reused")]
    assert book.problems(move("t2", shop, till, 1), move("t2", shop, till, 2)) == [(1, "idempotency_key_reused")]


def test_same_key_for_another_kind_of_command_is_rejected():
    book, _, _, hold_id = funded_hold(70)
    assert book.problems(Capture("h1", hold_id)) == [(0, "idempotency_key_reused")]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_idempotency_key_must_be_1_to_200_characters(key):
    shop, till = payable(received=100), bank()
    assert Book(shop, till).problems(move(key, shop, till, 1)) == [(0, "invalid_idempotency_key")]


# --- batches --------------------------------------------------------------------------------


def test_batch_reports_every_problem_not_just_the_first():
    shop, till = payable(received=100), bank()
    book = Book(shop, till)
    _, _, _, hold_id = funded_hold(70)  # a hold the book has never seen
    [own_hold] = book.post(hold("h1", shop, till, 10))
    batch = [
        move("ok1", shop, till, 5),
        Post("bad-balance", (Entry(shop.id, 5), Entry(till.id, -4))),
        move("bad-account", shop, account(), 5),
        move("bad-overdraft", shop, till, 1_000),
        Capture("bad-capture", own_hold.id, 11),
        Capture("bad-ref", hold_id),
        move("ok2", shop, till, 5),
        move("ok1", shop, till, 6),
    ]
    found = book.problems(*batch)
    assert (2, "account_not_found") in found
    assert [p for p in found if p[0] != 2] == [
        (1, "unbalanced"),
        (3, "insufficient_funds"),
        (4, "capture_exceeds_hold"),
        (5, "transaction_not_found"),
        (7, "idempotency_key_reused"),
    ]


def test_commands_in_a_batch_apply_in_order():
    shop, other, till = payable(), payable(), bank()
    book = Book(shop, other, till)
    assert book.problems(move("spend", shop, other, 50), move("fund", till, shop, 50)) == [(0, "insufficient_funds")]
    book.post(move("fund", till, shop, 50), move("spend", shop, other, 50))
    assert book.balances(shop) == (50, 50, 0, 0)


def test_batch_above_the_limit_is_rejected():
    shop, till = payable(received=100), bank()
    batch = [move(f"t{i}", till, shop, 1) for i in range(BATCH_MAX + 1)]
    assert Book(shop, till).problems(*batch) == [(0, "batch_too_large")]


def test_plan_batch_does_not_change_its_inputs():
    book, shop, till, hold_id = funded_hold(70)
    accounts, txns = copy.deepcopy(book.accounts), copy.deepcopy(book.txns)
    book.plan(Capture("c1", hold_id, 20), move("t1", shop, till, 10))
    book.plan(Capture("c1", hold_id, 20), move("t1", shop, till, 10_000))
    assert book.accounts == accounts
    assert book.txns == txns
