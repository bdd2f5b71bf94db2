"""problem+json for every failure, no leaked internals; liveness, readiness, metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from juhe.api.app import create_app


def _metric(text: str, method: str, route: str, status: str) -> float:
    """The value of juhe_http_requests_total for these labels in a /metrics page (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "juhe_http_requests_total" and sample.labels == {
                "method": method, "route": route, "status": status,
            }:
                return sample.value
    return 0.0


def test_validation_error_lists_errors(api):
    r = api.client.post("/v1/accounts", headers=api.a.h("finance"), json={"code": "pa", "currency": "CNY", "no_overdraft": "maybe"})
    body = api.problem(r, 422, "validation_error")
    assert body["instance"] == "/v1/accounts"
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == [("body", "code"), ("body", "no_overdraft")]
    assert all(e["msg"] and e["type"] for e in body["errors"])


def test_malformed_json_is_validation_error(api):
    before = api.snapshot()
    r = api.client.post("/v1/ledger/transactions", headers={**api.a.h("finance", idem="j"), "Content-Type": "application/json"},
                        content='{"entries": [')
    body = api.problem(r, 422, "validation_error")
    assert body["errors"][0]["type"] == "json_invalid"
    assert api.snapshot() == before


def test_unknown_path_is_404_problem(api):
    for path in ("/v1/nope", "/nope", "/v1/accounts/x/y/z"):
        r = api.client.get(path, headers=api.a.h("admin"))
        body = api.problem(r, 404, "not_found")
        assert body["instance"] == path


def test_wrong_method_is_405_problem_with_allow(api):
    r = api.client.put("/v1/accounts", headers=api.a.h("admin"), json={})
    api.problem(r, 405, "method_not_allowed")
    r = api.client.post("/healthz")
    api.problem(r, 405, "method_not_allowed")
    # RFC 9110 §15.5.6: a 405 MUST carry Allow. BUG: the problem handler drops exc.headers.
    assert set(r.headers.get("allow", "").replace(" ", "").split(",")) == {"GET"}


def test_unhandled_exception_is_500_without_internals(api, monkeypatch, logs):
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("juhe.ledger.queries.list_accounts", boom)
    before = api.snapshot()
    with TestClient(create_app(api.db), raise_server_exceptions=False) as client:
        r = client.get("/v1/accounts", headers=api.a.h("finance"))
        body = api.problem(r, 500, "internal_error")
        assert body["instance"] == "/v1/accounts"
        for leak in ("secret detail", "Traceback", "RuntimeError", "File \"", ".py"):
            assert leak not in r.text
        # the app keeps serving
        assert client.get("/healthz").status_code == 200
    assert api.snapshot() == before
    # operators get the trace in the log
    (event,) = [e for e in logs if e["event"] == "unhandled error"]
    assert event["log_level"] == "error" and event["path"] == "/v1/accounts" and event.get("exc_info")


def test_unhandled_exception_during_a_write_rolls_back(api, monkeypatch):
    # The posting has happened in the session when the route fails: nothing may be committed.
    import juhe.api.ledger as ledger_api

    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    api.fund(api.a, payable, 100)
    monkeypatch.setattr(ledger_api.queries, "get_transaction", boom)
    before = api.snapshot()
    with TestClient(create_app(api.db), raise_server_exceptions=False) as client:
        r = client.post("/v1/ledger/transactions", headers=api.a.h("finance", idem="boom"),
                        json={"entries": api.legs((payable, 10), (store, -10))})
        api.problem(r, 500, "internal_error")
        assert "secret detail" not in r.text
    assert api.snapshot() == before
    monkeypatch.undo()
    # and the key was not burnt: a retry succeeds
    r = api.post(api.a, api.legs((payable, 10), (store, -10)), key="boom")
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "false"


def test_500s_are_counted_in_metrics(api, monkeypatch):
    # BUG: the metrics middleware never sees a response when the route raises (call_next
    # re-raises), so 5xx -- the ones that matter -- are missing from juhe_http_requests_total.
    def boom(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr("juhe.ledger.queries.list_accounts", boom)
    with TestClient(create_app(api.db), raise_server_exceptions=False) as client:
        start = _metric(client.get("/metrics").text, "GET", "/v1/accounts", "500")
        assert client.get("/v1/accounts", headers=api.a.h("finance")).status_code == 500
        assert _metric(client.get("/metrics").text, "GET", "/v1/accounts", "500") == start + 1


def test_healthz(api):
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_names_the_database(api_any):
    r = api_any.client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "database": api_any.db.dialect}
    assert r.json()["database"] in ("sqlite", "postgresql")


def test_readyz_is_503_when_the_database_is_unreachable(api, monkeypatch):
    class Down:
        dialect = api.db.engine.dialect

        def connect(self):
            raise ConnectionRefusedError("connection refused to db.internal:5432 password=hunter2")

    with monkeypatch.context() as m:
        m.setattr(api.db, "engine", Down())
        r = api.client.get("/readyz")
    body = api.problem(r, 503, "database_unavailable")
    assert "hunter2" not in r.text and "db.internal" not in r.text


def test_metrics_count_requests_by_route_template(api):
    h = api.a.h("finance")
    payable = api.payable(api.a)
    before = api.client.get("/metrics").text
    api.client.get("/healthz")
    api.client.get(f"/v1/accounts/{payable}", headers=h)
    api.client.get(f"/v1/accounts/{payable}", headers=h)
    api.client.get("/v1/accounts", headers={})  # 401
    api.client.get("/no/such/page")
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE juhe_http_requests_total counter" in text
    assert "juhe_http_request_duration_seconds_bucket" in text
    assert _metric(text, "GET", "/healthz", "200") == _metric(before, "GET", "/healthz", "200") + 1
    assert _metric(text, "GET", "/v1/accounts/{account_id}", "200") == \
        _metric(before, "GET", "/v1/accounts/{account_id}", "200") + 2
    assert _metric(text, "GET", "/v1/accounts", "401") == _metric(before, "GET", "/v1/accounts", "401") + 1
    assert _metric(text, "GET", "unmatched", "404") >= 1
    assert payable not in text  # ids never become label values


def test_openapi_describes_v1(api):
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/v1/accounts", "/v1/ledger/transactions", "/v1/ledger/holds", "/v1/api-keys", "/v1/merchants"):
        assert path in paths
