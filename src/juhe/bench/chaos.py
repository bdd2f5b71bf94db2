"""`juhe chaos payments`: many payments of every kind through every channel while every
sandbox injects faults, then the invariants that must survive them.

1. A running stack (`juhe.bench.stack`) with a short payment expiry and fast polling, so that
   the run ends; every sandbox injects ≥ 5 % timeouts, ≥ 2 % 5xx, ≥ 10 % lost, ≥ 3 %
   duplicated and some out-of-order notifications (seeded) — the POS acquirer loses and
   duplicates its ISO 8583 answers instead — and the corporate bank rejects some transfers.
2. `n` payments are created over HTTP, `concurrency` at once, their kinds mixed by the seed:
   QR spread over the QR channels with `preferred_channel` (routing may fail over elsewhere), a
   card at an integrated till (pos), a face at a store device (face), a B2B transfer (b2b), and
   cross-border payments by e-CNY (ecny) and by SWIFT at an FX quote (swift). The merchant's
   balance is funded first, since payments out hold it when accepted.
   Payer-completed: for QR, the simulated payer pays each payment that reached `processing`
   at the channel and order it names, and the sandbox accepted it; where no payer acts after
   the create (pos, face, b2b, crossborder), the channel shows the money moved for one of the
   payment's orders.
3. Wait until every payment (and every refund) is terminal, or until the last expiry + grace.
4. The figures:
   - success_rate: the share of payer-completed payments that ended `succeeded` (goal ≥ 99.5 %);
   - double_charges: payments with more than one order the channels show paid and not refunded
     in full (every attempt's order, asked at its sandbox) — must be 0; for payments out, a
     second transfer;
   - stuck: payments not terminal although their expiry + grace has passed — must be 0;
   - ledger_ok: `verify_ledger` proves the ledger.
   Beside them, for diagnosis: payments whose money the channel kept without success, successes
   the channel shows unpaid, our API's 5xx answers, orphan refunds, notification outcomes.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from juhe.bench.report import track
from juhe.bench.stack import CHANNEL_CODES, Stack, StackError, StackOptions, channels_for
from juhe.channels.simkit import Faults
from juhe.db.types import utcnow

DEFAULT_N = 10_000
DEFAULT_CONCURRENCY = 32
DEFAULT_SEED = 20_250_601
PAYMENT_TTL_S = 30  # below the API's 60 s minimum, through settings (JUHE_PAYMENT_TTL_S)
POLL_INITIAL_S = 0.5
WORKER_INTERVAL_S = 0.1
GRACE_S = 30.0
GOAL_SUCCESS_RATE = 0.995
FAULT_RATES = {
    "timeout_rate": 0.05, "error_5xx_rate": 0.02, "lost_notify_rate": 0.10,
    "duplicate_notify_rate": 0.03, "reorder_notify_rate": 0.05,
}
BANK_REJECT_RATE = 0.02  # the corporate bank turns down this share of transfers (AC01, AC06, AG01, BE01, RC01)
TERMINAL = ("succeeded", "failed", "canceled")
CREATE_RETRIES = 3  # a 5xx or a broken connection: the merchant asks again with the same key
QUOTE_ATTEMPTS_MAX = 10  # the FX desk is faulted too: the treasurer asks again for a quote
EXAMPLES_MAX = 5
STORY_ERROR_MAX = 100  # characters of an attempt's error in a payment's story
COVERAGE_MIN = 10  # a kind with this many payments and none payer-completed was not tested at all
# An error line in the API's or worker's log: structlog's console and JSON renderers, uvicorn's own.
ERROR_MARKS = ("[error", '"level": "error"', "ERROR:")

# The kinds of payment a run mixes: the scenario each is created with, and the channel it goes to
# (QR: the channel it prefers; the others have one channel each).
KINDS = ("qr", "pos", "face", "b2b", "ecny", "swift")
KIND_SCENARIO = {"qr": "qr", "pos": "pos", "face": "face", "b2b": "b2b", "ecny": "crossborder", "swift": "crossborder"}
KIND_CHANNEL = {"pos": "pos", "face": "facepay", "b2b": "bank", "ecny": "crossborder", "swift": "crossborder"}
KIND_ALIASES = {"crossborder": ("ecny", "swift")}
PAYS_OUT = frozenset({"b2b", "ecny", "swift"})  # held against the merchant's balance
AMOUNT_CNY_MINOR = (1, 100_000)  # ¥0.01 – ¥1,000.00
AMOUNT_USD_MINOR = (10_000, 100_000)  # $100 – $1,000: above what the SWIFT charges take
FUNDING_FACTOR = {"CNY": 2, "USD": 10}  # CNY that covers one minor unit paid out, fees and FX spread included
FACES = 16  # enrolled payers taking turns at the face device
FACE_DAILY_LIMIT_MINOR = 10**12  # password-free limit: never what stops a chaos payment
FACE_CAPTURE_NOISE = 0.2  # a similarity of about 0.98: the enrolled face, captured again
SUPPLIER = {"creditor_name": "Shanghai Steel Co", "creditor_account": "6222020200998877665", "creditor_bank": "102290024433"}
ECNY_PAYEES = (  # a wallet of the paying bank's own (final at once), one of another operator (confirmed later)
    {"rail": "ecny", "payee_wallet_id": "0031000000000042", "payee_name": "李四"},
    {"rail": "ecny", "payee_wallet_id": "0041000000000077", "payee_name": "王五"},
)
US_SUPPLIER = {"rail": "swift", "creditor_bic": "CHASUS33", "creditor_account": "987654321", "creditor_name": "Acme Corp",
               "debtor_name": "Lotus Mart", "charge_bearer": "SHA", "sell_currency": "CNY"}


class ChaosError(RuntimeError):
    """The chaos run could not run."""


def parse_kinds(text: str) -> tuple[str, ...]:
    """'qr,pos,crossborder' → ('qr', 'pos', 'ecny', 'swift'): the kinds named (crossborder is both
    of its rails), in KINDS order; ChaosError for an unknown one or none."""
    asked = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(KINDS) - set(KIND_ALIASES))
    if unknown or not asked:
        problem = f"unknown {', '.join(unknown)}" if unknown else "names no kind"
        raise ChaosError(f"--scenarios: {problem}; name some of {', '.join(KINDS)} or {', '.join(KIND_ALIASES)}")
    wanted = set().union(*(KIND_ALIASES.get(kind, (kind,)) for kind in asked))
    return tuple(kind for kind in KINDS if kind in wanted)


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str
    channel: str  # preferred for QR; the only one for the other kinds
    amount_minor: int
    currency: str


@dataclass
class Payers:
    """What the people and systems outside Juhe hold: the till's card key, the enrolled faces."""

    card_key: bytes | None = None
    faces: list[tuple[float, ...]] = field(default_factory=list)


@dataclass
class Created:
    index: int
    kind: str = "qr"
    payment_id: str | None = None
    channel: str | None = None
    order_no: str | None = None
    status: str | None = None
    payer_completed: bool = False
    api_errors: int = 0
    quote_retries: int = 0


@dataclass
class ChaosResult:
    payments: int
    success_rate: float
    double_charges: int
    stuck: int
    ledger_ok: bool
    payer_completed: int = 0
    completed_succeeded: int = 0
    kept_without_success: int = 0
    succeeded_unpaid: int = 0
    api_errors: int = 0
    worker_failures: int | None = None  # errors the API process logged (worker rounds …); None: not counted
    loose_attempts: int = 0  # orders still "creating" or "abandoned" at the end
    orphan_refunds: int = 0
    holds_astray: int = 0  # payments out whose held funds were not captured (succeeded) or released (ended otherwise)
    stopped_by_risk: int = 0  # blocked or stepped up by the risk engine: they never reached a channel's faults
    by_kind: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # kind → created, completed, succeeded of those
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def figures(self) -> dict:
        return {"payments": self.payments, "success_rate": round(self.success_rate, 6),
                "double_charges": self.double_charges, "stuck": self.stuck, "ledger_ok": self.ledger_ok}

    @property
    def untested_kinds(self) -> list[str]:
        """Kinds whose payments all ended before any money moved: the run says nothing about them
        (a channel unreachable from the API, a gate stopping them all)."""
        return [kind for kind, (created, completed, _) in self.by_kind.items() if created >= COVERAGE_MIN and not completed]

    @property
    def ok(self) -> bool:
        return (self.success_rate >= GOAL_SUCCESS_RATE and self.double_charges == 0 and self.stuck == 0
                and self.ledger_ok and not self.worker_failures and self.holds_astray == 0 and not self.untested_kinds)

    def table(self) -> Table:
        table = Table(title=f"Chaos: {self.payments:,} payments through every channel under faults "
                            f"({self.duration_s:,.0f} s)", title_justify="left")
        for column in ("figure", "value", "goal"):
            table.add_column(column, justify="right" if column == "value" else "left", no_wrap=True)

        def row(label: str, value: str, goal: str = "", met: bool | None = None) -> None:
            if met is not None:
                value = f"[green]{value} ✓[/green]" if met else f"[red]{value} ✗[/red]"
            table.add_row(label, value, goal)

        row("success rate (payer-completed)", f"{self.success_rate:.2%}", "≥ 99.5 %",
            self.success_rate >= GOAL_SUCCESS_RATE)
        row("  payer-completed, of them succeeded", f"{self.payer_completed:,}, {self.completed_succeeded:,}")
        for kind, (created, completed, succeeded) in self.by_kind.items():
            row(f"    {kind}: created, completed, succeeded", f"{created:,}, {completed:,}, {succeeded:,}",
                met=False if kind in self.untested_kinds else None)
        row("double charges", f"{self.double_charges:,}", "0", self.double_charges == 0)
        row("stuck past expiry + grace", f"{self.stuck:,}", "0", self.stuck == 0)
        row("ledger verifies", "yes" if self.ledger_ok else "no", "yes", self.ledger_ok)
        row("payments out, funds not captured/released", f"{self.holds_astray:,}", "0", self.holds_astray == 0)
        row("paid, not succeeded, not refunded", f"{self.kept_without_success:,}", "0", self.kept_without_success == 0)
        row("succeeded, channel shows unpaid", f"{self.succeeded_unpaid:,}", "0", self.succeeded_unpaid == 0)
        row("API 5xx or broken requests", f"{self.api_errors:,}", "0", self.api_errors == 0)
        if self.worker_failures is not None:
            row("errors logged by API + worker", f"{self.worker_failures:,}", "0", self.worker_failures == 0)
        row("orders left creating/abandoned", f"{self.loose_attempts:,}", "0", self.loose_attempts == 0)
        row("orphan refunds (second orders paid)", f"{self.orphan_refunds:,}")
        row("stopped by risk before any channel", f"{self.stopped_by_risk:,}")
        return table

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            sys.stdout.flush()
            return
        console = console or Console()
        console.print(self.table())
        console.print("[dim]Payments by status: " + ", ".join(f"{s} {n:,}" for s, n in sorted(self.statuses.items())) + ".[/dim]")
        for note in self.notes:
            console.print(f"[dim]{escape(note)}[/dim]")


def run(
    *,
    n: int = DEFAULT_N,
    concurrency: int = DEFAULT_CONCURRENCY,
    seed: int = DEFAULT_SEED,
    kinds: tuple[str, ...] = KINDS,
    database_url: str | None = None,
    payment_ttl_s: int = PAYMENT_TTL_S,
    poll_initial_s: float = POLL_INITIAL_S,
    grace_s: float = GRACE_S,
    faults: dict[str, float] | None = None,
    pay_at_once: bool = False,
    in_process: bool = False,
    api_processes: int | None = None,
    progress: Progress | None = None,
) -> ChaosResult:
    """`api_processes` defaults to 2 on PostgreSQL (the production layout, beside a `juhe worker`), 1 on SQLite."""
    if n < 1 or concurrency < 1:
        raise ChaosError("--n and --concurrency must be at least 1")
    if not kinds or set(kinds) - set(KINDS):
        raise ChaosError(f"kinds are some of {', '.join(KINDS)}, not {', '.join(kinds) or 'none'}")
    qr_channels = channels_for("qr") if "qr" in kinds else ()
    served = tuple(code for code in CHANNEL_CODES if code in qr_channels or code in {KIND_CHANNEL.get(k) for k in kinds})
    if api_processes is None:
        api_processes = 2 if database_url and database_url.startswith("postgresql") and not in_process else 1
    options = StackOptions(database_url=database_url, in_process=in_process, poll_initial_s=poll_initial_s,
                           worker_interval_s=WORKER_INTERVAL_S, payment_ttl_s=payment_ttl_s, channels=served,
                           api_processes=api_processes)
    rates = {**FAULT_RATES, **(faults or {})}
    plan = _plan(kinds, qr_channels, n, seed)
    started = time.monotonic()
    try:
        stack = Stack(options).start()
    except StackError as e:
        raise ChaosError(str(e)) from e
    try:
        for i, code in enumerate(served):
            paid_at_once = {"auto_pay_after_ms": 0} if pay_at_once and code in qr_channels else {}
            rejects = {"decline_rate": BANK_REJECT_RATE} if code == "bank" else {}
            stack.set_faults(Faults(**(rejects | rates | paid_at_once), seed=seed + i), channel=code)
        payers = _prepare(stack, kinds, plan, seed)
        created = asyncio.run(_load(stack, plan, payers, concurrency, seed, pay_at_once, progress))
        _wait_until_settled(stack, grace_s, progress)
        result = asyncio.run(_judge(stack, created, grace_s, pay_at_once))
        result.worker_failures = stack.log_count(ERROR_MARKS)
        database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(stack.db.dialect, stack.db.dialect)
    finally:
        stack.stop()
    result.duration_s = time.monotonic() - started
    result.notes.insert(0, _setup_note(plan, qr_channels, served, rates, payment_ttl_s, poll_initial_s, grace_s, seed,
                                       concurrency, database, pay_at_once))
    return result


def _setup_note(plan: list[Planned], qr_channels: tuple[str, ...], served: tuple[str, ...], rates: dict[str, float],
                payment_ttl_s: int, poll_initial_s: float, grace_s: float, seed: int, concurrency: int, database: str,
                pay_at_once: bool) -> str:
    mix = ", ".join(f"{kind} {count:,}" for kind, count in sorted(Counter(p.kind for p in plan).items()))
    over = f" (QR over {', '.join(qr_channels)})" if qr_channels else ""
    rejects = f"; the bank rejects {rates.get('decline_rate', BANK_REJECT_RATE):g} of transfers" if "bank" in served else ""
    at_once = ("; the QR payer pays every order the moment it is booked (auto_pay_after_ms=0), as at a paid-at-create "
               "channel (barcode, POS)") if pay_at_once else ""
    return (f"Payments by kind: {mix}{over}. Faults in every sandbox: {', '.join(f'{k} {v:g}' for k, v in rates.items())}"
            f"{rejects}; payment TTL {payment_ttl_s} s, first poll after {poll_initial_s:g} s, grace {grace_s:g} s; "
            f"seed {seed}; {concurrency} at once; {database}{at_once}.")


def _plan(kinds: tuple[str, ...], qr_channels: tuple[str, ...], n: int, seed: int) -> list[Planned]:
    """What each payment will be, drawn from the seed: a lane (QR at one channel, or another kind)
    and an amount."""
    rng = random.Random(seed)
    lanes = [("qr", code) for code in qr_channels] + [(kind, KIND_CHANNEL[kind]) for kind in kinds if kind != "qr"]
    plan = []
    for _ in range(n):
        kind, channel = rng.choice(lanes)
        currency, (low, high) = ("USD", AMOUNT_USD_MINOR) if kind == "swift" else ("CNY", AMOUNT_CNY_MINOR)
        plan.append(Planned(kind, channel, rng.randint(low, high), currency))
    return plan


def _prepare(stack: Stack, kinds: tuple[str, ...], plan: list[Planned], seed: int) -> Payers:
    """Before the first payment: the merchant's balance for payments out, the payers' faces
    enrolled with the face-pay service, and the card key the integrated till seals cards with."""
    payers = Payers()
    funding_minor = sum(p.amount_minor * FUNDING_FACTOR[p.currency] for p in plan if p.kind in PAYS_OUT)
    if funding_minor:
        stack.deposit(funding_minor)
    if "face" in kinds:
        from juhe.channels.facepay import faces

        rng = random.Random(seed)
        for number in range(FACES):
            template = faces.synthetic_template(rng)
            answer = httpx.post(f"{stack.sandbox_urls['facepay']}/sandbox/enroll", timeout=30, json={
                "user_id": f"chaos-payer-{number}", "template": list(template), "daily_limit_minor": FACE_DAILY_LIMIT_MINOR})
            answer.raise_for_status()
            payers.faces.append(template)
    if "pos" in kinds:
        from juhe.channels.pos import signing

        payers.card_key = signing.load_key(stack.sandbox_dir("pos") / "pos_card_key.hex", signing.CARD_KEY_BYTES)
    return payers


async def _load(stack: Stack, plan: list[Planned], payers: Payers, concurrency: int, seed: int, pay_at_once: bool,
                progress: Progress | None) -> list[Created]:
    n = len(plan)
    advance = track(progress, "payments created and paid", n)
    results = [Created(i, plan[i].kind) for i in range(n)]
    numbers = iter(range(n))
    headers = stack.key("business")
    limits = httpx.Limits(max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=120) as client:

        async def create(i: int, result: Created) -> dict | None:
            body = await _payment_body(client, stack, payers, plan[i], i, seed, result)
            if body is None:
                return None
            for _ in range(CREATE_RETRIES):
                try:
                    answer = await client.post("/v1/payments", json=body,
                                               headers={**headers, "Idempotency-Key": f"chaos-{seed}-{i}"})
                except httpx.HTTPError:
                    result.api_errors += 1
                    continue
                if answer.status_code in (200, 201):
                    return answer.json()
                result.api_errors += 1
                if answer.status_code < 500:
                    return None
            return None

        async def payer() -> None:
            for i in numbers:
                result = results[i]
                payment = await create(i, result)
                if payment is not None:
                    result.payment_id, result.status = payment["id"], payment["status"]
                    result.channel, result.order_no = payment["channel"], payment["channel_order_no"]
                    if result.kind == "qr" and payment["status"] == "processing" and not pay_at_once:
                        answer = await client.post(f"{stack.sandbox_urls[result.channel]}/sandbox/pay/{result.order_no}",
                                                   json={"outcome": "success"})
                        result.payer_completed = answer.status_code == 200 and answer.json()["state"] == "succeeded"
                advance(1)

        await asyncio.gather(*(payer() for _ in range(concurrency)))
    return results


async def _payment_body(client: httpx.AsyncClient, stack: Stack, payers: Payers, planned: Planned, i: int, seed: int,
                        result: Created) -> dict | None:
    """POST /v1/payments as the merchant's system sends it for this kind, after what comes first:
    the payer's face captured at the device, the FX quote taken for a SWIFT payment (None: that
    first step failed every time, and the payment is never asked for)."""
    body = {"amount_minor": planned.amount_minor, "currency": planned.currency, "scenario": KIND_SCENARIO[planned.kind],
            "subject": f"Chaos order {i}"}
    if planned.kind == "qr":
        return body | {"preferred_channel": planned.channel}
    if planned.kind == "pos":
        from juhe.channels.pos.sandbox import STORE_TERMINALS, TEST_CARDS
        from juhe.channels.pos.signing import seal_card

        till = STORE_TERMINALS[i % len(STORE_TERMINALS)]  # the card is sealed for this till only
        return body | {"payer": {"terminal_id": till, "card_block": seal_card(payers.card_key, TEST_CARDS["approve"].track2, till)}}
    if planned.kind == "face":
        face = await _face_at_device(client, stack, payers, i, seed)
        return body | {"payer": face} if face else None
    if planned.kind == "b2b":
        return body | {"payer": SUPPLIER}
    if planned.kind == "ecny":
        return body | {"payer": ECNY_PAYEES[i % len(ECNY_PAYEES)]}
    quote_id = await _fx_quote(client, stack, planned, result)
    return body | {"payer": US_SUPPLIER | {"quote_id": quote_id}} if quote_id else None


async def _face_at_device(client: httpx.AsyncClient, stack: Stack, payers: Payers, i: int, seed: int) -> dict | None:
    """The store device captures an enrolled payer's face; the face service hands it a single-use token."""
    from juhe.channels.facepay import faces
    from juhe.channels.facepay.sandbox import DEVICE_ID

    probe = faces.noisy_capture(payers.faces[i % len(payers.faces)], FACE_CAPTURE_NOISE, random.Random(seed + i))
    for _ in range(CREATE_RETRIES):
        try:
            answer = await client.post(f"{stack.sandbox_urls['facepay']}/sandbox/face/tokens",
                                       json={"device_id": DEVICE_ID, "probe": list(probe), "liveness": 0.98})
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            return {"device_id": DEVICE_ID, "face_token": answer.json()["face_token"]}
    return None


async def _fx_quote(client: httpx.AsyncClient, stack: Stack, planned: Planned, result: Created) -> str | None:
    """A quote for buying the amount with CNY; the desk fails like any channel, so ask again."""
    ask = {"sell_currency": "CNY", "buy_currency": planned.currency, "amount_minor": planned.amount_minor,
           "currency": planned.currency}
    for _ in range(QUOTE_ATTEMPTS_MAX):
        try:
            answer = await client.post("/v1/fx/quotes", json=ask, headers=stack.key("business"))
        except httpx.HTTPError:
            result.api_errors += 1
            continue
        if answer.status_code == 201:
            return answer.json()["id"]
        result.quote_retries += 1
        if answer.status_code != 503:  # 503: the desk did not answer; anything else will not change
            result.api_errors += answer.status_code >= 500
            return None
    return None


def _wait_until_settled(stack: Stack, grace_s: float, progress: Progress | None) -> None:
    """Until every payment and refund is terminal and every abandoned order closed, or the last
    expiry + grace has passed."""
    from juhe.payments.models import Payment, PaymentAttempt, Refund

    with stack.db.session() as session:
        total = session.scalar(select(func.count()).select_from(Payment))
        last_expiry = session.scalar(select(func.max(Payment.expires_at)))
    if not total:
        return
    bar = progress.add_task("payments terminal", total=total) if progress is not None else None
    deadline = last_expiry + timedelta(seconds=grace_s)
    while True:
        with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            open_payments = conn.scalar(select(func.count()).select_from(Payment).where(Payment.status.not_in(TERMINAL)))
            open_refunds = conn.scalar(select(func.count()).select_from(Refund).where(Refund.status == "pending"))
            loose = conn.scalar(select(func.count()).select_from(PaymentAttempt)
                                .where(PaymentAttempt.status.in_(("creating", "abandoned"))))
        if bar is not None:
            progress.update(bar, completed=total - open_payments)
        if (open_payments == 0 and open_refunds == 0 and loose == 0) or utcnow() > deadline:
            return
        time.sleep(0.25)


async def _judge(stack: Stack, created: list[Created], grace_s: float, pay_at_once: bool) -> ChaosResult:
    from juhe.db.models import LedgerTransaction
    from juhe.ledger import verify_database
    from juhe.payments.models import ChannelNotification, Payment, PaymentAttempt, Refund

    def read_books():
        with stack.db.session() as session:
            payments = {str(p.id): p for p in session.scalars(select(Payment))}
            attempts = list(session.scalars(select(PaymentAttempt)))
            orphan_refunds = session.scalar(select(func.count()).select_from(Refund).where(Refund.idempotency_key.like("orphan:%")))
            holds = dict(session.execute(select(LedgerTransaction.id, LedgerTransaction.status)
                                         .where(LedgerTransaction.kind == "hold")).all())
            notifications = Counter(dict(session.execute(
                select(ChannelNotification.outcome, func.count()).group_by(ChannelNotification.outcome)).all()))
        return payments, attempts, orphan_refunds, holds, notifications, verify_database(stack.db.engine)

    now = utcnow()
    # Off this event loop, as the servers do: the loop guard would flag every read.
    payments, attempts, orphan_refunds, holds, notifications, ledger = await asyncio.to_thread(read_books)

    paid_orders, paid_ever = await _ask_channels(stack, attempts)
    statuses = Counter(p.status for p in payments.values())
    for c in created:
        if pay_at_once or c.kind != "qr":  # nobody acts after the create: completed is what a channel took
            c.payer_completed = c.payment_id in paid_ever
    completed = [c for c in created if c.payer_completed]
    completed_ok = [c for c in completed if payments[c.payment_id].status == "succeeded"]
    stuck = [p for p in payments.values()
             if p.status not in TERMINAL and p.expires_at + timedelta(seconds=grace_s) < now]
    double = [pid for pid, count in paid_orders.items() if count > 1]
    kept = [pid for pid, count in paid_orders.items() if count >= 1 and payments[pid].status != "succeeded"]
    unpaid = [pid for pid, p in payments.items() if p.status == "succeeded" and paid_orders[pid] == 0]
    astray = _holds_astray(payments, holds)
    result = ChaosResult(
        payments=len(payments), success_rate=len(completed_ok) / len(completed) if completed else 0.0,
        double_charges=len(double), stuck=len(stuck), ledger_ok=ledger.ok, payer_completed=len(completed),
        completed_succeeded=len(completed_ok), kept_without_success=len(kept), succeeded_unpaid=len(unpaid),
        api_errors=sum(c.api_errors for c in created), statuses=dict(statuses), orphan_refunds=orphan_refunds,
        loose_attempts=sum(a.status in ("creating", "abandoned") for a in attempts), by_kind=_by_kind(created, payments),
        holds_astray=len(astray),
        stopped_by_risk=sum((p.risk or {}).get("action", "allow") != "allow" for p in payments.values()),
    )
    result.notes.append(f"Channel notifications by outcome: {', '.join(f'{k} {v:,}' for k, v in sorted(notifications.items()))}.")
    if result.stopped_by_risk:
        result.notes.append(f"{result.stopped_by_risk:,} payments were blocked or stepped up by the risk engine: "
                            "they never reached a channel, so the success rate leaves them out.")
    never_asked = sum(c.payment_id is None for c in created)
    if never_asked:
        result.notes.append(f"Payments never created (no face token or FX quote, or the API refused them): {never_asked:,}.")
    quote_retries = sum(c.quote_retries for c in created)
    if quote_retries:
        result.notes.append(f"FX quotes asked again after the desk failed: {quote_retries:,}.")
    if not ledger.ok:
        result.notes.append("Ledger problems: " + "; ".join(ledger.problems[:EXAMPLES_MAX]))
    failed_completed = [c.payment_id for c in completed if payments[c.payment_id].status != "succeeded"]
    for label, ids in (("payer-completed, not succeeded", failed_completed), ("double charge", double),
                       ("money kept without success", kept), ("succeeded, channel shows no money", unpaid),
                       ("stuck", [str(p.id) for p in stuck]), ("funds of a payment out astray", astray)):
        if ids:
            result.notes.append(f"{label}: {len(ids)}, e.g. " + "; ".join(_story(stack, pid) for pid in ids[:EXAMPLES_MAX]))
    for kind in result.untested_kinds:
        ids = [c.payment_id for c in created if c.kind == kind and c.payment_id][:2]
        result.notes.append(f"{kind}: no payment moved money, e.g. " + "; ".join(_story(stack, pid) for pid in ids))
    return result


async def _ask_channels(stack: Stack, attempts: list) -> tuple[Counter[str], set[str]]:
    """What the channels say, every order we ever sent asked at its sandbox: per payment, how
    many of its orders are paid and not refunded in full; and which payments had one paid at all."""
    paid_orders: Counter[str] = Counter()
    paid_ever: set[str] = set()
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30) as client:

        async def ask(attempt) -> None:
            async with gate:
                answer = await client.get(f"{stack.sandbox_urls[attempt.channel]}/sandbox/orders/"
                                          f"{_sandbox_order_no(attempt.channel, attempt.order_no)}")
            if answer.status_code == 404:
                return
            order = answer.raise_for_status().json()
            refunded = sum(r["amount_minor"] for r in order["refunds"].values() if r["state"] == "succeeded")
            if order["state"] == "succeeded":
                paid_ever.add(str(attempt.payment_id))
                if refunded < order["amount_minor"]:
                    paid_orders[str(attempt.payment_id)] += 1

        await asyncio.gather(*(ask(a) for a in attempts))
    return paid_orders, paid_ever


def _sandbox_order_no(channel: str, order_no: str) -> str:
    """The sandbox's key of our order: the bank books a transfer as MsgId:EndToEndId, and a
    single B2B payment is a file whose MsgId and EndToEndId are both our order number."""
    return f"{order_no}:{order_no}" if channel == "bank" else order_no


def _holds_astray(payments: dict, holds: dict) -> list[str]:
    """Payments out whose hold does not match how they ended: captured on success, voided
    (released to the merchant) on failure or cancel, pending only while still open."""
    from juhe.payments.outbound import OUTBOUND

    expected = {"succeeded": "captured", "failed": "voided", "canceled": "voided"}
    return [pid for pid, p in payments.items()
            if p.scenario in OUTBOUND and holds.get(p.ledger_txn_id) != expected.get(p.status, "pending")]


def _by_kind(created: list[Created], payments: dict) -> dict[str, tuple[int, int, int]]:
    """Per kind: payments created, payer-completed, and succeeded of those."""
    counts: dict[str, list[int]] = {kind: [0, 0, 0] for kind in KINDS if any(c.kind == kind for c in created)}
    for c in created:
        completed = c.payer_completed and c.payment_id in payments
        counts[c.kind][0] += c.payment_id is not None
        counts[c.kind][1] += completed
        counts[c.kind][2] += completed and payments[c.payment_id].status == "succeeded"
    return {kind: (created_count, completed, succeeded) for kind, (created_count, completed, succeeded) in counts.items()}


def _story(stack: Stack, payment_id: str) -> str:
    """One payment's timeline and attempts, for the notes."""
    import uuid

    from juhe.payments.models import Payment, PaymentAttempt, PaymentEvent

    pid = uuid.UUID(payment_id)
    with stack.db.session() as session:
        payment = session.get(Payment, pid)
        events = session.scalars(select(PaymentEvent).where(PaymentEvent.payment_id == pid).order_by(PaymentEvent.id))
        attempts = session.scalars(select(PaymentAttempt).where(PaymentAttempt.payment_id == pid)
                                   .order_by(PaymentAttempt.created_at))
        timeline = " → ".join(f"{e.to_status} ({e.cause})" for e in events)
        tried = ", ".join(f"{a.channel} {a.order_no[-6:]} {a.status}" + (f" ({a.error[:STORY_ERROR_MAX]})" if a.error else "")
                          for a in attempts)
        return f"{payment_id} [{payment.status}: {timeline}; attempts: {tried}]"
