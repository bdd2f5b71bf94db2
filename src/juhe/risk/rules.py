"""Risk rules: readable conditions over features, written and versioned by the risk role.

A rule set is JSON or YAML:

    {"version": "2026-06-01.1",
     "rules": [
       {"id": "R1", "description": "large payment from a new device",
        "if": {"all": [{"feature": "amount_minor", "op": ">=", "value": 500000},
                       {"feature": "new_device", "op": "==", "value": true}]},
        "then": "step_up"}]}

A condition is `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a comparison
`{"feature", "op", "value"}` with op one of == != > >= < <= in not_in (see `features.FEATURES`
for which ops fit which feature). `then` is step_up or block. Validation collects every
problem before failing (`RuleSetError.errors`, each with a stable `code`): not_a_mapping,
missing_field, bad_version, bad_condition, unknown_feature, unknown_op, bad_value,
unknown_action, duplicate_id, too_many_rules, too_deep.

Each condition compiles twice: to a Python predicate (one payment, in the engine) and to a
Polars expression (a whole history frame, for `dry_run` before activation). Tests keep the
two in agreement.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from juhe.risk.features import FEATURES

RULES_MAX = 500
DEPTH_MAX = 8
RULE_ACTIONS = ("step_up", "block")
COMPARE = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
OPS_BY_KIND = {"number": set(COMPARE), "bool": {"==", "!="}, "text": {"==", "!=", "in", "not_in"}}
Features = dict[str, Any]
Predicate = Callable[[Features], bool]


@dataclass(frozen=True, slots=True)
class RuleProblem:
    code: str
    message: str
    rule_id: str | None = None


class RuleSetError(ValueError):
    """A rule set that cannot be activated; `errors` lists every problem, `code` the first's."""

    def __init__(self, errors: list[RuleProblem]):
        self.errors = errors
        self.code = errors[0].code
        super().__init__("; ".join(f"{e.rule_id or 'rule set'}: {e.message} [{e.code}]" for e in errors))


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    condition: dict
    then: str
    predicate: Predicate = field(repr=False, compare=False)
    expression: pl.Expr = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: str
    rules: tuple[Rule, ...]

    def fired(self, features: Features) -> list[Rule]:
        return [rule for rule in self.rules if rule.predicate(features)]

    def to_json(self) -> dict:
        return {"version": self.version, "rules": [
            {"id": r.id, "description": r.description, "if": r.condition, "then": r.then} for r in self.rules]}


def parse_rules(data: Any) -> RuleSet:
    """Validate a rule set document and compile it; RuleSetError lists everything wrong."""
    problems: list[RuleProblem] = []
    if not isinstance(data, dict):
        raise RuleSetError([RuleProblem("not_a_mapping", "a rule set is a mapping with version and rules")])
    version = data.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 64:
        problems.append(RuleProblem("bad_version", "version must be a non-empty string of at most 64 characters"))
    items = data.get("rules")
    if not isinstance(items, list):
        problems.append(RuleProblem("missing_field", "rules must be a list"))
        items = []
    if len(items) > RULES_MAX:
        problems.append(RuleProblem("too_many_rules", f"at most {RULES_MAX} rules"))
    rules, seen = [], set()
    for position, item in enumerate(items[:RULES_MAX]):
        rule = _parse_rule(item, position, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(RuleProblem("duplicate_id", f"rule id {rule.id!r} is used twice", rule.id))
        seen.add(rule.id)
        rules.append(rule)
    if problems:
        raise RuleSetError(problems)
    return RuleSet(version.strip(), tuple(rules))


def load_rules(path: Path) -> RuleSet:
    """A rule set from a .json, .yaml or .yml file."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:  # any parser's syntax error is the same problem to the risk role
        raise RuleSetError([RuleProblem("not_a_mapping", f"{path.name} does not parse: {error}")]) from None
    return parse_rules(data)


def _parse_rule(item: Any, position: int, problems: list[RuleProblem]) -> Rule | None:
    if not isinstance(item, dict):
        problems.append(RuleProblem("not_a_mapping", f"rule #{position + 1} is not a mapping"))
        return None
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        problems.append(RuleProblem("missing_field", f"rule #{position + 1} needs an id"))
        return None
    before = len(problems)
    if item.get("then") not in RULE_ACTIONS:
        problems.append(RuleProblem("unknown_action", f"then must be one of {', '.join(RULE_ACTIONS)}, "
                                    f"not {item.get('then')!r}", rule_id))
    if "if" not in item:
        problems.append(RuleProblem("missing_field", "a rule needs an 'if' condition", rule_id))
        return None
    compiled = _compile(item["if"], rule_id, problems, depth=1)
    if compiled is None or len(problems) > before:
        return None
    predicate, expression = compiled
    description = item.get("description")
    return Rule(rule_id, description if isinstance(description, str) else "", item["if"], item["then"],
                predicate, expression)


def _compile(node: Any, rule_id: str, problems: list[RuleProblem], depth: int) -> tuple[Predicate, pl.Expr] | None:
    if depth > DEPTH_MAX:
        problems.append(RuleProblem("too_deep", f"conditions nest at most {DEPTH_MAX} deep", rule_id))
        return None
    if not isinstance(node, dict):
        problems.append(RuleProblem("bad_condition", f"a condition is a mapping, not {node!r}", rule_id))
        return None
    if set(node) == {"all"} or set(node) == {"any"}:
        return _compile_group(node, rule_id, problems, depth)
    if set(node) == {"not"}:
        inner = _compile(node["not"], rule_id, problems, depth + 1)
        if inner is None:
            return None
        predicate, expression = inner
        return (lambda f: not predicate(f)), ~expression
    if set(node) == {"feature", "op", "value"}:
        return _compile_comparison(node, rule_id, problems)
    problems.append(RuleProblem("bad_condition", "a condition is {all: [...]}, {any: [...]}, {not: {...}} or "
                                f"{{feature, op, value}}; got keys {sorted(node)}", rule_id))
    return None


def _compile_group(node: dict, rule_id: str, problems: list[RuleProblem], depth: int) -> tuple[Predicate, pl.Expr] | None:
    joiner = "all" if "all" in node else "any"
    parts = node[joiner]
    if not isinstance(parts, list) or not parts:
        problems.append(RuleProblem("bad_condition", f"{joiner} needs a non-empty list of conditions", rule_id))
        return None
    compiled = [_compile(part, rule_id, problems, depth + 1) for part in parts]
    if any(c is None for c in compiled):
        return None
    predicates = [p for p, _ in compiled]
    expressions = [e for _, e in compiled]
    if joiner == "all":
        return (lambda f: all(p(f) for p in predicates)), pl.all_horizontal(expressions)
    return (lambda f: any(p(f) for p in predicates)), pl.any_horizontal(expressions)


def _compile_comparison(node: dict, rule_id: str, problems: list[RuleProblem]) -> tuple[Predicate, pl.Expr] | None:
    name, op, value = node["feature"], node["op"], node["value"]
    spec = FEATURES.get(name) if isinstance(name, str) else None
    if spec is None or spec.kind == "category":
        problems.append(RuleProblem("unknown_feature", f"unknown feature {name!r}", rule_id))
        return None
    if op not in OPS_BY_KIND[spec.kind]:
        known = op in COMPARE or op in ("in", "not_in")
        problems.append(RuleProblem("bad_value" if known else "unknown_op",
                                    f"op {op!r} does not apply to {spec.kind} feature {name!r}; use one of "
                                    f"{', '.join(sorted(OPS_BY_KIND[spec.kind]))}", rule_id))
        return None
    if not _value_fits(spec.kind, op, value):
        problems.append(RuleProblem("bad_value", f"{name} {op} needs {_expected(spec.kind, op)}, not {value!r}", rule_id))
        return None
    column = pl.col(name)
    if op in ("in", "not_in"):
        members = frozenset(value)
        expression = column.is_in(list(value))
        if op == "in":
            return (lambda f: f[name] in members), expression
        return (lambda f: f[name] not in members), ~expression
    compare = COMPARE[op]
    return (lambda f: compare(f[name], value)), compare(column, pl.lit(value))


def _value_fits(kind: str, op: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if op in ("in", "not_in"):
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _expected(kind: str, op: str) -> str:
    if kind == "text" and op in ("in", "not_in"):
        return "a non-empty list of strings"
    return {"number": "a number", "bool": "true or false", "text": "a string"}[kind]
