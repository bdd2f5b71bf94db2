import uuid

import pytest

URL = "https://shop.example.com/juhe/hooks"
PROBLEM = "application/problem+json"


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code, response.json()
    return response.json()


def create(client, merchant, url=URL, event_types=None) -> dict:
    body = {"url": url} if event_types is None else {"url": url, "event_types": event_types}
    r = client.post("/v1/webhooks/endpoints", headers=merchant.h("it"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_it_creates_an_endpoint_and_sees_its_secret_only_once(client, hooks):
    created = create(client, hooks.a, event_types=["payment.succeeded", "payment.succeeded", "refund.failed"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["event_types"] == ["payment.succeeded", "refund.failed"]
    assert created["enabled"] is True and created["url"] == URL

    listed = client.get("/v1/webhooks/endpoints", headers=hooks.a.h()).json()["data"]
    one = client.get(f"/v1/webhooks/endpoints/{created['id']}", headers=hooks.a.h()).json()
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0] and "secret" not in one
    assert created["secret"] not in str(listed) + str(one)


def test_event_types_default_to_everything(client, hooks):
    assert create(client, hooks.a)["event_types"] == ["*"]
    assert create(client, hooks.a, event_types=["*", "payment.succeeded"])["event_types"] == ["*"]


@pytest.mark.parametrize("url", [
    "ftp://shop.example.com/hooks", "shop.example.com/hooks", "https://", "javascript:alert(1)",
    "https://user:pw@shop.example.com/hooks", "https://shop.example.com:99999/hooks", "https://shop .example.com/",
    "https://shop.example.com/" + "x" * 3000, "",
])
def test_invalid_url_is_rejected(client, hooks, url):
    r = client.post("/v1/webhooks/endpoints", headers=hooks.a.h(), json={"url": url})
    problem(r, 422, "invalid_url")


@pytest.mark.parametrize("event_types", [[], ["Payment Succeeded"], ["payment"], ["payment." + "x" * 100]])
def test_invalid_event_types_are_rejected(client, hooks, event_types):
    r = client.post("/v1/webhooks/endpoints", headers=hooks.a.h(), json={"url": URL, "event_types": event_types})
    problem(r, 422, "invalid_event_types")


ANY_ID = uuid.UUID(int=1)  # fixed, so that every test process collects the same test names


@pytest.mark.parametrize("method, path", [
    ("post", "/v1/webhooks/endpoints"), ("get", "/v1/webhooks/endpoints"), ("get", "/v1/webhooks/deliveries"),
    ("get", f"/v1/webhooks/deliveries/{ANY_ID}"), ("post", f"/v1/webhooks/deliveries/{ANY_ID}/redeliver"),
    ("get", f"/v1/webhooks/events/{ANY_ID}"), ("delete", f"/v1/webhooks/endpoints/{ANY_ID}"),
    ("post", f"/v1/webhooks/endpoints/{ANY_ID}/rotate-secret"),
])
def test_finance_key_is_forbidden(client, hooks, method, path):
    kwargs = {"json": {"url": URL}} if method == "post" else {}
    problem(getattr(client, method)(path, headers=hooks.a.h("finance"), **kwargs), 403, "forbidden")
    problem(getattr(client, method)(path, **kwargs), 401, "unauthorized")


def test_merchant_b_cannot_see_or_touch_what_is_a_s(client, hooks):
    endpoint = create(client, hooks.a)
    event_id = hooks.enqueue(hooks.a)
    delivery_id = hooks.delivery(event_id).id

    assert client.get("/v1/webhooks/endpoints", headers=hooks.b.h()).json()["data"] == []
    assert client.get("/v1/webhooks/deliveries", headers=hooks.b.h()).json()["data"] == []
    for method, path in [
        ("get", f"/v1/webhooks/endpoints/{endpoint['id']}"), ("delete", f"/v1/webhooks/endpoints/{endpoint['id']}"),
        ("post", f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret"),
        ("get", f"/v1/webhooks/deliveries/{delivery_id}"), ("post", f"/v1/webhooks/deliveries/{delivery_id}/redeliver"),
        ("get", f"/v1/webhooks/events/{event_id}"),
    ]:
        problem(getattr(client, method)(path, headers=hooks.b.h()), 404, "not_found")
    assert client.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=hooks.a.h()).json()["enabled"] is True


def test_delivery_log_filters_and_pages_newest_first(client, hooks):
    create(client, hooks.a)
    payments = [hooks.enqueue(hooks.a, "payment.succeeded") for _ in range(3)]
    refunds = [hooks.enqueue(hooks.a, "refund.succeeded") for _ in range(2)]
    hooks.enqueue(hooks.b, "payment.succeeded")  # B has no endpoint: no delivery, nothing shown to A

    def page(**params):
        r = client.get("/v1/webhooks/deliveries", headers=hooks.a.h(), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    first = page(limit=2)
    second = page(limit=2, cursor=first["next_cursor"])
    third = page(limit=2, cursor=second["next_cursor"])
    events = [d["event_id"] for d in first["data"] + second["data"] + third["data"]]
    assert events == [str(e) for e in reversed(payments + refunds)]
    assert third["next_cursor"] is None

    assert {d["event_id"] for d in page(event_type="refund.succeeded")["data"]} == set(map(str, refunds))
    assert page(status="delivered")["data"] == []
    assert len(page(status="pending")["data"]) == 5
    problem(client.get("/v1/webhooks/deliveries", headers=hooks.a.h(), params={"status": "lost"}), 422, "validation_error")


def test_delivery_detail_shows_its_attempts_and_the_event_its_body(client, hooks, receiver):
    create(client, hooks.a, url=receiver.url)
    receiver.statuses = [500, 204]
    event_id = hooks.enqueue(hooks.a, payload={"payment_id": "pay_1"})
    t0 = hooks.now()
    hooks.deliver(now=t0)
    hooks.deliver(now=hooks.later(t0, minutes=1))
    delivery_id = hooks.delivery(event_id).id

    detail = client.get(f"/v1/webhooks/deliveries/{delivery_id}", headers=hooks.a.h()).json()
    assert detail["status"] == "delivered" and detail["attempts"] == 2 and detail["url"] == receiver.url
    assert detail["event_type"] == "payment.succeeded"
    assert [a["status_code"] for a in detail["attempts_log"]] == [500, 204]
    assert detail["attempts_log"][0]["error"] == "HTTP 500"

    event = client.get(f"/v1/webhooks/events/{event_id}", headers=hooks.a.h()).json()
    assert event["type"] == "payment.succeeded" and event["data"] == {"payment_id": "pay_1"}
    assert [d["id"] for d in event["deliveries"]] == [str(delivery_id)]


def test_redeliver_through_the_api(client, hooks, receiver):
    create(client, hooks.a, url=receiver.url)
    event_id = hooks.enqueue(hooks.a)
    delivery_id = hooks.delivery(event_id).id
    path = f"/v1/webhooks/deliveries/{delivery_id}/redeliver"

    problem(client.post(path, headers=hooks.a.h()), 409, "delivery_pending")
    hooks.deliver()
    r = client.post(path, headers=hooks.a.h())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
    hooks.deliver()
    assert hooks.delivery(event_id).status == "delivered"
    assert len(receiver.received) == 2


def test_delete_disables_the_endpoint_and_fails_what_it_had_pending(client, hooks):
    endpoint = create(client, hooks.a)
    event_id = hooks.enqueue(hooks.a)

    r = client.delete(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=hooks.a.h())
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["disabled_at"]
    assert client.delete(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=hooks.a.h()).json() == r.json()

    assert hooks.delivery(event_id).status == "failed"
    assert hooks.deliveries(hooks.enqueue(hooks.a)) == []
    delivery_id = hooks.delivery(event_id).id
    problem(client.post(f"/v1/webhooks/deliveries/{delivery_id}/redeliver", headers=hooks.a.h()), 409, "endpoint_disabled")
    problem(client.post(f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret", headers=hooks.a.h()),
            409, "endpoint_disabled")


def test_rotate_secret_returns_a_new_one_and_keeps_the_old_for_the_grace(client, hooks):
    endpoint = create(client, hooks.a)
    path = f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret"

    rotated = client.post(path, headers=hooks.a.h()).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != endpoint["secret"]
    assert rotated["previous_secret_expires_at"] is not None

    at_once = client.post(path, headers=hooks.a.h(), json={"expire_previous_in_s": 0}).json()
    assert at_once["previous_secret_expires_at"] is None
    problem(client.post(path, headers=hooks.a.h(), json={"expire_previous_in_s": 30 * 86_400}), 422, "validation_error")


def test_endpoints_per_merchant_are_limited(client, hooks):
    for n in range(20):
        create(client, hooks.a, url=f"{URL}/{n}")
    r = client.post("/v1/webhooks/endpoints", headers=hooks.a.h(), json={"url": URL})
    problem(r, 409, "too_many_endpoints")
    assert client.post("/v1/webhooks/endpoints", headers=hooks.b.h(), json={"url": URL}).status_code == 201
