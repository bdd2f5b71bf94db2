"""`python -m juhe.safety.respawn --port P --arm-file F`: the API with its worker, as
`juhe.bench.stack` serves it, in a child forked from this process and forked again the moment it
dies — so that a test can SIGKILL it fifty times in a minute.

Starting a fresh interpreter costs seconds of imports and of loading every channel's keys; so the
parent builds the app once (database, channels, risk model, routes) and each child inherits it,
drops the pooled connections it inherited unused (SQLAlchemy's rule for a fork) and starts from
there as a restarted process would: its own connections, event loop, HTTP pool and worker loop.

Before each fork the parent reads (and deletes) the arm file: a crash point named there is
armed in that child only (`JUHE_CRASH_AT`), so the one after it runs unarmed."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from juhe.safety.crashpoints import ENV as CRASH_ENV


def read_arming(arm_file: Path) -> str | None:
    try:
        text = arm_file.read_text().strip()
    except FileNotFoundError:
        return None
    arm_file.unlink(missing_ok=True)
    return text or None


def serve_forever(port: int, arm_file: Path) -> None:
    import uvicorn

    from juhe.bench.stack import api_app
    from juhe.config import get_settings
    from juhe.db.engine import Database

    db = Database(get_settings().database_url)
    app = api_app(db=db)
    db.engine.dispose()  # the parent keeps no connection a child could share
    stopping = False
    child = 0

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        if child:
            os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        armed = read_arming(arm_file)
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if armed:
                os.environ[CRASH_ENV] = armed
            db.engine.dispose(close=False)
            uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
            os._exit(0)
        os.waitpid(child, 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m juhe.safety.respawn")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--arm-file", type=Path, required=True)
    args = parser.parse_args(argv)
    serve_forever(args.port, args.arm_file)


if __name__ == "__main__":
    main()
