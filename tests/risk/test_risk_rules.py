"""Rules: the issue's example parses and fires, every kind of mistake has its code, the Python
predicate and the Polars expression agree, and a dry run counts what a rule set would do."""

from __future__ import annotations

import json

import polars as pl
import pytest

from juhe.risk.default_rules import DEFAULT_RULES, default_rules
from juhe.risk.dryrun import dry_run
from juhe.risk.rules import RuleSetError, load_rules, parse_rules

ISSUE_RULE = {"id": "R1", "if": {"all": [{"feature": "amount_minor", "op": ">=", "value": 500000},
                                         {"feature": "new_device", "op": "==", "value": True}]}, "then": "step_up"}


def rules(*items: dict, version: str = "v1") -> dict:
    return {"version": version, "rules": list(items)}


def codes(document) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        parse_rules(document)
    assert caught.value.code == caught.value.errors[0].code
    return [e.code for e in caught.value.errors]


def test_the_issue_example_fires_only_on_a_large_payment_from_a_new_device():
    ruleset = parse_rules(rules(ISSUE_RULE))
    assert [r.id for r in ruleset.fired({"amount_minor": 600_000, "new_device": True})] == ["R1"]
    assert ruleset.fired({"amount_minor": 600_000, "new_device": False}) == []
    assert ruleset.fired({"amount_minor": 499_999, "new_device": True}) == []


def test_any_not_and_in_operators():
    ruleset = parse_rules(rules({"id": "X", "then": "block", "if": {"any": [
        {"feature": "region", "op": "in", "value": ["NYC", "LDN"]},
        {"not": {"feature": "merchant_category", "op": "not_in", "value": ["digital_goods"]}}]}}))
    assert ruleset.fired({"region": "LDN", "merchant_category": "grocery"})
    assert ruleset.fired({"region": "BJ", "merchant_category": "digital_goods"})
    assert not ruleset.fired({"region": "BJ", "merchant_category": "grocery"})


def test_unknown_feature_and_op_have_codes():
    assert codes(rules({"id": "A", "then": "step_up", "if": {"feature": "amount", "op": ">", "value": 1}})) == ["unknown_feature"]
    assert codes(rules({"id": "B", "then": "step_up", "if": {"feature": "amount_minor", "op": "=~", "value": 1}})) == ["unknown_op"]


def test_values_and_ops_must_fit_the_feature_kind():
    assert codes(rules({"id": "A", "then": "block", "if": {"feature": "amount_minor", "op": ">", "value": "100"}})) == ["bad_value"]
    assert codes(rules({"id": "B", "then": "block", "if": {"feature": "new_device", "op": ">", "value": True}})) == ["bad_value"]
    assert codes(rules({"id": "C", "then": "block", "if": {"feature": "region", "op": "in", "value": []}})) == ["bad_value"]
    assert codes(rules({"id": "D", "then": "block", "if": {"feature": "amount_minor", "op": ">", "value": True}})) == ["bad_value"]


def test_every_problem_is_reported_at_once():
    document = rules(
        {"id": "A", "then": "reject", "if": {"feature": "nope", "op": "==", "value": 1}},
        {"id": "A", "then": "block", "if": {"all": []}},
        {"id": "C", "then": "block", "if": {"feature": "amount_minor", "op": ">", "value": 1, "extra": 2}},
        {"then": "block", "if": {}},
        "not a rule",
    )
    assert codes(document) == ["unknown_action", "unknown_feature", "bad_condition", "bad_condition", "missing_field",
                               "not_a_mapping"]


def test_duplicate_ids_version_depth_and_shape():
    condition = {"feature": "amount_minor", "op": ">", "value": 1}
    ok = {"id": "A", "then": "block", "if": condition}
    assert codes(rules(ok, ok)) == ["duplicate_id"]
    assert codes({"version": "", "rules": [ok]}) == ["bad_version"]
    assert codes([ok]) == ["not_a_mapping"]
    for _ in range(9):
        condition = {"not": condition}
    assert codes(rules({"id": "deep", "then": "block", "if": condition})) == ["too_deep"]


def test_rules_load_from_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "rules.yaml"
    yaml_file.write_text("version: '2026-06-01.1'\nrules:\n  - id: R1\n    if: {feature: night, op: '==', value: true}\n"
                         "    then: step_up\n", encoding="utf-8")
    assert load_rules(yaml_file).rules[0].then == "step_up"
    json_file = tmp_path / "rules.json"
    json_file.write_text(json.dumps(DEFAULT_RULES), encoding="utf-8")
    assert load_rules(json_file).to_json()["rules"][0]["id"] == "R1"
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [unclosed", encoding="utf-8")
    with pytest.raises(RuleSetError) as caught:
        load_rules(broken)
    assert caught.value.code == "not_a_mapping"


def test_predicate_and_polars_expression_agree():
    frame = pl.DataFrame({
        "amount_minor": [100, 500_000, 600_000, 700_000, 1],
        "new_device": [True, True, False, True, False],
        "region": ["BJ", "LDN", "SH", "BJ", "NYC"],
        "night": [False, True, True, False, True],
    })
    ruleset = parse_rules(rules(ISSUE_RULE, {"id": "R2", "then": "block", "if": {"any": [
        {"all": [{"feature": "night", "op": "==", "value": True}, {"feature": "region", "op": "not_in", "value": ["SH"]}]},
        {"not": {"feature": "amount_minor", "op": "<", "value": 650_000}}]}}))
    for rule in ruleset.rules:
        by_frame = frame.select(rule.expression).to_series().to_list()
        by_row = [rule.predicate(row) for row in frame.iter_rows(named=True)]
        assert by_frame == by_row
    assert [r.id for r in ruleset.fired(frame.row(1, named=True))] == ["R1", "R2"]


def test_dry_run_counts_fired_blocked_fraud_and_legit():
    frame = pl.DataFrame({
        "scored": [True, True, True, True, False],
        "is_fraud": [True, False, True, False, True],
        "amount_minor": [600_000, 600_000, 100, 100, 600_000],
        "new_device": [True, True, True, False, True],
        "card_count_1m": [1, 1, 9, 1, 9],
    })
    ruleset = parse_rules(rules(ISSUE_RULE, {"id": "R4", "then": "block",
                                             "if": {"feature": "card_count_1m", "op": ">=", "value": 5}}))
    result = dry_run(ruleset, frame)
    assert (result.payments, result.fraud_payments, result.fired) == (4, 2, 3)
    assert (result.would_step_up, result.would_block, result.fraud_caught, result.legit_hit) == (2, 1, 2, 1)
    assert [(r.id, r.fired, r.fraud, r.legit) for r in result.rules] == [("R1", 2, 1, 1), ("R4", 1, 1, 0)]


def test_the_default_rules_are_valid():
    assert [r.id for r in default_rules().rules] == ["R1", "R2", "R3", "R4", "R5", "R6", "R7"]
