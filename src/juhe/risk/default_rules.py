"""The rule set a fresh installation starts with, until the risk role activates its own.

Each rule was dry-run on generated history (`juhe risk dry-run`): together they fire on well
under 0.2 % of legit payments; the model does most of the work, the rules make the obvious
cases explicit and readable.
"""

from __future__ import annotations

from juhe.risk.rules import RuleSet, parse_rules


def _is(feature: str, op: str, value) -> dict:
    return {"feature": feature, "op": op, "value": value}


DEFAULT_RULES = {
    "version": "default-2",
    "rules": [
        {"id": "R1", "description": "5,000.00 or more from a device new to the payer",
         "if": {"all": [_is("amount_minor", ">=", 500_000), _is("new_device", "==", True)]}, "then": "step_up"},
        {"id": "R2", "description": "impossible travel on a new device",
         "if": {"all": [_is("impossible_travel", "==", True), _is("new_device", "==", True)]}, "then": "step_up"},
        {"id": "R3", "description": "password reset in the last 24 h, new device, 1,000.00 or more",
         "if": {"all": [_is("password_reset_24h", "==", True), _is("new_device", "==", True),
                        _is("amount_minor", ">=", 100_000)]}, "then": "step_up"},
        {"id": "R4", "description": "card tested: 5 or more payments on one card within a minute",
         "if": _is("card_count_1m", ">=", 5), "then": "block"},
        {"id": "R5", "description": "device farm: 4 or more payers on one device within 24 h",
         "if": _is("device_payers_24h", ">=", 4), "then": "block"},
        {"id": "R6", "description": "cash-out pattern: round amount near the scene limit at a merchant of round amounts",
         "if": {"all": [_is("amount_to_limit_ratio", ">=", 0.9), _is("round_amount", "==", True),
                        _is("merchant_round_share_24h", ">=", 0.5)]}, "then": "step_up"},
        {"id": "R7", "description": "terminal, store or merchant under review: its confirmed fraud jumped",
         "if": _is("under_compromise_review", "==", True), "then": "step_up"},
    ],
}


def default_rules() -> RuleSet:
    return parse_rules(DEFAULT_RULES)
