"""Brute force and floods: an API key past its rate is answered 429 problem+json with Retry-After and
changes nothing; other keys go on. (A console login locks after five wrong passwords:
tests/console/test_console_auth.py; a payment's one-time code after three: tests/payments.)"""

from __future__ import annotations

import uuid

from juhe.api.rate_limits import KeyBuckets
from juhe.config import get_settings


def test_a_bucket_refills_at_its_rate_and_holds_no_more_than_its_burst():
    buckets, key = KeyBuckets(), uuid.uuid4()
    assert [buckets.take(key, 2.0, 3, now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(key, 2.0, 3, now=100.0) == 0.5  # half a second until one token is back
    assert buckets.take(key, 2.0, 3, now=100.5) == 0.0
    assert buckets.take(uuid.uuid4(), 2.0, 3, now=100.5) == 0.0  # another key has its own
    assert [buckets.take(key, 2.0, 3, now=1_000.0) for _ in range(4)][-1] > 0  # a long pause refills to the burst only


def test_a_key_past_its_rate_is_answered_429_with_retry_after_and_changes_nothing(safe_api, monkeypatch):
    made = safe_api.client.post("/v1/api-keys", headers=safe_api.h(0, "admin"), json={"name": "looping", "roles": ["finance"]})
    assert made.status_code == 201, made.text
    looping = {"Authorization": f"Bearer {made.json()['secret']}"}
    monkeypatch.setenv("JUHE_API_KEY_RATE_PER_S", "0.01")
    monkeypatch.setenv("JUHE_API_KEY_BURST", "3")
    get_settings.cache_clear()
    try:
        answers = [safe_api.client.get("/v1/accounts", headers=looping) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        refused = safe_api.client.post("/v1/accounts", headers=looping, json={"code": "payable:flood", "currency": "CNY"})
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited" and 1 <= int(refused.headers["retry-after"]) <= 100
        codes = [a["code"] for a in safe_api.client.get("/v1/accounts", headers=safe_api.h(0, "finance"),
                                                          params={"limit": 200}).json()["data"]]
        assert "payable:flood" not in codes  # the other key of the merchant goes on; nothing was made
    finally:
        get_settings.cache_clear()


def test_the_document_declares_the_429(safe_api):
    answer = safe_api.client.get("/openapi.json").json()["paths"]["/v1/payments"]["post"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
