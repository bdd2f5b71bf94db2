"""Store terminals → Juhe's terminal gateway → acquirer link → sandbox host, all over ISO 8583.

What the gateway reports to the core, what it refuses (and that a refusal changes nothing),
reversals from either side, and after a whole session: no PAN or track 2 anywhere — not in the
logs, not in the core's database, not in any file written, not in what the host keeps.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from juhe.channels.base import ChargeSucceeded, Declined
from juhe.channels.pos import link, signing, wire
from juhe.channels.pos.adapter import PosChannel, PosConfig
from juhe.channels.pos.gateway import Terminal, TerminalGateway, TerminalReversal, TerminalSale
from juhe.channels.pos.sandbox import TEST_CARDS, PosSandbox
from juhe.channels.pos.terminal import TerminalSimulator
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import Faults

CALM = Faults()
TOKEN_KEY = secrets.token_bytes(signing.TOKEN_KEY_BYTES)
KEYS = {tid: secrets.token_bytes(signing.MAC_KEY_BYTES) for tid in ("POS00001", "POS00002")}
TERMINALS = {tid: Terminal(tid, key) for tid, key in KEYS.items()}


async def lookup(terminal_id: str) -> Terminal | None:
    return TERMINALS.get(terminal_id)
APPROVE = TEST_CARDS["approve"].track2
PANS = [card.track2.split("=")[0] for card in TEST_CARDS.values()]


class CoreStub:
    """Stands in for the payments core: keeps what the gateway reports in a SQLite table."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.execute("create table pos_events (kind, order_no, terminal_id, amount_minor, card_token, card_display,"
                        " outcome, channel_txn_id, authorisation_no)")  # fmt: skip
        self.events: list[TerminalSale | TerminalReversal] = []
        self.failing = False

    async def record(self, event: TerminalSale | TerminalReversal) -> None:
        if self.failing:
            raise RuntimeError("database unavailable")
        self.events.append(event)
        if isinstance(event, TerminalReversal):
            row = ("reversal", event.order_no, event.terminal_id, event.amount.amount_minor, None, None, None, None, None)
        else:
            outcome = event.outcome
            code = "00" if isinstance(outcome, ChargeSucceeded) else outcome.code
            txn = outcome.status.channel_txn_id if isinstance(outcome, ChargeSucceeded) else None
            row = (event.kind, event.order_no, event.terminal_id, event.amount.amount_minor, event.card_token,
                   event.card_display, code, txn, event.authorisation_no)  # fmt: skip
        self.db.execute("insert into pos_events values (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        self.db.commit()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_sandbox("pos", tmp_path_factory.mktemp("pos-host"), CALM)
    yield running.sandbox
    running.stop()


@pytest.fixture(autouse=True)
def calm(sandbox):
    sandbox.injector.configure(CALM)
    yield
    sandbox.injector.configure(CALM)


@pytest.fixture(scope="module")
def runner():
    with asyncio.Runner() as runner:
        yield runner


class Store:
    """One gateway in front of the acquirer link, the core behind it, terminals in front."""

    def __init__(self, sandbox: PosSandbox, runner: asyncio.Runner, tmp_path: Path, **link_settings):
        self.sandbox, self.runner = sandbox, runner
        self.core = CoreStub(tmp_path / "core.sqlite")
        settings = {"timeout_s": 0.5, "repeat_attempts": 2, "outbox_file": tmp_path / "outbox.json"} | link_settings
        self.channel = PosChannel(PosConfig.model_validate(sandbox.client_config() | settings))
        self.gateway = TerminalGateway(self.channel, lookup, TOKEN_KEY, self.core.record, heartbeat_s=0.2)
        self.port = runner.run(self.gateway.start())

    def terminal(self, terminal_id: str = "POS00001", key: bytes | None = None, timeout_s: float = 3.0) -> TerminalSimulator:
        return TerminalSimulator("127.0.0.1", self.port, terminal_id, self.sandbox.merchant_id,
                                 key or KEYS.get(terminal_id, bytes(16)), timeout_s=timeout_s)  # fmt: skip

    def run(self, coroutine):
        return self.runner.run(coroutine)

    def raw_exchange(self, fields: wire.Fields, key: bytes | None = None) -> wire.Fields:
        client = link.IsoClient("127.0.0.1", self.port, key or KEYS[fields["41"]], 2.0)
        return self.run(client.exchange(fields))

    def signed_on(self, terminal_id: str = "POS00001") -> None:
        now = datetime.now(timezone.utc)
        message = wire.network(wire.SIGN_ON, link.TraceNumbers().next(now), terminal_id, self.sandbox.merchant_id)
        assert self.raw_exchange(message)["39"] == "00"


@pytest.fixture
def store(sandbox, runner, tmp_path):
    store = Store(sandbox, runner, tmp_path)
    yield store
    runner.run(store.gateway.stop())


def purchase_message(sandbox: PosSandbox, terminal_id: str = "POS00001", **fields: str) -> wire.Fields:
    now = datetime.now(timezone.utc)
    message = wire.card_request("0200", link.TraceNumbers().next(now), terminal_id, sandbox.merchant_id, 700,
                                wire.card_of(APPROVE), "021", now)  # fmt: skip
    return {k: v for k, v in (message | fields).items() if v != ""}


def state(sandbox: PosSandbox) -> tuple[dict[str, int], int]:
    return {n: sandbox.balance_minor(n) for n in TEST_CARDS if n != "bad_check_digit"}, len(sandbox.book.orders)


async def until(condition, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- sales


def test_a_purchase_is_forwarded_with_the_card_tokenised_and_recorded(store, sandbox):
    before = sandbox.balance_minor("approve")
    receipt = store.run(store.terminal().purchase(1234, APPROVE))
    assert receipt.approved and len(receipt.rrn) == 12 and len(receipt.auth_code) == 6
    assert receipt.card == "622202******0015"
    [sale] = store.core.events
    assert isinstance(sale, TerminalSale) and sale.kind == "purchase" and sale.terminal_id == "POS00001"
    assert sale.order_no == f"TPOS00001{datetime.now(timezone.utc):%y}{receipt.transmitted}{receipt.stan}"
    assert sale.card_display == "622202******0015" and sale.card_token.startswith("tok_")
    assert isinstance(sale.outcome, ChargeSucceeded) and sale.outcome.status.channel_txn_id == receipt.rrn
    assert sandbox.book.get(sale.order_no).state == "succeeded"
    assert sandbox.balance_minor("approve") == before - 1234
    again = store.run(store.terminal().purchase(100, APPROVE))
    other = store.run(store.terminal().purchase(100, TEST_CARDS["low_balance"].track2))
    assert again.approved and other.approved
    tokens = [event.card_token for event in store.core.events]
    assert tokens[0] == tokens[1] != tokens[2]  # the same card, the same token; a keyed hash, never the PAN


def test_a_declined_card_is_answered_and_recorded_as_declined(store, sandbox):
    receipt = store.run(store.terminal().purchase(50_000, TEST_CARDS["low_balance"].track2))
    assert (receipt.code, receipt.text) == ("51", "insufficient funds")
    [sale] = store.core.events
    assert sale.outcome == Declined("51", "insufficient funds")


def test_authorisation_then_completion_captures_only_what_was_completed(store, sandbox):
    before = sandbox.balance_minor("approve")
    terminal = store.terminal()
    authorisation = store.run(terminal.authorise(10_000, APPROVE))
    assert authorisation.approved and sandbox.balance_minor("approve") == before - 10_000
    completion = store.run(terminal.complete(authorisation, 8_000))
    assert completion.approved
    hold, capture = store.core.events
    assert (hold.kind, hold.amount.amount_minor, hold.card_display) == ("authorisation", 10_000, "622202******0015")
    assert (capture.kind, capture.amount.amount_minor, capture.card_token) == ("completion", 8_000, None)
    assert capture.authorisation_no == hold.order_no  # the core finds the card, and the hold to capture, there
    assert sandbox.book.get(hold.order_no).extra["completed_by"] == capture.order_no
    assert sandbox.balance_minor("approve") == before - 8_000  # the rest of the hold released
    twice = store.run(terminal.complete(authorisation, 1_000))
    assert (twice.code, twice.text) == ("12", "invalid transaction") and len(store.core.events) == 2


def test_a_completion_of_a_declined_or_unknown_authorisation_is_refused(store, sandbox):
    before = state(sandbox)
    declined = store.run(store.terminal().authorise(100, TEST_CARDS["do_not_honour"].track2))
    assert store.run(store.terminal().complete(replace(declined, auth_code="123456"), 100)).code == "12"
    unknown = replace(declined, auth_code="123456", stan=f"{(int(declined.stan) + 500_000) % 999_999:06d}")
    assert store.run(store.terminal().complete(unknown, 100)).code == "25"
    assert state(sandbox)[0] == before[0] and [e.kind for e in store.core.events] == ["authorisation"]


def test_a_completion_advice_without_answer_is_queued_and_delivered_by_the_heartbeat(store, sandbox):
    terminal = store.terminal()
    authorisation = store.run(terminal.authorise(5_000, APPROVE))
    sandbox.injector.configure(Faults(error_5xx_rate=1.0))  # every advice answered 96: not acknowledged
    completion = store.run(terminal.complete(authorisation, 5_000))
    assert completion.approved  # an advice reports what the issuer approved; it is delivered later
    _, sale = store.core.events
    assert sale.order_no in store.channel.link.outbox
    sandbox.injector.configure(CALM)
    store.run(until(lambda: sale.order_no not in store.channel.link.outbox))
    assert sandbox.book.get(sale.order_no).state == "succeeded"


# --- refusals change nothing


def test_an_unknown_terminal_is_refused_97_and_nothing_changes(store, sandbox):
    before = state(sandbox)
    receipt = store.run(store.terminal("POS09999").purchase(1234, APPROVE))
    assert receipt.code == "97" and "terminal not registered" in receipt.text
    with pytest.raises(link.LinkError) as error:  # straight to a purchase, no sign-on: the same answer
        store.raw_exchange(purchase_message(sandbox, "POS09999"), key=secrets.token_bytes(16))
    assert error.value.code == "97"
    assert store.core.events == [] and state(sandbox) == before


def test_a_wrong_mac_key_is_refused_a0_and_nothing_changes(store, sandbox):
    before = state(sandbox)
    receipt = store.run(store.terminal("POS00002", key=secrets.token_bytes(16)).purchase(1234, APPROVE))
    assert receipt.code == "A0"
    assert store.core.events == [] and state(sandbox) == before


@pytest.mark.parametrize(("fields", "code", "reason"), [
    ({"49": "840"}, "30", "field 49 is not 156 (CNY)"),
    ({"35": ""}, "30", "field 35 missing"),
    ({"4": "000000000000"}, "30", "field 4 is zero"),
    ({"2": "6222020000000023"}, "30", "fields 2 and 35 differ"),
    ({"42": "898310058129999"}, "03", "invalid merchant"),
    ({"3": "200000", "2": "", "35": "", "22": "", "48": "0102R1"}, "58", "not allowed at terminals"),
    ({"t": "0600", "2": "", "3": "", "4": "", "12": "", "13": "", "22": "", "35": "", "49": "", "48": "0102P1"}, "58",
     "not allowed at terminals"),
])  # fmt: skip
def test_bad_messages_are_refused_with_the_reason_and_change_nothing(store, sandbox, fields, code, reason):
    store.signed_on()
    before = state(sandbox)
    answer = store.raw_exchange(purchase_message(sandbox, **fields))
    assert (answer["39"], answer["44"]) == (code, reason)
    assert "2" not in answer and "35" not in answer
    assert store.core.events == [] and state(sandbox) == before


def test_a_terminal_must_sign_on_first(store, sandbox):
    before = state(sandbox)
    answer = store.raw_exchange(purchase_message(sandbox))
    assert answer["39"] == "77" and state(sandbox) == before
    assert store.run(store.terminal().purchase(100, APPROVE)).approved  # the terminal signs on by itself


@pytest.mark.parametrize("garbage", [b"\x00\x05hello", b"\x7f\xffxxxx", b"\x00\x00"])
def test_garbage_bytes_close_the_connection_and_the_gateway_serves_on(store, sandbox, garbage):
    before = state(sandbox)

    async def send():
        reader, writer = await asyncio.open_connection("127.0.0.1", store.port)
        writer.write(garbage)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 2.0)
        writer.close()
        return answer

    assert store.run(send()) == b""
    assert store.core.events == [] and state(sandbox) == before
    assert store.run(store.terminal().purchase(100, APPROVE)).approved


# --- reversals, from either side


def test_no_answer_from_the_acquirer_reverses_there_and_the_terminal_is_told_91(store, sandbox):
    store.run(store.channel.query("warmup"))  # the link signs on before the fault
    before, orders = state(sandbox)

    async def purchase_while_the_host_goes_quiet():
        sandbox.injector.configure(Faults(timeout_rate=1.0))
        attempt = asyncio.create_task(store.terminal().purchase(1234, APPROVE))
        await until(lambda: len(sandbox.book.orders) > orders)  # taken, never answered
        sandbox.injector.configure(CALM)  # the reversal gets through
        return await attempt

    receipt = store.run(purchase_while_the_host_goes_quiet())
    assert receipt.code == "91" and not receipt.approved
    order = list(sandbox.book.orders.values())[-1]
    assert order.state == "closed"  # approved by the host, then reversed
    assert state(sandbox)[0] == before and store.core.events == []


def test_a_terminal_that_gives_up_reverses_and_the_late_approval_is_undone(sandbox, runner, tmp_path):
    store = Store(sandbox, runner, tmp_path, timeout_s=3.0)
    try:
        store.run(store.channel.query("warmup"))
        before = state(sandbox)[0]
        sandbox.injector.configure(Faults(latency_ms=800))
        receipt = store.run(store.terminal(timeout_s=0.3).purchase(1234, APPROVE))
        assert receipt.reversed and not receipt.approved
        order_no = f"TPOS00001{datetime.now(timezone.utc):%y}{receipt.transmitted}{receipt.stan}"
        store.run(until(lambda: getattr(sandbox.book.get(order_no), "state", None) == "closed"))
        assert state(sandbox)[0] == before and store.core.events == []
    finally:
        runner.run(store.gateway.stop())


def test_a_terminal_reversal_of_a_recorded_purchase_reaches_host_and_core(store, sandbox):
    before = sandbox.balance_minor("approve")
    terminal = store.terminal()
    receipt = store.run(terminal.purchase(1234, APPROVE))
    original = {"t": "0200", "11": receipt.stan, "7": receipt.transmitted, "41": "POS00001",
                "42": sandbox.merchant_id, "3": "000000", "4": "000000001234", "49": "156"}  # fmt: skip
    reversal = wire.reversal_of(original, terminal.link.trace.next(datetime.now(timezone.utc)))
    assert store.run(terminal.link.reverse(reversal))
    sale, reversed_ = store.core.events
    assert isinstance(reversed_, TerminalReversal) and reversed_.order_no == sale.order_no
    assert sandbox.book.get(sale.order_no).state == "closed" and sandbox.balance_minor("approve") == before


def test_an_approval_the_core_cannot_record_is_reversed_and_answered_96(store, sandbox):
    before = sandbox.balance_minor("approve")
    store.core.failing = True
    receipt = store.run(store.terminal().purchase(1234, APPROVE))
    assert (receipt.code, receipt.approved) == ("96", False)
    assert list(sandbox.book.orders.values())[-1].state == "closed"
    assert sandbox.balance_minor("approve") == before


# --- the terminal's command line


def test_terminal_command_line_pays_and_prints_only_the_masked_card(sandbox, runner, tmp_path):
    # A subprocess starts slowly on a loaded machine: the link waits longer than the fault tests' 0.5 s.
    store = Store(sandbox, runner, tmp_path, timeout_s=5.0)
    key_file = tmp_path / "pos00001.hex"
    key_file.write_text(KEYS["POS00001"].hex())

    async def pay():
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "juhe.channels.pos.terminal", "--gateway", f"127.0.0.1:{store.port}",
            "--terminal", "POS00001", "--merchant", store.sandbox.merchant_id, "--mac-key-file", str(key_file),
            "purchase", "12.34", "--card", "approve", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 20)
        return process.returncode, out.decode()

    try:
        code, out = store.run(pay())
    finally:
        runner.run(store.gateway.stop())
    assert code == 0 and "APPROVED 00 approved" in out and "622202******0015" in out
    assert not any(pan in out for pan in PANS)


# --- no clear card data anywhere after a run


def test_no_pan_or_track_data_anywhere_after_a_run(sandbox, runner, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    store = Store(sandbox, runner, tmp_path)
    try:
        run_a_busy_day(store, sandbox)
        store.run(store.gateway.stop())
        out, err = capfd.readouterr()
        assert "pos.gateway_answered" in out + err  # the logs were captured
        settlement = store.run(store.channel.download_statement(wire.settlement_day(datetime.now(timezone.utc))))
        (tmp_path / "settlement.csv").write_bytes(settlement)
        places = {"stdout": out, "stderr": err, "logging": caplog.text, "core events": repr(store.core.events),
                  "host records": repr(sandbox.book.orders), "outbox": repr(store.channel.link.outbox.items())}
        places |= {str(p): p.read_bytes().decode("latin-1") for p in files_under(tmp_path, sandbox)}
        database = "\n".join(map(repr, store.core.db.execute("select * from pos_events")))
        places["core database"] = database
        for place, text in places.items():
            for pan in PANS:
                assert pan not in text, f"a clear PAN in {place}"
            assert "=3012" not in text and "=2001" not in text, f"track 2 data in {place}"
        assert "622202******0015" in database and "622202******0015" in settlement.decode()  # BIN + last four only
    finally:
        runner.run(store.gateway.stop())


def run_a_busy_day(store: Store, sandbox: PosSandbox) -> None:
    for card in TEST_CARDS.values():
        store.run(store.terminal().purchase(2_000, card.track2))
    terminal = store.terminal("POS00002")
    authorisation = store.run(terminal.authorise(9_000, APPROVE))
    store.run(terminal.complete(authorisation, 7_000))
    store.run(store.terminal("POS09999").purchase(100, APPROVE))
    store.run(store.terminal("POS00002", key=bytes(16)).purchase(100, APPROVE))
    sandbox.injector.configure(Faults(timeout_rate=1.0))
    store.run(store.terminal().purchase(300, APPROVE))
    sandbox.injector.configure(Faults(duplicate_notify_rate=1.0, latency_ms=10))
    store.run(store.terminal().purchase(400, APPROVE))
    sandbox.injector.configure(CALM)
    store.run(store.channel.flush())
    store.core.failing = True
    store.run(store.terminal().purchase(500, APPROVE))
    store.core.failing = False


def files_under(tmp_path: Path, sandbox: PosSandbox) -> list[Path]:
    roots = [tmp_path, Path(sandbox.mac_key_file).parent]
    return [p for root in roots for p in root.rglob("*") if p.is_file()]
