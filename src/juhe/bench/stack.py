"""A running Juhe for benchmarks, chaos runs and end-to-end tests: a database with the demo
merchants, every channel's sandbox, the API with its worker, and the merchant's webhook
receiver, all on localhost, in a temp dir that is removed after.

    with Stack(StackOptions(poll_initial_s=0.5)) as stack:
        stack.set_faults(Faults(lost_notify_rate=0.1))
        payment = stack.api.post("/v1/payments", json=..., headers=stack.key("business", idem="k1")).json()
        stack.pay(payment)
        stack.receiver.wait_for(lambda events: ..., timeout_s=10)

Two layouts:

- `in_process=False` (the default; what benchmarks use): the API and its worker run in a
  subprocess of their own (`python -m juhe.bench.stack api …`, the app built with
  `with_worker=True`, channels reached over HTTP), each sandbox in its own `juhe sandbox <code>`
  process, and the webhook receiver in this process. The load generator then competes with
  the server for cores only as any client would, not for one interpreter lock. With
  `api_processes=N > 1` the API runs as N uvicorn worker processes beside one `juhe worker`.
- `in_process=True` (tests): API + worker in a uvicorn thread, sandboxes hosted by the
  Runtime, as `tests/payments/conftest.py` does.

The database: a SQLite file in the temp dir by default, any SQLAlchemy URL, or
`"postgresql"` for a throwaway PostgreSQL server with its durable defaults.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
from fastapi import FastAPI, Request, Response

from juhe.channels.registry import CHANNELS
from juhe.channels.simkit import Faults, ServerThread, free_port
from juhe.webhooks.signing import verify

CHANNEL_CODES = tuple(CHANNELS)


def channels_for(scenario: str) -> tuple[str, ...]:
    """The channels that take `scenario` payments and that the demo merchants have a contract with."""
    from juhe.channels.registry import adapter_class
    from juhe.demo import CONTRACTS

    return tuple(code for code in CHANNEL_CODES if code in CONTRACTS and scenario in adapter_class(code).scenarios)
THROWAWAY_POSTGRES = "postgresql"  # the database URL that asks for a throwaway server
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
SANDBOX_STOP_TIMEOUT_S = 1.0
HOOK_PATH = "/hook"


class StackError(RuntimeError):
    """The stack could not start."""


@dataclass(frozen=True)
class StackOptions:
    database_url: str | None = None  # None: SQLite in the temp dir; "postgresql": a throwaway server
    in_process: bool = False
    channels: tuple[str, ...] | None = None  # sandboxes to serve (default: every channel's); in process: all
    api_processes: int = 1  # 1: API + worker in one process; more: that many API processes and a `juhe worker`
    poll_initial_s: float = 5.0
    worker_interval_s: float = 1.0
    payment_ttl_s: int = 900
    keep_dir: bool = False  # keep the temp dir (database, logs) after stopping
    postgres_fast: bool = False  # a throwaway server without fsync (tests); benchmarks keep it durable
    pgbouncer: bool = False  # a throwaway PostgreSQL reached through a throwaway PgBouncer (transaction pooling)
    respawning_api: bool = False  # the API (one process, with its worker) forked again whenever it dies (juhe.safety.respawn)


# -- the merchant's webhook receiver ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    received_at: float  # time.perf_counter() when the request was read, in this process
    event_id: str
    type: str
    object_id: str  # data.id: the payment (or refund) the event is about
    status: str | None
    verified: bool  # Juhe-Signature checks out under the endpoint's secret
    body: bytes


class Receiver:
    """The merchant's endpoint: checks every delivery's signature and records each event once
    (deliveries are at least once; `Juhe-Event-Id` deduplicates). `on_event` is called in the
    receiver's thread for every new event."""

    def __init__(self, on_event: Callable[[WebhookEvent], None] | None = None):
        self.secret: str | None = None  # set once the endpoint is registered
        self.on_event = on_event
        self.events: list[WebhookEvent] = []
        self.deliveries = 0
        self.down = False  # True: the merchant's server is out, every delivery is answered 503
        self.refused = 0
        self._seen: set[str] = set()
        self._changed = threading.Condition()
        self.server = ServerThread(self._app())

    @property
    def url(self) -> str:
        return f"{self.server.base_url}{HOOK_PATH}"

    def _app(self):
        app = FastAPI()

        @app.post(HOOK_PATH)
        async def hook(request: Request) -> Response:
            if self.down:
                with self._changed:
                    self.refused += 1
                return Response(b"down for maintenance", status_code=503)
            body = await request.body()
            received_at = time.perf_counter()
            verified = self.secret is not None and verify(self.secret, request.headers.get("juhe-signature", ""), body)
            event = json.loads(body)
            data = event.get("data") or {}
            record = WebhookEvent(received_at, event.get("id", ""), event.get("type", ""), str(data.get("id", "")),
                                  data.get("status"), verified, body)
            with self._changed:
                self.deliveries += 1
                new = record.event_id not in self._seen
                if new:
                    self._seen.add(record.event_id)
                    self.events.append(record)
                self._changed.notify_all()
            if new and self.on_event is not None:
                self.on_event(record)
            return Response(b'{"ok":true}', media_type="application/json")

        return app

    def stop(self) -> None:
        # Gracefully: nothing is held open here, and a forced exit would cancel the lifespan noisily.
        if self.server.thread.is_alive():
            self.server.server.should_exit = True
            self.server.thread.join(timeout=STOP_TIMEOUT_S)

    def wait_for(self, done: Callable[[list[WebhookEvent]], bool], timeout_s: float) -> bool:
        """Wait until `done(events)` holds; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def of(self, object_id: str, type: str | None = None) -> list[WebhookEvent]:
        with self._changed:
            return [e for e in self.events if e.object_id == object_id and (type is None or e.type == type)]


# -- the stack -------------------------------------------------------------------------------


@dataclass
class Stack:
    options: StackOptions = field(default_factory=StackOptions)
    on_event: Callable[[WebhookEvent], None] | None = None

    def __post_init__(self) -> None:
        self.dir: Path | None = None
        self.database_url: str = ""
        self.api_url: str = ""
        self.sandbox_urls: dict[str, str] = {}
        self.merchants: list[dict] = []
        self.server_env: dict[str, str] = {}  # what the server processes run with (another process of theirs would too)
        self.receiver = Receiver(self.on_event)
        self.db = None  # juhe.db.engine.Database, for inspection
        self.api: httpx.Client | None = None
        self._processes: list[tuple[str, subprocess.Popen]] = []
        self._postgres = None
        self._pgbouncer = None
        self._server: ServerThread | None = None
        self._runtime = None

    # -- lifecycle

    def start(self) -> Stack:
        from juhe.bench import baseline
        from juhe.db.engine import Database
        from juhe.demo import seed_demo

        self.dir = Path(tempfile.mkdtemp(prefix="juhe-stack-"))
        (self.dir / "metrics").mkdir()
        try:
            self.database_url = self._database_url()
            self.db = Database(self.database_url)  # migrates before any server opens it
            seeded = seed_demo(self.db, self.dir / "keys.json")
            baseline.create_table(self.db)
            self.merchants = seeded["merchants"]
            if self.options.in_process:
                self._start_in_process()
            else:
                self._start_processes()
            self.receiver.server.start()
            self.api = httpx.Client(base_url=self.api_url, timeout=120)
            endpoint = self.api.post("/v1/webhooks/endpoints", json={"url": self.receiver.url}, headers=self.key("it"))
            if endpoint.status_code != 201:
                raise StackError(f"could not register the webhook endpoint: {endpoint.status_code} {endpoint.text}")
            self.receiver.secret = endpoint.json()["secret"]
        except BaseException:
            self.stop()
            raise
        return self

    def _database_url(self) -> str:
        url = self.options.database_url
        if url is None:
            return f"sqlite:///{self.dir / 'juhe.db'}"
        if url != THROWAWAY_POSTGRES:
            return url
        from juhe.db.temp_pgbouncer import TempPgBouncer
        from juhe.db.temp_postgres import TempPostgres

        try:
            self._postgres = TempPostgres(fast=self.options.postgres_fast)
            if self.options.pgbouncer:
                self._pgbouncer = TempPgBouncer(self._postgres)
                return self._pgbouncer.url
        except Exception as e:  # noqa: BLE001 -- whatever stopped it, say so plainly
            raise StackError(f"could not start a throwaway PostgreSQL: {type(e).__name__}: {e}") from e
        return self._postgres.url

    def _settings_env(self, api_port: int, sandbox_base_port: int) -> dict[str, str]:
        from juhe.pii.keyring import default_path

        o = self.options
        return {
            "JUHE_PII_KEYRING_FILE": str(default_path()),  # one deployment, one keyring: this process reads their rows
            "JUHE_DATABASE_URL": self.database_url,
            "JUHE_DATA_DIR": str(self.dir / "data"),
            "JUHE_CHANNEL_MODE": "sandbox",
            "JUHE_SANDBOX_BASE_PORT": str(sandbox_base_port),
            "JUHE_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "JUHE_API_PORT": str(api_port),
            "JUHE_POS_GATEWAY_PORT": "0",  # several API processes: each serves terminals on a port of its own
            "JUHE_POLL_INITIAL_S": str(o.poll_initial_s),
            "JUHE_WORKER_INTERVAL_S": str(o.worker_interval_s),
            "JUHE_PAYMENT_TTL_S": str(o.payment_ttl_s),
            "JUHE_LOG_LEVEL": "warning",
            "JUHE_WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the merchant's receiver runs on this machine
            "PROMETHEUS_MULTIPROC_DIR": str(self.dir / "metrics"),  # every server process's figures, summed
        }

    def _start_in_process(self) -> None:
        from juhe.api.app import create_app
        from juhe.bench import baseline
        from juhe.config import Settings, get_settings
        from juhe.runtime import Runtime

        # The merchant's receiver runs on this machine (the API reads the process's settings).
        get_settings().webhook_allow_private_urls = True
        api_port = free_port()
        o = self.options
        settings = Settings(
            database_url=self.database_url, data_dir=self.dir / "data", sandbox_base_port=0,
            public_base_url=f"http://127.0.0.1:{api_port}", poll_initial_s=o.poll_initial_s,
            worker_interval_s=o.worker_interval_s, payment_ttl_s=o.payment_ttl_s, webhook_allow_private_urls=True,
        )
        self._runtime = Runtime(settings, self.db, host_sandboxes=True)
        self.sandbox_urls = {code: running.server.base_url for code, running in self._runtime.sandboxes.items()}
        app = create_app(self.db, self._runtime, with_worker=True)
        baseline.add_route(app, self.db)
        self._server = ServerThread(app, api_port).start()
        self.api_url = self._server.base_url

    def _start_processes(self) -> None:
        api_port, base = free_port(), _free_port_run(len(CHANNEL_CODES))
        env = self.server_env = {**os.environ, **self._settings_env(api_port, base)}
        # The sandboxes first: they create the channel keys that the API then reads. A channel
        # without a served sandbox is configured all the same; calls to it fail to connect.
        for i, code in enumerate(CHANNEL_CODES):
            if self.options.channels is not None and code not in self.options.channels:
                continue
            port = base + i
            self._spawn(f"sandbox-{code}", [sys.executable, "-c", "from juhe.cli import app; app()", "sandbox", code,
                                            "--port", str(port)], env)
            self.sandbox_urls[code] = f"http://127.0.0.1:{port}"
        for code, url in self.sandbox_urls.items():
            self._wait_ready(f"sandbox-{code}", f"{url}/sandbox/faults")
        # The database is migrated already: the API processes only open it.
        processes = self.options.api_processes
        if self.options.respawning_api:  # the fault proofs kill it; its parent forks it again
            assert processes == 1, "one API process with its worker is what respawns"
            self._spawn("api", [sys.executable, "-m", "juhe.safety.respawn", "--port", str(api_port),
                                "--arm-file", str(self.arm_file)], env)
        else:
            self._spawn("api", [sys.executable, "-m", "juhe.bench.stack", "api", "--port", str(api_port),
                                "--processes", str(processes)], env)
        self.api_url = f"http://127.0.0.1:{api_port}"
        self._wait_ready("api", f"{self.api_url}/readyz")
        if processes > 1:
            self._spawn("worker", [sys.executable, "-c", "from juhe.cli import app; app()", "worker"], env)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115 -- the child owns it
        try:
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self._processes.append((name, process))

    def _wait_ready(self, name: str, url: str) -> None:
        process = dict(self._processes)[name]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}: {self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise StackError(f"{name} did not become ready in {START_TIMEOUT_S:g} s: {self.log_tail(name)}")

    @property
    def arm_file(self) -> Path:
        """Where `juhe.safety.respawn` reads the crash point to arm in its next API process."""
        return self.dir / "crash-arm"

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.dir / f"{name}.log" if self.dir else None
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def server_pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each server process and by this one
        ("client": load generator and receiver; in-process stacks count everything here)."""
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {"client": usage.ru_utime + usage.ru_stime}
        stats = _proc_stats()
        for name, process in self._processes:
            family = _descendants(process.pid, stats)  # uvicorn's worker processes, say
            cpu[name] = sum(stats[pid][1] for pid in family if pid in stats)
        return cpu

    def metrics(self) -> list:
        """Prometheus samples summed over the API and worker processes (an in-process stack: this
        process's), read at one moment: compare figures from one call, not from two."""
        from prometheus_client import REGISTRY, CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = REGISTRY
        if not self.options.in_process:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(self.dir / "metrics"))
        return [sample for family in registry.collect() for sample in family.samples]

    def metric(self, sample: str, samples: list | None = None, **labels: str) -> float:
        """One sample's value, e.g. `metric("juhe_db_commits_total")`, from `samples` or a fresh read."""
        return sum(s.value for s in (self.metrics() if samples is None else samples)
                   if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))

    def log_count(self, texts: tuple[str, ...], names: tuple[str, ...] = ("api", "worker")) -> int | None:
        """How many lines of these server processes' logs contain one of `texts` (None: no logs,
        as with an in-process stack)."""
        paths = [self.dir / f"{name}.log" for name in names] if self.dir else []
        paths = [path for path in paths if path.exists()]
        if not paths:
            return None
        count = 0
        for path in paths:
            with path.open(errors="replace") as log:
                count += sum(any(text in line for text in texts) for line in log)
        return count

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        for name, process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for name, process in reversed(self._processes):
            try:
                # A sandbox keeps nothing worth a graceful exit, and one injecting timeouts holds
                # requests open on purpose: waiting for those would only add seconds to every run.
                process.wait(timeout=SANDBOX_STOP_TIMEOUT_S if name.startswith("sandbox-") else STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._runtime is not None:
            for running in self._runtime.sandboxes.values():
                running.stop()
            self._runtime = None
        self.receiver.stop()
        if self.db is not None:
            self.db.dispose()
            self.db = None
        if self._pgbouncer is not None:
            self._pgbouncer.stop()
            self._pgbouncer = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        if self.dir is not None and not self.options.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- using it

    def key(self, role: str, merchant: int = 0, idem: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.merchants[merchant]['api_keys'][role]}"}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers

    def set_faults(self, faults: Faults | dict, channel: str | None = None) -> None:
        """Change fault injection of one sandbox, or of every sandbox."""
        body = faults.model_dump() if isinstance(faults, Faults) else Faults.model_validate(faults).model_dump()
        for code in [channel] if channel else self.sandbox_urls:
            answer = httpx.put(f"{self.sandbox_urls[code]}/sandbox/faults", json=body, timeout=10)
            answer.raise_for_status()

    def pay(self, payment: dict, outcome: str = "success") -> httpx.Response:
        """The payer: open what the payment asks for (page, form, wallet), then pay at the sandbox."""
        base = self.sandbox_urls[payment["channel"]]
        for request in browser_requests(payment.get("next_action"), base):
            httpx.request(**request, timeout=30)
        return httpx.post(f"{base}/sandbox/pay/{payment['channel_order_no']}", json={"outcome": outcome}, timeout=30)

    def sandbox_order(self, channel: str, order_no: str) -> dict | None:
        answer = httpx.get(f"{self.sandbox_urls[channel]}/sandbox/orders/{order_no}", timeout=30)
        return None if answer.status_code == 404 else answer.raise_for_status().json()

    def sandbox_dir(self, channel: str) -> Path:
        """Where a channel's sandbox keeps its keys (every layout: the API reads them there too)."""
        return self.dir / "data" / "sandbox" / channel

    def deposit(self, amount_minor: int, merchant: int = 0, currency: str = "CNY") -> None:
        """Funds the merchant already holds with Juhe (Dr reserve:bank, Cr its payable), posted
        directly in the ledger: payments out are held against this balance when accepted."""
        from juhe.ledger import ensure_account, payable_code, post, transfer
        from juhe.ledger.accounts import BANK_RESERVE

        merchant_id = uuid.UUID(self.merchants[merchant]["id"])
        with self.db.session() as session, session.begin():
            conn = session.connection()
            payable = ensure_account(conn, payable_code(merchant_id), currency, merchant_id=merchant_id, no_overdraft=True)
            reserve = ensure_account(conn, BANK_RESERVE, currency, owner_type="platform")
            post(conn, transfer(f"deposit:{uuid.uuid4()}", reserve, payable, amount_minor, merchant_id=merchant_id))


def browser_requests(action: dict | None, sandbox_base: str) -> Iterator[dict]:
    """What the payer's browser or wallet sends first (as httpx.request keyword arguments):
    some channels book the order only when their page is opened (Alipay page/wap/app pay) or
    their form is submitted (UnionPay's front gateway). A QR payment needs nothing."""
    if not action:
        return
    if action["type"] == "app" and "order_string" in (action.get("app_params") or {}):
        gateway = f"{sandbox_base}/gateway.do"
        yield {"method": "GET", "url": f"{gateway}?{action['app_params']['order_string']}"}
    elif action["type"] == "redirect":
        yield {"method": "GET", "url": action["redirect_url"]}
    elif action["type"] == "form":
        target = re.search(r'action="([^"]+)"', action["form_html"]).group(1)
        fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', action["form_html"]))
        yield {"method": "POST", "url": html.unescape(target), "data": {k: html.unescape(v) for k, v in fields.items()}}


def _proc_stats() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, CPU seconds used) of every process, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)  # ppid, utime + stime
    return stats


def _descendants(pid: int, stats: dict[int, tuple[int, float]]) -> set[int]:
    family, grown = {pid}, True
    while grown:
        children = {p for p, (parent, _) in stats.items() if parent in family} - family
        family |= children
        grown = bool(children)
    return family


def _free_port_run(count: int, attempts: int = 50) -> int:
    """A first port of `count` consecutive free ports (the sandboxes sit at base + index)."""
    import socket

    for _ in range(attempts):
        base = free_port()
        if base + count > 65_535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise StackError(f"found no {count} consecutive free ports")


# -- `python -m juhe.bench.stack api --port P [--processes N]`: the API, configured from JUHE_* -


def api_app(with_worker: bool = True, db=None):
    """The API, channels reached over HTTP at their sandboxes' ports (`juhe serve` would host
    the sandboxes in-process and run no worker); on `db` (juhe.db.engine.Database) if given."""
    from juhe.api.app import create_app
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.runtime import Runtime

    from juhe.bench import baseline

    settings = get_settings()
    db = db or Database(settings.database_url)
    app = create_app(db, Runtime(settings, db, host_sandboxes=False), with_worker=with_worker)
    baseline.add_route(app, db)
    return app


def api_app_without_worker():
    return api_app(with_worker=False)


def serve_api(port: int, processes: int = 1) -> None:
    """One process: the API with its worker. Several: that many API processes, as `juhe serve
    --workers N` runs them (run `juhe worker` beside them)."""
    import uvicorn

    from juhe.config import get_settings
    from juhe.serve import serve

    if processes == 1:
        uvicorn.run(api_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        serve(get_settings(), "127.0.0.1", port, processes, factory="juhe.bench.stack:api_app_without_worker")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m juhe.bench.stack")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the API (settings from JUHE_* variables)")
    api.add_argument("--port", type=int, required=True)
    api.add_argument("--processes", type=int, default=1,
                     help="1: API and worker in this process; more: API processes only (run `juhe worker` too)")
    args = parser.parse_args(argv)
    if args.command == "api":
        serve_api(args.port, args.processes)


if __name__ == "__main__":
    main()
