import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from juhe.channels.simkit import free_port
from juhe.webhooks import delivery
from juhe.webhooks.delivery import BACKOFF_CAP_S, LEASE, Outcome, backoff_s, claim_due, deliver_due, record_outcomes
from juhe.webhooks.endpoints import rotate_secret
from juhe.webhooks.models import DELIVERIES


def test_delivery_is_signed_and_verified_by_the_receiver(hooks, receiver):
    _, receiver.secret = hooks.add_endpoint(hooks.a, receiver.url)
    event_id = hooks.enqueue(hooks.a, "payment.succeeded", {"amount_minor": 12_345})

    assert hooks.deliver() == 1

    (got,) = receiver.received
    assert got.verified
    assert got.headers["content-type"] == "application/json"
    assert got.headers["juhe-event-id"] == str(event_id)
    assert got.headers["juhe-delivery-attempt"] == "1"
    assert json.loads(got.body)["data"] == {"amount_minor": 12_345}
    row = hooks.delivery(event_id)
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == ("delivered", 1, 200, None)
    assert row.delivered_at is not None
    (attempt,) = hooks.attempts(row.id)
    assert attempt.status_code == 200 and attempt.error is None and attempt.duration_ms >= 0


def test_nothing_due_means_nothing_sent(hooks, receiver):
    assert hooks.deliver() == 0
    assert receiver.received == []


def test_failed_attempt_is_retried_after_backoff_with_the_same_body(hooks, receiver):
    _, receiver.secret = hooks.add_endpoint(hooks.a, receiver.url)
    receiver.statuses = [500, 200]
    event_id = hooks.enqueue(hooks.a)
    t0 = hooks.now()

    hooks.deliver(now=t0)
    row = hooks.delivery(event_id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("pending", 1, 500, "HTTP 500")
    wait_s = (row.next_attempt_at - t0).total_seconds()
    assert 27 <= wait_s <= 33.5  # 30 s ± 10 %

    assert hooks.deliver(now=hooks.later(t0, seconds=20)) == 0  # not due yet
    receiver.at(row.next_attempt_at)
    assert hooks.deliver(now=row.next_attempt_at) == 1

    row = hooks.delivery(event_id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 2, 200, None)
    first, second = receiver.received
    assert first.body == second.body  # byte for byte: receivers may hash or deduplicate on it
    assert second.headers["juhe-delivery-attempt"] == "2" and second.verified
    assert [a.status_code for a in hooks.attempts(row.id)] == [500, 200]


def test_gives_up_once_the_next_attempt_would_pass_three_days(hooks, receiver):
    hooks.add_endpoint(hooks.a, receiver.url)
    receiver.statuses = [503]
    event_id = hooks.enqueue(hooks.a)
    row = hooks.delivery(event_id)
    deadline = row.created_at + timedelta(days=3)

    while row.status == "pending":
        assert hooks.deliver(now=row.next_attempt_at) == 1
        row = hooks.delivery(event_id)

    assert row.status == "failed" and row.next_attempt_at is None
    times = [a.attempted_at for a in hooks.attempts(row.id)]
    assert times[-1] <= deadline
    gaps_s = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    for n, gap_s in enumerate(gaps_s, start=1):
        expected_s = min(30 * 2 ** (n - 1), BACKOFF_CAP_S)
        assert expected_s * 0.9 <= gap_s <= expected_s * 1.1 + 1, (n, gap_s)
    # 10 doublings to reach the cap, then every 6 h until 3 days are used up.
    assert 18 <= len(times) <= 22, len(times)
    assert row.attempts == len(times)


def test_backoff_doubles_from_30_s_to_a_6_h_cap_with_10_percent_jitter():
    assert [backoff_s(n, 0) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_s(11, 0) == BACKOFF_CAP_S and backoff_s(1_000, 0) == BACKOFF_CAP_S
    assert backoff_s(1, -1) == pytest.approx(27) and backoff_s(1, 1) == pytest.approx(33)


def test_redeliver_sends_a_failed_delivery_again_with_a_fresh_window(hooks, receiver):
    _, receiver.secret = hooks.add_endpoint(hooks.a, receiver.url)
    receiver.statuses = [500, 200]
    event_id = hooks.enqueue(hooks.a)
    row = hooks.delivery(event_id)
    last_chance = row.retry_until - timedelta(seconds=1)
    hooks.deliver(now=last_chance)
    assert hooks.delivery(event_id).status == "failed"

    later = hooks.later(last_chance, days=1)
    hooks.redeliver(hooks.a, row.id, now=later)
    row = hooks.delivery(event_id)
    assert (row.status, row.attempts, row.next_attempt_at, row.retry_until) == (
        "pending", 0, later, later + timedelta(days=3))
    receiver.at(later)
    assert hooks.deliver(now=later) == 1

    row = hooks.delivery(event_id)
    assert row.status == "delivered"
    assert receiver.received[-1].verified and receiver.received[-1].headers["juhe-delivery-attempt"] == "1"
    assert [a.status_code for a in hooks.attempts(row.id)] == [500, 200]  # the log keeps both windows


def test_unreachable_endpoint_is_logged_and_retried(hooks):
    hooks.add_endpoint(hooks.a, f"http://127.0.0.1:{free_port()}/nobody-listens")
    event_id = hooks.enqueue(hooks.a)
    hooks.deliver()
    row = hooks.delivery(event_id)
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code is None
    assert "ConnectError" in row.last_error
    (attempt,) = hooks.attempts(row.id)
    assert attempt.status_code is None and "ConnectError" in attempt.error


def test_slow_endpoint_times_out(hooks, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT_S", 0.2)
    receiver.delay_s = 1.0
    hooks.add_endpoint(hooks.a, receiver.url)
    event_id = hooks.enqueue(hooks.a)
    hooks.deliver()
    row = hooks.delivery(event_id)
    assert row.status == "pending" and row.last_error == "timed out after 0.2 s"


def test_redirect_is_not_followed_and_counts_as_a_failure(hooks):
    hooks.add_endpoint(hooks.a, "http://127.0.0.1:1/unused")  # replaced by a mock transport below
    event_id = hooks.enqueue(hooks.a)
    transport = httpx.MockTransport(lambda request: httpx.Response(302, headers={"Location": "http://10.0.0.1/"}))

    async def run():
        async with httpx.AsyncClient(transport=transport) as http:
            return await deliver_due(hooks.db, http)

    asyncio.run(run())
    row = hooks.delivery(event_id)
    assert (row.status, row.last_status_code, row.last_error) == ("pending", 302, "HTTP 302")


def test_claimed_delivery_is_hidden_from_other_workers_until_its_lease_ends(hooks):
    hooks.add_endpoint(hooks.a, "https://shop.example.com/hooks")
    hooks.enqueue(hooks.a)
    t0 = hooks.now()

    (job,) = claim_due(hooks.db, t0, 10)
    assert claim_due(hooks.db, t0 + LEASE - timedelta(seconds=1), 10) == []
    (retaken,) = claim_due(hooks.db, t0 + LEASE, 10)
    assert retaken.delivery_id == job.delivery_id

    # The first worker comes back late: its attempt is logged, but the row is no longer its to change.
    outcome = Outcome(job, True, t0, 200, None, 5)
    record_outcomes(hooks.db, [outcome])
    row = hooks.deliveries()[0]
    assert row.status == "pending" and row.next_attempt_at == retaken.lease_until
    assert len(hooks.attempts(job.delivery_id)) == 1


def test_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(hooks, receiver):
    endpoint_id, old_secret = hooks.add_endpoint(hooks.a, receiver.url)
    with hooks.db.session() as session, session.begin():
        _, new_secret = rotate_secret(session, hooks.a.id, endpoint_id, timedelta(hours=1))
    receiver.secret = old_secret
    hooks.enqueue(hooks.a)
    hooks.deliver()
    assert receiver.received[-1].verified  # a receiver not yet switched over still verifies

    receiver.secret = new_secret
    hooks.enqueue(hooks.a)
    hooks.deliver()
    assert receiver.received[-1].verified

    receiver.secret = old_secret
    hooks.enqueue(hooks.a)
    two_hours = hooks.later(hooks.now(), hours=2)
    receiver.at(two_hours)
    hooks.deliver(now=two_hours)
    assert not receiver.received[-1].verified
    assert receiver.received[-1].headers["juhe-signature"].count("v1=") == 1


def test_disabled_endpoint_gets_nothing_more(hooks, receiver):
    endpoint_id, _ = hooks.add_endpoint(hooks.a, receiver.url)
    event_id = hooks.enqueue(hooks.a)
    hooks.disable(hooks.a, endpoint_id)
    assert hooks.deliver() == 0
    row = hooks.delivery(event_id)
    assert (row.status, row.last_error) == ("failed", "endpoint disabled")
    assert receiver.received == []


def test_workers_on_postgresql_share_the_queue_without_sending_twice(pg_hooks, receiver):
    hooks = pg_hooks
    _, receiver.secret = hooks.add_endpoint(hooks.a, receiver.url)
    event_ids = {hooks.enqueue(hooks.a, payload={"n": n}) for n in range(30)}

    # A worker in the middle of claiming holds row locks; another one skips them instead of waiting.
    with hooks.db.engine.begin() as busy:
        locked = set(busy.scalars(select(DELIVERIES.c.id).limit(5).with_for_update()))
        claimed_meanwhile = {job.delivery_id for job in claim_due(hooks.db, hooks.now(), 100)}
        assert len(claimed_meanwhile) == 25 and not claimed_meanwhile & locked
    with hooks.db.engine.begin() as conn:  # hand the 25 back, due now
        conn.execute(update(DELIVERIES).values(next_attempt_at=hooks.now() - timedelta(seconds=1)))

    async def three_workers() -> list[int]:
        async with httpx.AsyncClient() as http:
            return await asyncio.gather(*(deliver_due(hooks.db, http, limit=10) for _ in range(3)))

    claimed = asyncio.run(three_workers())
    assert sum(claimed) == 30
    assert hooks.deliver() == 0
    got = [r.headers["juhe-event-id"] for r in receiver.received]
    assert sorted(got) == sorted(map(str, event_ids))  # each exactly once
    assert all(r.verified for r in receiver.received)
    assert {r.status for r in hooks.deliveries()} == {"delivered"}


def test_request_that_could_outlive_the_lease_is_not_started_but_released(hooks, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "SEND_DEADLINE_S", -1.0)
    hooks.add_endpoint(hooks.a, receiver.url)
    event_id = hooks.enqueue(hooks.a)
    t0 = hooks.now()
    assert hooks.deliver(now=t0) == 1
    row = hooks.delivery(event_id)
    assert receiver.received == [] and hooks.attempts(row.id) == []
    assert row.status == "pending" and row.attempts == 0 and row.next_attempt_at < t0 + LEASE  # due again at once
