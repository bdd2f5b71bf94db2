"""/v1/risk over HTTP: decisions on the payments' own engine, rules read and dry-run by a merchant's
risk key, rules and models activated by the platform operator into the running engine."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from juhe import merchants
from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.models import load_all_models
from juhe.db.types import utcnow
from juhe.payments.models import Payment
from juhe.payments.risk_hook import EngineRisk
from juhe.risk.default_rules import DEFAULT_RULES
from juhe.risk.generator import generate
from juhe.risk.registry import RiskRegistry
from juhe.risk.replay import feature_frame
from juhe.risk.train import TrainingOptions, train_model

PROBLEM = "application/problem+json"
PLATFORM_TOKEN = "plat-risk-0123456789"
PLATFORM = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
PAYER = {"device_id": "dev-1", "client_ip": "101.80.1.2", "card_token": "tok-1", "latitude": 31.23, "longitude": 121.47}
_keys = itertools.count(1)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["detail"], body
    return body


def rule_set(version: str, *rules: dict) -> dict:
    return {"version": version, "rules": list(rules)}


def big_blocks(rule_id: str = "BIG", at_minor: int = 100_000) -> dict:
    return {"id": rule_id, "then": "block", "if": {"feature": "amount_minor", "op": ">=", "value": at_minor}}


@pytest.fixture(scope="module")
def tiny_model():
    history = generate(120, 5, 3, warmup_days=2, fraud_episodes_per_payer=0.5)
    return train_model(feature_frame(history, warmup_days=2), TrainingOptions(rounds=20, min_data_in_leaf=10))


class RiskApi:
    def __init__(self, client: TestClient, db: Database, keys: dict, data_dir):
        self.client, self.db, self.keys, self.registry = client, db, keys, RiskRegistry(data_dir / "risk")
        self.a, self.b = list(keys)

    def h(self, merchant, role: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[merchant][role]}"}

    def decide(self, merchant=None, role: str = "business", **body):
        body = {"amount_minor": 1_288, "currency": "CNY", "customer_id": "c1", "payer": PAYER} | body
        return self.client.post("/v1/risk/decisions", json=body, headers=self.h(merchant or self.a, role))

    @property
    def engine(self):
        return self.client.app.state.payments.risk.engine

    def pay(self, merchant, amount_minor: int, days_ago: float, **changes) -> None:
        at = utcnow() - timedelta(days=days_ago)
        with self.db.session() as session, session.begin():
            session.add(Payment(merchant_id=merchant, idempotency_key=f"k{next(_keys)}", request_hash="h",
                                amount_minor=amount_minor, currency="CNY", scenario="qr", subject="test", customer_id="c1",
                                status="succeeded", risk={"action": "allow", "score": 0.0, "reasons": []},
                                refunded_minor=0, fee_minor=0, channel_fee_minor=0, poll_count=0,
                                expires_at=at + timedelta(minutes=15), created_at=at, updated_at=at, **changes))


@pytest.fixture
def make_api(sqlite_url, tmp_path, monkeypatch):
    """Start the app (after `prepare(registry)`, e.g. saving models) with two merchants and a key per role each."""
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")  # no channel sandboxes: this is about the risk contract
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    load_all_models()
    db = Database(sqlite_url)
    keys = {}
    with db.session() as session, session.begin():
        for name, industry in (("Lotus Mart", "retail"), ("Silk Road Online", "ecommerce")):
            merchant = merchants.create_merchant(session, name, industry)
            keys[merchant.id] = {role: merchants.issue_api_key(session, merchant.id, role, [role])[1]
                                 for role in merchants.ROLES}
    clients = []

    def start(prepare=lambda registry: None) -> RiskApi:
        prepare(RiskRegistry(tmp_path / "juhe-data" / "risk"))
        app = create_app(db)
        client = TestClient(app).__enter__()
        clients.append(client)
        return RiskApi(client, db, keys, tmp_path / "juhe-data")

    yield start
    for client in clients:
        client.__exit__(None, None, None)
    db.dispose()
    get_settings.cache_clear()


@pytest.fixture
def api(make_api) -> RiskApi:
    return make_api()


def test_a_decision_answers_action_score_reasons_verification_and_versions(api):
    response = api.decide()
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"action", "score", "reasons", "verification", "model_version", "rules_version"}
    assert body["action"] == "allow" and body["verification"] == "none" and body["score"] == 0.0
    assert body["rules_version"] == DEFAULT_RULES["version"] and body["model_version"] is None
    large = api.decide(role="risk", amount_minor=2_000_000).json()
    assert large["action"] == "step_up" and large["verification"] == "otp_face"
    assert any("always verified" in reason for reason in large["reasons"])


def test_only_business_and_risk_keys_of_a_merchant_ask_for_decisions(api):
    assert_problem(api.decide(role="finance"), 403, "forbidden")
    assert_problem(api.client.post("/v1/risk/decisions", json={"amount_minor": 1}), 401, "unauthorized")
    assert_problem(api.client.post("/v1/risk/decisions", json={"amount_minor": 1}, headers=PLATFORM), 401, "unauthorized")


def test_decisions_count_in_the_velocity_store_the_payments_use(api):
    assert isinstance(api.client.app.state.payments.risk, EngineRisk)
    actions = [api.decide(customer_id=f"c{n}", payer=PAYER | {"device_id": f"d{n}"}).json()["action"] for n in range(5)]
    assert actions == ["allow"] * 4 + ["block"]  # default rule R4: a card used 5 times within a minute
    last = api.decide(customer_id="c9", payer=PAYER | {"device_id": "d9"}).json()
    assert last["action"] == "block" and any(reason.startswith("rule R4") for reason in last["reasons"])


def test_bad_facts_are_422_with_the_risk_code_and_record_nothing(api):
    for body in ({"amount_minor": 0}, {"currency": "XYZ"}, {"payer": {"card_token": "tok-bad", "latitude": 31.2}},
                 {"customer_id": "c" * 129}):
        problem = assert_problem(api.decide(**({"payer": {"card_token": "tok-bad"}} | body)), 422, "bad_payment")
        assert problem["instance"] == "/v1/risk/decisions"
    assert_problem(api.decide(amount_minor="12"), 422, "validation_error")
    assert_problem(api.decide(payer={"card_number": "6222"}), 422, "validation_error")
    # None of them reached the velocity store: the same card's first real attempt counts as the first.
    allowed = [api.decide(customer_id=f"p{n}", payer={"card_token": "tok-bad"}).json()["action"] for n in range(4)]
    assert allowed == ["allow"] * 4


def test_rules_are_read_by_risk_keys_and_the_platform(api):
    for headers in (api.h(api.a, "risk"), PLATFORM):
        body = api.client.get("/v1/risk/rules", headers=headers).json()
        assert body["version"] == DEFAULT_RULES["version"]
        assert [r["id"] for r in body["rules"]] == ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]
    assert_problem(api.client.get("/v1/risk/rules", headers=api.h(api.a, "business")), 403, "forbidden")


def test_a_dry_run_counts_the_merchants_own_payments_of_the_last_days(api):
    api.pay(api.a, 150_000, 1)
    api.pay(api.a, 2_000, 2)
    api.pay(api.a, 120_000, 10)
    api.pay(api.b, 500_000, 1)
    rules = rule_set("try-1", big_blocks(), {"id": "SMALL", "then": "step_up",
                                             "if": {"feature": "amount_minor", "op": "<", "value": 5_000}})
    response = api.client.post("/v1/risk/rules/dry-run?days=5", json=rules, headers=api.h(api.a, "risk"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["payments"], body["fired"], body["would_step_up"], body["would_block"]) == (2, 2, 1, 1)
    assert body["days"] == 5 and body["version"] == "try-1" and body["skipped"] == 0
    assert {r["id"]: r["fired"] for r in body["rules"]} == {"BIG": 1, "SMALL": 1}
    month = api.client.post("/v1/risk/rules/dry-run", json=rules, headers=api.h(api.a, "risk")).json()
    assert month["days"] == 30 and month["payments"] == 3 and month["would_block"] == 2
    other = api.client.post(f"/v1/risk/rules/dry-run?merchant_id={api.b}", json=rules, headers=PLATFORM).json()
    assert other["payments"] == 1 and other["would_block"] == 1
    everyone = api.client.post("/v1/risk/rules/dry-run", json=rules, headers=PLATFORM).json()
    assert everyone["payments"] == 4
    assert_problem(api.client.post(f"/v1/risk/rules/dry-run?merchant_id={api.b}", json=rules,
                                   headers=api.h(api.a, "risk")), 404, "not_found")
    assert_problem(api.client.post("/v1/risk/rules/dry-run?days=0", json=rules, headers=api.h(api.a, "risk")),
                   422, "validation_error")
    assert api.engine.rules.version == DEFAULT_RULES["version"]  # a dry run activates nothing


def test_an_invalid_rule_set_is_422_with_every_problem(api):
    bad = rule_set("bad-1", {"id": "X", "then": "ban", "if": {"feature": "no_such", "op": ">=", "value": 1}},
                   {"id": "Y", "then": "block", "if": {"feature": "amount_minor", "op": ">=", "value": "lots"}},
                   big_blocks("Y"))
    for path, headers in (("/v1/risk/rules/dry-run", api.h(api.a, "risk")), ("/v1/risk/rules", PLATFORM)):
        problem = assert_problem(api.client.post(path, json=bad, headers=headers), 422, "invalid_rules")
        codes = [(p["rule_id"], p["code"]) for p in problem["errors"]]
        assert codes == [("X", "unknown_action"), ("X", "unknown_feature"), ("Y", "bad_value")]
    assert_problem(api.client.post("/v1/risk/rules", json=["not", "a", "mapping"], headers=PLATFORM), 422, "invalid_rules")
    assert api.engine.rules.version == DEFAULT_RULES["version"] and not api.registry.rules.exists()


def test_only_the_platform_activates_rules_and_the_running_engine_swaps_them(api):
    rules = rule_set("strict-1", big_blocks(at_minor=1_000))
    assert_problem(api.client.post("/v1/risk/rules", json=rules, headers=api.h(api.a, "risk")), 403, "forbidden")
    assert api.decide().json()["action"] == "allow"
    response = api.client.post("/v1/risk/rules", json=rules, headers=PLATFORM)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == "strict-1" and response.json()["previous_version"] == DEFAULT_RULES["version"]
    decision = api.decide(customer_id="c2").json()
    assert decision["action"] == "block" and decision["rules_version"] == "strict-1"
    assert api.client.get("/v1/risk/rules", headers=api.h(api.b, "risk")).json()["version"] == "strict-1"
    assert api.registry.active_rules().version == "strict-1"  # a restart keeps it
    changed = rule_set("strict-1", big_blocks(at_minor=2_000))
    assert_problem(api.client.post("/v1/risk/rules", json=changed, headers=PLATFORM), 409, "version_exists")
    assert api.client.post("/v1/risk/rules", json=rules, headers=PLATFORM).status_code == 200  # the same again: fine


def test_models_are_listed_and_the_platform_swaps_one_in_without_a_restart(make_api, tiny_model):
    first = dataclasses.replace(tiny_model, version="m-1", metadata=tiny_model.metadata | {"version": "m-1"})
    second = dataclasses.replace(tiny_model, version="m-2", metadata=tiny_model.metadata | {"version": "m-2"})

    def prepare(registry):
        registry.save_model(first)
        registry.save_model(second)
        registry.activate_model("m-1")

    api = make_api(prepare)
    listed = api.client.get("/v1/risk/models", headers=api.h(api.a, "risk")).json()
    assert listed["active"] == "m-1" and listed["versions"] == ["m-1", "m-2"]
    assert listed["model"]["currency"] == "CNY" and 0 < listed["model"]["thresholds"]["step_up_score"] <= 1
    assert api.decide().json()["model_version"] == "m-1"
    assert_problem(api.client.post("/v1/risk/models/m-2/activate", headers=api.h(api.a, "risk")), 403, "forbidden")
    response = api.client.post("/v1/risk/models/m-2/activate", headers=PLATFORM)
    assert response.status_code == 200, response.text
    assert response.json()["active"] == "m-2" and response.json()["previous"] == "m-1"
    assert api.decide(customer_id="c2").json()["model_version"] == "m-2"
    assert api.registry.active_model().version == "m-2"
    assert_problem(api.client.post("/v1/risk/models/m-9/activate", headers=PLATFORM), 404, "unknown_version")
    assert_problem(api.client.post("/v1/risk/models/bad%20version!/activate", headers=PLATFORM), 422, "bad_version")
    assert api.client.get("/v1/risk/models", headers=PLATFORM).json()["active"] == "m-2"


def test_without_the_risk_engine_the_engine_endpoints_say_so(make_api, monkeypatch):
    monkeypatch.setenv("JUHE_RISK_ENGINE", "false")
    get_settings.cache_clear()
    api = make_api()
    assert_problem(api.decide(), 503, "risk_engine_off")
    assert_problem(api.client.get("/v1/risk/models", headers=PLATFORM), 503, "risk_engine_off")
