"""Crash points, random kills and a channel outage against a live stack (`juhe.bench.stack`, the
harness of `juhe chaos payments`, with `respawning_api`: the API and its worker forked again
whenever it dies, `juhe.safety.respawn`), ending in the same invariant checks.

- Crash points: the next API process started with a named point armed (`juhe.safety.crashpoints`)
  and driven until it dies there: a payment created and committed but not answered, a webhook event
  inserted, a channel's success booked, webhooks sent but not recorded; and the day's books crashed
  and closed again (reconciliation, settlement, a subscription cycle: `juhe.safety.books`).
- Random kills: QR payments created and paid `CLIENTS` at a time while the API process is SIGKILLed
  at random moments, again and again.
- A channel outage: Alipay answers every call 5xx and loses every notification for a window.

Afterwards (`check`): no acknowledged payment lost (every 2xx create answer names a payment that
exists, and every success a client saw is still a success); every payment a payer paid succeeded;
nothing half-posted (a succeeded payment has its ledger transaction, nothing else has one); every
webhook event delivered and seen once by the merchant; the ledger verifies; nothing left open; and
reconciliation and settlement run again change nothing.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from juhe.bench.stack import Stack, StackOptions
from juhe.config import get_settings

TERMINAL = ("succeeded", "failed", "canceled")
PLATFORM_TOKEN = "plat-faults-0123456789"
SETTLE_TIMEOUT_S = 60.0
RESPAWN_TIMEOUT_S = 60.0
CRASH_WAIT_S = 90.0  # a point armed and driven fires within this, or the run says it was never reached (a busy worker round: seconds)
CLIENTS = 4
REQUEST_TIMEOUT_S = 15.0
KILL_AFTER_S = (0.1, 0.6)  # how long the API serves between two random kills
AMOUNT_MINOR = (100, 50_000)
WEBHOOK_LEASE_S = 3  # deliveries a killed worker had claimed are due again after this
PAYMENT_TTL_S = 20  # a payment whose payer never paid ends by expiry
INTERRUPTED_AFTER_S = 10  # a payment whose create a kill cut short is failed by the poller after this
OUTAGE_S = 4.0  # the channel down for this long, merchants paying throughout
PAYMENT_POINTS = ("payment.answer", "outbox.inserted", "payment.booked", "webhook.sent")


def stack_options(**overrides) -> StackOptions:
    """The stack these faults run on: one QR channel, fast polling, the API respawning."""
    return StackOptions(channels=("alipay",), poll_initial_s=0.5, worker_interval_s=0.1, payment_ttl_s=PAYMENT_TTL_S,
                        respawning_api=True, **overrides)


def stack_environment() -> dict[str, str]:
    """Settings the servers of a fault run read (set before the stack starts)."""
    return {"JUHE_PLATFORM_TOKEN": PLATFORM_TOKEN, "JUHE_WEBHOOK_LEASE_S": str(WEBHOOK_LEASE_S),
            "JUHE_PAYMENT_INTERRUPTED_AFTER_S": str(INTERRUPTED_AFTER_S),
            "JUHE_WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the merchant's receiver runs on this machine
            # No risk engine: one payer paying without pause is stepped up, and its chargeback intake asks every
            # channel for files, also those the stack does not serve, whose ports another process may hold.
            "JUHE_RISK_ENGINE": "false"}


@contextmanager
def environment():
    """`stack_environment()` in this process's environment (servers inherit it), restored after."""
    saved = {k: os.environ.get(k) for k in stack_environment()}
    os.environ.update(stack_environment())
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        get_settings.cache_clear()


@dataclass
class Tally:
    """What the clients saw: requests tried, 5xx answers, and what was acknowledged to them."""

    requests: int = 0
    errors_5xx: int = 0
    refused: int = 0  # no answer at all: the process was down (a client asks again with the same key)
    acknowledged: set[str] = field(default_factory=set)  # payment ids a 2xx answer named
    seen_succeeded: set[str] = field(default_factory=set)
    paid: set[str] = field(default_factory=set)  # payments whose payer the channel took money from
    codes_5xx: Counter[str] = field(default_factory=Counter)  # the problem+json code of each 5xx
    unclear_5xx: int = 0  # 5xx answers that were not problem+json with a code, or a 503 without Retry-After
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors_5xx += other.errors_5xx
        self.refused += other.refused
        self.acknowledged |= other.acknowledged
        self.seen_succeeded |= other.seen_succeeded
        self.paid |= other.paid
        self.codes_5xx += other.codes_5xx
        self.unclear_5xx += other.unclear_5xx

    def request(self, client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response | None:
        with self.lock:
            self.requests += 1
        try:
            answer = client.request(method, url, timeout=REQUEST_TIMEOUT_S, **kwargs)
        except httpx.HTTPError:
            with self.lock:
                self.refused += 1
            return None
        if answer.status_code >= 500:
            code = _problem_code(answer)
            with self.lock:
                self.errors_5xx += 1
                self.codes_5xx[code or "none"] += 1
                self.unclear_5xx += code is None or (answer.status_code == 503 and "retry-after" not in answer.headers)
        return answer


def _problem_code(answer: httpx.Response) -> str | None:
    if answer.headers.get("content-type", "").split(";")[0] != "application/problem+json":
        return None
    try:
        return answer.json().get("code")
    except ValueError:
        return None


@dataclass
class Checks:
    """The invariants after the faults, each a name → (held, detail)."""

    results: dict[str, tuple[bool, str]] = field(default_factory=dict)
    deliveries: int = 0  # webhook events the merchant received (once each)
    acknowledged_lost: int = 0

    @property
    def ok(self) -> bool:
        return all(held for held, _ in self.results.values())

    def failed(self) -> list[str]:
        return [f"{name}: {detail}" for name, (held, detail) in self.results.items() if not held]


@dataclass
class CrashRun:
    kills: int = 0  # SIGKILLs the API took (crash points fired + random kills)
    points: dict[str, bool] = field(default_factory=dict)  # crash point → fired
    tally: Tally = field(default_factory=Tally)
    checks: Checks = field(default_factory=Checks)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.checks.ok and all(self.points.values())


# -- driving payments --------------------------------------------------------------------------


def pay_one(stack: Stack, client: httpx.Client, tally: Tally, key: str, amount_minor: int, deadline: float) -> str | None:
    """One QR payment as a merchant and its payer would make it through outages: create (asking
    again with the same Idempotency-Key until answered), then pay at the channel. The payment id."""
    body = {"amount_minor": amount_minor, "currency": "CNY", "scenario": "qr", "subject": f"Fault order {key}",
            "preferred_channel": "alipay"}
    while time.monotonic() < deadline:
        answer = tally.request(client, "POST", f"{stack.api_url}/v1/payments", json=body,
                               headers=stack.key("business", idem=key))
        if answer is None or answer.status_code >= 500 or answer.status_code == 409:
            time.sleep(0.1)  # down, or a twin still in flight: retry, as the API's answer says
            continue
        if answer.status_code not in (200, 201):
            return None
        payment = answer.json()
        with tally.lock:
            tally.acknowledged.add(payment["id"])
        if payment["status"] == "processing":  # paid or not, the books must agree with the channel in the end
            paid = tally.request(client, "POST", f"{stack.sandbox_urls[payment['channel']]}/sandbox/pay/"
                                 f"{payment['channel_order_no']}", json={"outcome": "success"})
            if paid is not None and paid.status_code == 200 and paid.json().get("state") == "succeeded":
                with tally.lock:
                    tally.paid.add(payment["id"])
        return payment["id"]
    return None


def watch_successes(stack: Stack, tally: Tally) -> None:
    """What the merchant reads back: a success it saw must never be undone by a crash."""
    with httpx.Client() as client:
        for pid in sorted(tally.acknowledged):
            answer = tally.request(client, "GET", f"{stack.api_url}/v1/payments/{pid}", headers=stack.key("business"))
            if answer is not None and answer.status_code == 200 and answer.json()["status"] == "succeeded":
                with tally.lock:
                    tally.seen_succeeded.add(pid)


def wait_until_settled(stack: Stack, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    """Until every payment is terminal and every webhook delivery is done, or the timeout."""
    from juhe.payments.models import Payment
    from juhe.webhooks.models import DELIVERIES

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            open_payments = conn.scalar(select(func.count()).select_from(Payment).where(Payment.status.not_in(TERMINAL)))
            pending = conn.scalar(select(func.count()).select_from(DELIVERIES).where(DELIVERIES.c.status == "pending"))
        if open_payments == 0 and pending == 0:
            return True
        time.sleep(0.25)
    return False


def while_paying(stack: Stack, label: str, seed: int, fault) -> Tally:
    """`CLIENTS` merchants paying without pause while `fault()` runs; what they saw."""
    stop = threading.Event()
    tallies = [Tally() for _ in range(CLIENTS)]

    def merchant(i: int) -> None:
        local = random.Random(seed + i)
        with httpx.Client() as client:
            n = 0
            while not stop.is_set():
                n += 1
                pay_one(stack, client, tallies[i], f"{label}-{seed}-{i}-{n}", local.randint(*AMOUNT_MINOR),
                        time.monotonic() + SETTLE_TIMEOUT_S)

    threads = [threading.Thread(target=merchant, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        fault()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=SETTLE_TIMEOUT_S)
    seen = Tally()
    for tally in tallies:
        seen.add(tally)
    return seen


# -- crash points, kills, an outage ---------------------------------------------------------------


class Respawning:
    """The stack's API process, a child of `juhe.safety.respawn`: killed, it is back in a moment."""

    def __init__(self, stack: Stack):
        assert stack.options.respawning_api
        self.stack = stack
        self.pid = self.wait_for_child(None)

    def child(self) -> int | None:
        parent = self.stack.server_pids()["api"]
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            return None
        return int(children[0]) if children else None

    def alive(self) -> bool:
        return self.child() == self.pid

    def wait_for_child(self, old: int | None, timeout_s: float = RESPAWN_TIMEOUT_S) -> int:
        """The pid of a child other than `old`, once it answers /readyz."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.child()
            if pid is not None and pid != old:
                try:
                    if httpx.get(f"{self.stack.api_url}/readyz", timeout=2).status_code == 200:
                        return pid
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"the API did not come back in {timeout_s:g} s: {self.stack.log_tail('api')}")

    def kill(self, arm: str | None = None) -> None:
        """SIGKILL the API now; the next one runs with crash point `arm` armed."""
        if arm:
            self.stack.arm_file.write_text(arm)
        os.kill(self.pid, signal.SIGKILL)
        self.pid = self.wait_for_child(self.pid)

    def crash_at(self, point: str, drive, timeout_s: float = CRASH_WAIT_S) -> bool:
        """Start an API with `point` armed and `drive()` it until it dies there (True) or the
        timeout (False); either way an unarmed one is running after."""
        self.kill(arm=point)
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            drive()
            time.sleep(0.05)
        if self.alive():
            self.kill()
            return False
        self.pid = self.wait_for_child(self.pid)
        return True


def crash_points(api: Respawning, run: CrashRun, seed: int) -> None:
    """Each payment crash point, fired once while a merchant pays."""
    stack = api.stack
    with httpx.Client() as client:
        for point in PAYMENT_POINTS:
            n = iter(range(1_000_000))

            def drive() -> None:
                pay_one(stack, client, run.tally, f"crash-{seed}-{point}-{next(n)}", 1_000, time.monotonic() + 5)

            def redeliver() -> None:
                # A delivery asked for again: the worker sends it without waiting on a new payment, which
                # the risk engine may step up by now (the same payer, many payments a minute).
                it = stack.key("it")
                listed = run.tally.request(client, "GET", f"{stack.api_url}/v1/webhooks/deliveries", headers=it)
                if listed is not None and listed.status_code == 200 and listed.json()["data"]:
                    run.tally.request(client, "POST", f"{stack.api_url}/v1/webhooks/deliveries/"
                                      f"{listed.json()['data'][-1]['id']}/redeliver", headers=it)

            def deliveries() -> None:
                redeliver()
                drive()  # and a new payment's event, in case no delivery could be asked for again yet

            run.points[point] = api.crash_at(point, deliveries if point == "webhook.sent" else drive)
            run.kills += run.points[point]


def random_kills(api: Respawning, kills: int, seed: int, run: CrashRun) -> None:
    """The API SIGKILLed `kills` times at random moments while merchants pay."""
    rng = random.Random(seed)

    def kill_again_and_again() -> None:
        for _ in range(kills):
            time.sleep(rng.uniform(*KILL_AFTER_S))
            api.kill()
            run.kills += 1

    run.tally.add(while_paying(api.stack, "kill", seed, kill_again_and_again))


def channel_outage(stack: Stack, window_s: float, seed: int, run: CrashRun) -> None:
    """Alipay down for `window_s` while merchants pay: every call answered 5xx, every notification
    lost. Payers who paid just before it are learnt by polling once it is back."""
    from juhe.channels.simkit import Faults

    def outage() -> None:
        time.sleep(window_s / 4)  # some payments paid before it: their news is lost in the window
        stack.set_faults(Faults(error_5xx_rate=1.0, lost_notify_rate=1.0), channel="alipay")
        time.sleep(window_s)
        stack.set_faults(Faults(), channel="alipay")
        time.sleep(window_s / 4)

    run.tally.add(while_paying(stack, "outage", seed, outage))


# -- the invariants ------------------------------------------------------------------------------


def check(stack: Stack, tally: Tally) -> Checks:
    from juhe.db.models import LedgerTransaction
    from juhe.ledger import verify_database
    from juhe.payments.models import Payment
    from juhe.webhooks.models import DELIVERIES, EVENTS

    settled = wait_until_settled(stack)
    checks = Checks()
    with stack.db.reader() as session:
        payments = {str(p.id): p for p in session.scalars(select(Payment))}
        txns = set(session.scalars(select(LedgerTransaction.id)))
        deliveries = Counter(dict(session.execute(select(DELIVERIES.c.status, func.count())
                                                  .group_by(DELIVERIES.c.status)).all()))
        event_ids = {str(e) for e in session.scalars(select(EVENTS.c.id))}
    lost = sorted(tally.acknowledged - set(payments))
    undone = sorted(pid for pid in tally.seen_succeeded if payments.get(pid) is None or payments[pid].status != "succeeded")
    kept = sorted(pid for pid in tally.paid if pid not in payments or payments[pid].status != "succeeded")
    half = sorted(pid for pid, p in payments.items()
                  if (p.status == "succeeded") != (p.ledger_txn_id is not None and p.ledger_txn_id in txns))
    received = Counter(e.event_id for e in stack.receiver.events)
    doubled = _doubled(stack.receiver.events)
    open_payments = sorted(pid for pid, p in payments.items() if p.status not in TERMINAL)
    ledger = verify_database(stack.db.engine)
    checks.acknowledged_lost = len(lost) + len(undone)
    checks.deliveries = len(received)
    r = checks.results
    r["acknowledged payments kept"] = (not lost and not undone, f"{len(lost)} lost, {len(undone)} successes undone, e.g. {(lost + undone)[:3]}")
    r["every payment paid succeeded"] = (not kept, f"{len(kept)} paid at the channel, not succeeded, e.g. {kept[:3]}")
    r["nothing half-posted"] = (not half, f"{len(half)} payments whose status and ledger disagree, e.g. {half[:3]}")
    r["every payment ended"] = (settled and not open_payments, f"{len(open_payments)} still open, e.g. {open_payments[:3]}")
    r["every webhook delivered"] = (set(deliveries) <= {"delivered"} and event_ids <= set(received),
                                    f"deliveries {dict(deliveries)}, {len(event_ids - set(received))} events never received")
    r["no event doubled"] = (not doubled, f"{len(doubled)} (payment, type) reported by two events, e.g. {doubled[:3]}")
    r["ledger verifies"] = (ledger.ok, "; ".join(ledger.problems[:3]))
    return checks


def _doubled(events) -> list[tuple[str, str]]:
    """Two distinct events telling the same news about one object: a change applied twice."""
    counts = Counter((e.object_id, e.type) for e in events if e.type.startswith("payment."))
    return [key for key, n in counts.items() if n > 1]


# -- the whole run ------------------------------------------------------------------------------


def run(kills: int = 50, seed: int = 2026, outage_s: float = OUTAGE_S) -> CrashRun:
    """Crash points, `kills` random kills under load, a channel outage, recon and settlement crashed
    and rerun; then the invariants."""
    from juhe.safety import books

    started = time.monotonic()
    with environment(), Stack(stack_options()) as stack:
        api = Respawning(stack)
        result = CrashRun()
        crash_points(api, result, seed)
        random_kills(api, kills, seed, result)
        channel_outage(stack, outage_s, seed, result)
        wait_until_settled(stack)  # recon and settlement read the day's books once they are still
        result.checks.results["subscription cycle collected once"] = books.subscription_cycle(stack, result)
        for point, (first, again) in books.books_closed(api, result).items():
            result.checks.results[f"{point.split('.')[0]} rerun changes nothing"] = (first == again, f"{first} then {again}")
        watch_successes(stack, result.tally)
        after = check(stack, result.tally)
        result.checks.results.update(after.results)
        result.checks.deliveries, result.checks.acknowledged_lost = after.deliveries, after.acknowledged_lost
    result.duration_s = time.monotonic() - started
    return result

