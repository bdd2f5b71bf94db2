"""The console's server-sent events against a live uvicorn: figures every interval, alerts
as they are raised (only the caller's), resumption by Last-Event-ID, and a clean stop when
the client goes away."""

from __future__ import annotations

import json
import time

import httpx

from juhe.channels.simkit import ServerThread
from juhe.monitor import raise_alert, stream

def events(response: httpx.Response):
    """(event, id, data) for each server-sent event; comments and bare `retry:` frames skipped."""
    name, event_id, data = None, None, []
    for line in response.iter_lines():
        if line == "":
            if name is not None:
                yield name, event_id, json.loads("\n".join(data))
            name, event_id, data = None, None, []
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def next_of(stream_events, kind: str, limit: int = 50):
    for _ in range(limit):
        name, event_id, data = next(stream_events)
        if name == kind:
            return event_id, data
    raise AssertionError(f"no {kind} event in {limit} events")


def wait_until(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _raise(world, merchant, key: str):
    with world.conn() as conn:
        return raise_alert(conn, "settlement_failure", merchant, f"batch {key}", {"reason": "AC04"}, key)


def test_stream_sends_figures_and_only_the_callers_alerts_then_stops_on_disconnect(world, live_app):
    world.payment(world.a, 1288, channel="alipay")
    with ServerThread(live_app) as running, httpx.Client(base_url=running.base_url, timeout=10) as client:
        with client.stream("GET", "/v1/monitor/stream", params={"interval_s": 0.2}, headers=world.h(world.a, "finance")) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            feed = events(r)
            _, figures = next_of(feed, "figures")
            assert figures["flows"] == [{"channel": "alipay", "currency": "CNY", "payments_count": 1, "amount_minor": 1288,
                                         "succeeded_count": 1, "failed_count": 0, "closed_count": 0}]
            assert figures["incidents"] == {"open": 0, "acknowledged": 0, "overdue": 0}
            assert stream.open_streams() == 1

            _raise(world, world.b, "S-other")  # another merchant's: never sent here
            mine = _raise(world, world.a, "S-mine")
            event_id, alert = next_of(feed, "alert")
            assert event_id == str(mine.id) and alert["id"] == str(mine.id) and alert["merchant_id"] == str(world.a)
            _, later = next_of(feed, "figures")
            assert later["incidents"]["open"] == 1
        # The client hung up: the server ends the stream and forgets it.
        assert wait_until(lambda: stream.open_streams() == 0)


def test_a_reconnecting_client_gets_the_alerts_it_missed(world, live_app):
    first = _raise(world, world.a, "S1")
    missed = _raise(world, world.a, "S2")
    with ServerThread(live_app) as running, httpx.Client(base_url=running.base_url, timeout=10) as client:
        headers = {**world.h(world.a, "risk"), "Last-Event-ID": str(first.id)}
        with client.stream("GET", "/v1/monitor/stream", params={"interval_s": 0.2}, headers=headers) as r:
            event_id, alert = next_of(events(r), "alert")
            assert event_id == str(missed.id) and alert["subject"] == "batch S2"
        assert wait_until(lambda: stream.open_streams() == 0)


def test_the_stream_needs_a_reader(world, live_app):
    with ServerThread(live_app) as running, httpx.Client(base_url=running.base_url, timeout=10) as client:
        r = client.get("/v1/monitor/stream", headers=world.h(world.a, "business"))
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert client.get("/v1/monitor/stream", params={"interval_s": 0}, headers=world.h(world.a, "risk")).status_code == 422
