"""`/v1/aml`: risk and admin keys of a merchant see and change only their merchant's records, the
platform operator sees all; bad input and forbidden changes are problem+json with stable codes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from juhe.aml.models import AmlCase, AmlScreening, AmlWatchList
from juhe.aml.monitoring_runs import run_monitoring
from juhe.aml.payment_screening import screen_parties_for_payment

SANCTIONED = {"creditor_name": "Golden Harbour Shipping Co Ltd", "creditor_account": "GB29NWBK60161331926819"}
OWN_LIST = "name,aliases,type,country,dob,list\nSuzhou Bright Components,,entity,CN,,Supplier blacklist\n"
JUST_BELOW_MINOR = 1_950_000_00


def _held_screening(world, merchant=None) -> str:
    merchant = merchant or world.a
    payment_id = world.payment(merchant, 80_000_00, world.t0, scenario="b2b", status="requires_payment_method",
                               channel="bank")
    with world.db.session() as session, session.begin():
        return str(screen_parties_for_payment(session, merchant, payment_id, SANCTIONED).screening_id)


def _case(world) -> str:
    for day in (0, 2, 4):
        world.payment(world.a, JUST_BELOW_MINOR, world.t0 + timedelta(days=day))
    run_monitoring(world.db, world.t0, world.t0 + timedelta(days=7))
    with world.db.reader() as session:
        return str(session.query(AmlCase).one().id)


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer jk_nope"}, 401, "unauthorized"),
    ("finance", 403, "forbidden"),
    ("business", 403, "forbidden"),
])
def test_only_risk_admin_and_the_platform_get_in(aml_api, headers, status, code):
    headers = aml_api.world.h(aml_api.world.a, headers) if isinstance(headers, str) else headers
    aml_api.problem(aml_api.client.get("/v1/aml/screenings", headers=headers), status, code)
    for allowed in (aml_api.world.h(aml_api.world.a, "risk"), aml_api.world.h(aml_api.world.a, "admin"), aml_api.platform):
        assert aml_api.client.get("/v1/aml/screenings", headers=allowed).status_code == 200


def test_screenings_are_listed_read_and_reviewed_within_the_merchant(aml_api):
    world, client = aml_api.world, aml_api.client
    own, other = _held_screening(world), _held_screening(world, world.b)
    risk = world.h(world.a, "risk")
    listed = client.get("/v1/aml/screenings?status=held", headers=risk).json()
    assert [s["id"] for s in listed["data"]] == [own] and listed["next_cursor"] is None
    body = client.get(f"/v1/aml/screenings/{own}", headers=risk).json()
    assert body["status"] == "held" and body["hits"][0]["list"] == "OFAC SDN"
    aml_api.problem(client.get(f"/v1/aml/screenings/{other}", headers=risk), 404, "screening_not_found")
    aml_api.problem(client.post(f"/v1/aml/screenings/{other}/review", headers=risk,
                                json={"decision": "release", "reason": "ok"}), 404, "screening_not_found")
    reviewed = client.post(f"/v1/aml/screenings/{own}/review", headers=risk,
                           json={"decision": "reject", "reason": "the listed shipping company"})
    assert reviewed.status_code == 200
    assert reviewed.json()["status"] == "rejected" and reviewed.json()["payment_id"] == body["payment_id"]
    assert reviewed.json()["payment"]["id"] == body["payment_id"]  # its payment (held ones are tested with payments)
    aml_api.problem(client.post(f"/v1/aml/screenings/{own}/review", headers=risk,
                                json={"decision": "release", "reason": "changed my mind"}), 409, "screening_not_held")
    everyone = client.get("/v1/aml/screenings", headers=aml_api.platform).json()["data"]
    assert {s["id"] for s in everyone} == {own, other}


@pytest.mark.parametrize("body", [
    {"decision": "approve", "reason": "x"},
    {"decision": "release"},
    {"decision": "release", "reason": ""},
    {"decision": "release", "reason": "x", "extra": 1},
])
def test_a_malformed_review_is_a_validation_error(aml_api, body):
    screening_id = _held_screening(aml_api.world)
    aml_api.problem(aml_api.client.post(f"/v1/aml/screenings/{screening_id}/review",
                                        headers=aml_api.world.h(aml_api.world.a, "risk"), json=body), 422, "validation_error")
    assert aml_api.world.count(AmlScreening, status="held") == 1


def test_lists_are_uploaded_as_csv_and_used_at_once(aml_api):
    world, client = aml_api.world, aml_api.client
    risk = world.h(world.a, "risk")
    created = client.post("/v1/aml/lists?name=Supplier blacklist", headers={**risk, "Content-Type": "text/csv"},
                          content=OWN_LIST.encode())
    assert created.status_code == 201 and created.json()["entry_count"] == 1
    assert created.json()["scope"] == str(world.a)
    listed = client.get("/v1/aml/lists", headers=risk).json()
    assert [row["name"] for row in listed["data"]] == ["Supplier blacklist"]
    assert listed["files"] == ["sdn.csv", "internal_watchlist.csv"]
    assert client.get("/v1/aml/lists", headers=world.h(world.b, "risk")).json()["data"] == []
    platform = client.post("/v1/aml/lists?name=Operator list", headers=aml_api.platform, content=OWN_LIST.encode())
    assert platform.json()["scope"] == "platform"


@pytest.mark.parametrize("query, body, status, code", [
    ("?name=Bad", b"name,aliases,type,country,dob,list\nAcme,,spaceship,CN,,x\n", 422, "malformed_list"),
    ("?name=Bad", b"\xff\xfe\x00bad", 422, "malformed_list"),
    ("?name=Bad/name", OWN_LIST.encode(), 422, "invalid_list_name"),
    ("", OWN_LIST.encode(), 422, "validation_error"),
])
def test_a_bad_upload_is_refused_and_stores_nothing(aml_api, query, body, status, code):
    response = aml_api.client.post(f"/v1/aml/lists{query}", headers=aml_api.world.h(aml_api.world.a, "admin"), content=body)
    problem = aml_api.problem(response, status, code)
    if code == "malformed_list" and b"spaceship" in body:
        assert problem["line"] == 2
    assert aml_api.world.count(AmlWatchList) == 0


def test_cases_follow_their_rules_over_the_api(aml_api):
    world, client = aml_api.world, aml_api.client
    case_id = _case(world)
    risk = world.h(world.a, "risk")
    [listed] = client.get("/v1/aml/cases?status=pending", headers=risk).json()["data"]
    assert listed["id"] == case_id
    assert client.get("/v1/aml/cases", headers=world.h(world.b, "risk")).json()["data"] == []
    assert [a["scenario"] for a in client.get("/v1/aml/alerts", headers=risk).json()["data"]] == ["structuring"]
    aml_api.problem(client.get(f"/v1/aml/cases/{case_id}", headers=world.h(world.b, "admin")), 404, "case_not_found")
    aml_api.problem(client.post(f"/v1/aml/cases/{case_id}/decision", headers=risk,
                                json={"decision": "reported", "reason": "skip ahead"}), 409, "illegal_transition")
    aml_api.problem(client.post(f"/v1/aml/cases/{case_id}/decision", headers=risk,
                                json={"decision": "archived", "reason": "x"}), 422, "unknown_decision")
    aml_api.problem(client.get(f"/v1/aml/cases/{case_id}/str.json", headers=risk), 409, "case_not_reported")
    assert client.post(f"/v1/aml/cases/{case_id}/owner", headers=risk, json={"owner": "user:li.analyst"}).status_code == 200
    aml_api.problem(client.post(f"/v1/aml/cases/{case_id}/owner", headers=risk, json={"owner": "user:li.analyst"}),
                    409, "no_change")
    assert client.post(f"/v1/aml/cases/{case_id}/comments", headers=risk, json={"text": "asked for invoices"}).status_code == 200
    client.post(f"/v1/aml/cases/{case_id}/decision", headers=risk, json={"decision": "escalated", "reason": "no invoices"})
    reported = client.post(f"/v1/aml/cases/{case_id}/decision", headers=aml_api.platform,
                           json={"decision": "reported", "reason": "splitting to avoid the report"}).json()
    assert reported["status"] == "reported" and reported["owner"] == "user:li.analyst"
    assert [e["action"] for e in reported["audit"]] == ["opened", "owner", "comment", "decision", "decision"]
    assert reported["audit"][-1]["actor"] == "platform" and len(reported["alerts"][0]["evidence"]) == 3
    aml_api.problem(client.post(f"/v1/aml/cases/{case_id}/comments", headers=risk, json={"text": "late"}), 409, "case_closed")
    report = client.get(f"/v1/aml/cases/{case_id}/str.json", headers=risk).json()
    assert report["reason"].startswith("splitting to avoid the report") and len(report["movements"]) == 3
    csv_response = client.get(f"/v1/aml/cases/{case_id}/str.csv", headers=risk)
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert {row["subject_name"] for row in csv.DictReader(io.StringIO(csv_response.text))} == {"Lotus Mart"}


def test_monitoring_runs_over_the_api_are_scoped_and_checked(aml_api):
    world, client = aml_api.world, aml_api.client
    for day in (0, 2, 4):
        world.payment(world.b, JUST_BELOW_MINOR, world.t0 + timedelta(days=day))
    period = {"start": world.t0.isoformat(), "end": (world.t0 + timedelta(days=7)).isoformat()}
    risk = world.h(world.a, "risk")
    own = client.post("/v1/aml/monitoring/runs", headers=risk, json=period)
    assert own.status_code == 201 and own.json()["alert_ids"] == []  # merchant a's run never looks at b
    aml_api.problem(client.post("/v1/aml/monitoring/runs", headers=risk, json={**period, "merchant_id": str(world.b)}),
                    404, "not_found")
    aml_api.problem(client.post("/v1/aml/monitoring/runs", headers=aml_api.platform,
                                json={**period, "merchant_id": "01a2393c-237f-73ad-8c63-ae551adf1403"}), 404, "merchant_not_found")
    everyone = client.post("/v1/aml/monitoring/runs", headers=aml_api.platform, json=period).json()
    assert len(everyone["alert_ids"]) == 1 and len(everyone["cases_opened"]) == 1
    for bad, code in (({"start": period["end"], "end": period["start"]}, "invalid_period"),
                      ({"start": "2026-03-01T00:00:00", "end": "2026-03-02T00:00:00"}, "validation_error"),
                      ({"start": period["start"]}, "validation_error")):
        aml_api.problem(client.post("/v1/aml/monitoring/runs", headers=risk, json=bad), 422, code)


def test_large_value_report_is_csv_of_the_callers_merchant(aml_api):
    world, client = aml_api.world, aml_api.client
    world.payment(world.a, 2_100_000_00, world.t0)
    world.payment(world.b, 2_500_000_00, world.t0)
    own = client.get("/v1/aml/large-value?date=2026-03-02", headers=world.h(world.a, "risk"))
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/csv")
    assert [row["amount_minor"] for row in csv.DictReader(io.StringIO(own.text))] == ["210000000"]
    everyone = client.get("/v1/aml/large-value?date=2026-03-02", headers=aml_api.platform)
    assert len(list(csv.DictReader(io.StringIO(everyone.text)))) == 2
    aml_api.problem(client.get("/v1/aml/large-value?date=2026-02-30", headers=world.h(world.a, "risk")), 422,
                    "validation_error")
    aml_api.problem(client.get("/v1/aml/large-value", headers=world.h(world.a, "risk")), 422, "validation_error")
