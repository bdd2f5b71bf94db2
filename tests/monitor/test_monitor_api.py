"""The monitor's HTTP API: roles, merchant scoping, the platform's view, rules, alerts,
incidents and their problem+json refusals."""

from __future__ import annotations

from datetime import timedelta

from juhe.db.types import utcnow
from juhe.monitor import raise_alert

BURST = {"currency": "CNY", "min_amount_minor": 5_000_000, "min_count": 3, "window_minutes": 60}


def _burst_alert(w, merchant):
    w.rule("large_high_frequency_transfers", BURST)
    w.transfers(merchant, [(6_000_000, "x"), (6_000_000, "y"), (6_000_000, "z")])
    (alert,) = w.evaluate()
    return alert


def test_figures_need_finance_or_risk(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    assert c.get("/v1/monitor/flows").status_code == 401
    monitor_api.problem(c.get("/v1/monitor/flows", headers=w.h(w.a, "business")), 403, "forbidden")
    monitor_api.problem(c.get("/v1/monitor/balances", headers=w.h(w.a, "it")), 403, "forbidden")
    for role in ("finance", "risk", "admin"):
        assert c.get("/v1/monitor/flows", headers=w.h(w.a, role)).status_code == 200


def test_a_merchant_sees_its_own_flows_and_the_platform_sees_all(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    w.payment(w.a, 1288, channel="alipay", fee_minor=8, channel_fee_minor=5)
    w.payment(w.a, 500, channel="alipay", status="failed", failure_code="declined")
    w.payment(w.b, 9900, channel="wechatpay")

    own = c.get("/v1/monitor/flows", headers=w.h(w.a, "finance"), params={"window_minutes": 30}).json()
    assert [(r["merchant_id"], r["channel"], r["payments_count"], r["amount_minor"], r["success_rate"]) for r in own["data"]] == [
        (str(w.a), "alipay", 2, 1788, "0.5000")]
    assert set(own["window"]) == {"from", "to"}
    everyone = c.get("/v1/monitor/flows", headers=monitor_api.platform).json()["data"]
    assert {r["merchant_id"] for r in everyone} == {str(w.a), str(w.b)}
    one = c.get("/v1/monitor/flows", headers=monitor_api.platform, params={"merchant_id": str(w.b)}).json()["data"]
    assert [r["amount_minor"] for r in one] == [9900]
    monitor_api.problem(c.get("/v1/monitor/flows", headers=w.h(w.a, "finance"), params={"merchant_id": str(w.b)}), 404, "not_found")
    zero = c.get("/v1/monitor/flows", headers=w.h(w.a, "finance"), params={"window_minutes": 0})
    monitor_api.problem(zero, 422, "validation_error")

    (fee,) = c.get("/v1/monitor/fees", headers=w.h(w.a, "risk")).json()["data"]
    assert (fee["channel_fee_minor"], fee["channel_fee_rate_bps"], fee["contract_channel_fee_bps"]) == (5, "38.82", 38)


def test_balances_with_totals(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    body = c.get("/v1/monitor/balances", headers=w.h(w.a, "finance")).json()
    assert body == {"data": [], "totals": []}  # nothing booked yet
    assert c.get("/v1/monitor/balances", headers=monitor_api.platform).status_code == 200


def test_rules_are_created_changed_and_kept_per_merchant(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    by_finance = c.post("/v1/monitor/rules", headers=w.h(w.a, "finance"), json={"kind": "success_rate_drop"})
    monitor_api.problem(by_finance, 403, "forbidden")
    r = c.post("/v1/monitor/rules", headers=w.h(w.a, "risk"), json={
        "kind": "large_high_frequency_transfers", "params": BURST, "owner": "user:li.na", "response_hours": 8})
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["merchant_id"], rule["owner"], rule["response_hours"], rule["enabled"]) == (str(w.a), "user:li.na", 8, True)

    changed = c.patch(f"/v1/monitor/rules/{rule['id']}", headers=w.h(w.a, "admin"),
                      json={"params": {**BURST, "min_count": 5}, "enabled": False})
    assert changed.status_code == 200 and changed.json()["params"]["min_count"] == 5 and changed.json()["enabled"] is False
    assert c.get(f"/v1/monitor/rules/{rule['id']}", headers=w.h(w.a, "finance")).json() == changed.json()

    # Another merchant neither sees nor changes it; the platform sees every rule.
    monitor_api.problem(c.get(f"/v1/monitor/rules/{rule['id']}", headers=w.h(w.b, "risk")), 404, "rule_not_found")
    by_b = c.patch(f"/v1/monitor/rules/{rule['id']}", headers=w.h(w.b, "risk"), json={"enabled": True})
    monitor_api.problem(by_b, 404, "rule_not_found")
    assert c.get("/v1/monitor/rules", headers=w.h(w.b, "risk")).json()["data"] == []
    assert [x["id"] for x in c.get("/v1/monitor/rules", headers=monitor_api.platform).json()["data"]] == [rule["id"]]


def test_bad_rules_are_refused_with_stable_codes_and_nothing_changes(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    h = w.h(w.a, "risk")
    monitor_api.problem(c.post("/v1/monitor/rules", headers=h, json={"kind": "weather", "params": {}}), 422, "unknown_rule_kind")
    bad = monitor_api.problem(c.post("/v1/monitor/rules", headers=h, json={
        "kind": "success_rate_drop", "params": {"floor_bps": 0, "channel": "paypal"}}), 422, "invalid_rule_params")
    assert {e["field"] for e in bad["errors"]} == {"floor_bps", "channel", "window_minutes", "min_sample"}
    monitor_api.problem(c.post("/v1/monitor/rules", headers=h, json={
        "kind": "recon_difference", "owner": "the cfo"}), 422, "invalid_owner")
    monitor_api.problem(c.post("/v1/monitor/rules", headers=h, json={
        "kind": "recon_difference", "merchant_id": str(w.b)}), 404, "not_found")
    assert c.get("/v1/monitor/rules", headers=h).json()["data"] == []

    rule = c.post("/v1/monitor/rules", headers=h, json={"kind": "large_high_frequency_transfers", "params": BURST}).json()
    assert rule["owner"] == "role:risk"  # the kind's default owner
    url = f"/v1/monitor/rules/{rule['id']}"
    monitor_api.problem(c.patch(url, headers=h, json={"kind": "success_rate_drop"}), 422, "validation_error")
    monitor_api.problem(c.patch(url, headers=h, json={"params": {**BURST, "min_count": 1}}), 422, "invalid_rule_params")
    monitor_api.problem(c.patch(url, headers=h, json={"enabled": None}), 422, "validation_error")
    monitor_api.problem(c.patch(url, headers=h, json={"response_hours": 0}), 422, "invalid_response_hours")
    assert c.get(url, headers=h).json() == rule


def test_platform_keeps_rules_that_watch_every_merchant(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    r = c.post("/v1/monitor/rules", headers=monitor_api.platform, json={"kind": "success_rate_drop",
               "params": {"window_minutes": 15, "floor_bps": 9500, "min_sample": 50}})
    assert r.status_code == 201 and r.json()["merchant_id"] is None
    targeted = c.post("/v1/monitor/rules", headers=monitor_api.platform,
                      json={"kind": "settlement_failure", "merchant_id": str(w.b)})
    assert targeted.json()["merchant_id"] == str(w.b)
    assert [x["kind"] for x in c.get("/v1/monitor/rules", headers=w.h(w.b, "risk")).json()["data"]] == ["settlement_failure"]
    missing = c.post("/v1/monitor/rules", headers=monitor_api.platform,
                     json={"kind": "settlement_failure", "merchant_id": "01a23923-0000-7000-8000-000000000000"})
    monitor_api.problem(missing, 404, "merchant_not_found")


def test_alerts_and_incidents_are_scoped_and_answered(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    alert = _burst_alert(w, w.a)
    listed = c.get("/v1/monitor/alerts", headers=w.h(w.a, "risk")).json()["data"]
    assert [(x["id"], x["kind"], x["incident_status"]) for x in listed] == [(str(alert.id), "large_high_frequency_transfers", "open")]
    assert c.get("/v1/monitor/alerts", headers=w.h(w.b, "risk")).json()["data"] == []
    assert len(c.get("/v1/monitor/alerts", headers=monitor_api.platform).json()["data"]) == 1
    monitor_api.problem(c.get("/v1/monitor/alerts", headers=w.h(w.a, "risk"), params={"kind": "nope"}), 422, "unknown_rule_kind")

    (incident,) = c.get("/v1/monitor/incidents", headers=w.h(w.a, "finance")).json()["data"]
    assert (incident["status"], incident["overdue"], incident["owner"]) == ("open", False, "role:risk")
    url = f"/v1/monitor/incidents/{incident['id']}"
    monitor_api.problem(c.post(f"{url}/acknowledge", headers=w.h(w.b, "risk")), 404, "incident_not_found")
    monitor_api.problem(c.post(f"{url}/acknowledge", headers=w.h(w.a, "business")), 403, "forbidden")
    too_early = c.post(f"{url}/resolve", headers=w.h(w.a, "risk"), json={"comment": "fine"})
    illegal = monitor_api.problem(too_early, 409, "illegal_transition")
    assert (illegal["current_status"], illegal["wanted_status"]) == ("open", "resolved")

    acked = c.post(f"{url}/acknowledge", headers=w.h(w.a, "risk"), json={"comment": "calling the merchant"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    monitor_api.problem(c.post(f"{url}/resolve", headers=w.h(w.a, "risk")), 422, "comment_required")
    done = c.post(f"{url}/resolve", headers=monitor_api.platform, json={"comment": "payroll run, confirmed"}).json()
    assert [(e["to_status"], e["actor"].split(":")[0], e["comment"]) for e in done["events"]] == [
        ("open", "system", ""), ("acknowledged", "api_key", "calling the merchant"),
        ("resolved", "platform", "payroll run, confirmed")]
    assert c.get(url, headers=w.h(w.a, "finance")).json()["status"] == "resolved"
    monitor_api.problem(c.post(f"{url}/acknowledge", headers=w.h(w.a, "risk")), 409, "illegal_transition")
    monitor_api.problem(c.get("/v1/monitor/incidents/01a23923-0000-7000-8000-000000000000", headers=w.h(w.a, "risk")),
                        404, "incident_not_found")


def test_overdue_incidents_are_flagged_and_filtered(monitor_api):
    w, c = monitor_api.world, monitor_api.client
    with w.conn() as conn:
        raise_alert(conn, "recon_difference", w.a, "wechatpay 2026-11-24", {"difference_minor": 100}, "r1",
                    now=utcnow() - timedelta(hours=25))
        raise_alert(conn, "recon_difference", w.a, "wechatpay 2026-11-25", {"difference_minor": 100}, "r2")
    overdue = c.get("/v1/monitor/incidents", headers=w.h(w.a, "finance"), params={"overdue": "true"}).json()["data"]
    assert [(i["subject"], i["overdue"]) for i in overdue] == [("wechatpay 2026-11-24", True)]
    opened = c.get("/v1/monitor/incidents", headers=w.h(w.a, "finance"), params={"status": "open"}).json()["data"]
    assert [i["overdue"] for i in opened] == [False, True]  # newest first
    monitor_api.problem(c.get("/v1/monitor/incidents", headers=w.h(w.a, "finance"), params={"status": "closed"}),
                        422, "validation_error")
