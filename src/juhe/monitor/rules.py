"""Alert rule kinds and their parameters: what each kind watches, what it needs to be told,
and the checks that every rule passes before it is stored. Pure: no database here.

Two kinds are evaluated by Juhe itself on every worker round (`EVALUATED_KINDS`); the other
three are raised by the modules that find the problem (reconciliation, reserve proof,
settlement) through `juhe.monitor.alerts.raise_alert`. A rule of those kinds carries no
parameters: it names who responds and how fast, or (disabled) mutes the kind."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from juhe.channels.registry import CHANNELS
from juhe.merchants import ROLES
from juhe.money import MoneyError, check_currency

LARGE_HIGH_FREQUENCY_TRANSFERS = "large_high_frequency_transfers"
SUCCESS_RATE_DROP = "success_rate_drop"
RECON_DIFFERENCE = "recon_difference"
RESERVE_MISMATCH = "reserve_mismatch"
SETTLEMENT_FAILURE = "settlement_failure"
RISK_COMPROMISE = "risk_compromise"  # a terminal, store or merchant put under review (juhe.risk.reports)

EVALUATED_KINDS = (LARGE_HIGH_FREQUENCY_TRANSFERS, SUCCESS_RATE_DROP)
RAISED_KINDS = (RECON_DIFFERENCE, RESERVE_MISMATCH, SETTLEMENT_FAILURE, RISK_COMPROMISE)
KINDS = EVALUATED_KINDS + RAISED_KINDS

# Who answers an alert of a kind when no rule says otherwise.
DEFAULT_OWNERS = {
    LARGE_HIGH_FREQUENCY_TRANSFERS: "role:risk",
    SUCCESS_RATE_DROP: "role:it",
    RECON_DIFFERENCE: "role:finance",
    RESERVE_MISMATCH: "role:finance",
    SETTLEMENT_FAILURE: "role:finance",
    RISK_COMPROMISE: "role:risk",
}
RESPONSE_HOURS_DEFAULT = 24
RESPONSE_HOURS_MAX = 24 * 30
WINDOW_MINUTES_MAX = 24 * 60  # rules look at recent activity; a day is the longest window
COUNT_MAX = 100_000
BPS = 10_000
AMOUNT_MINOR_MAX = 10**15
OWNER_PATTERN = re.compile(r"^(role:(" + "|".join(ROLES) + r")|user:\S{1,100})$")


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    merchant_id: uuid.UUID | None  # None: watches every merchant
    kind: str
    params: dict
    enabled: bool
    owner: str
    response_hours: int


class MonitorError(Exception):
    """A request the monitor refuses; `code` is stable, `status` the HTTP status it means."""

    def __init__(self, code: str, message: str, status: int = 422, errors: list[dict] | None = None, **extra):
        super().__init__(message)
        self.code, self.status, self.errors, self.extra = code, status, errors or [], extra


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter of a kind: an int within bounds, a currency, or a channel code."""

    name: str
    type: str  # int, currency, channel
    required: bool = True
    low: int = 1
    high: int = COUNT_MAX


PARAMS: dict[str, tuple[Field, ...]] = {
    # >= min_count transfers or payments of at least min_amount_minor (in `currency`) within
    # window_minutes from one account: a merchant's payable, a payer, or a creditor account.
    LARGE_HIGH_FREQUENCY_TRANSFERS: (
        Field("currency", "currency"),
        Field("min_amount_minor", "int", high=AMOUNT_MINOR_MAX),
        Field("min_count", "int", low=2),
        Field("window_minutes", "int", high=WINDOW_MINUTES_MAX),
    ),
    # A channel's success rate over the last window_minutes below floor_bps, once at least
    # min_sample payments have finished; without `channel`, every channel is watched.
    SUCCESS_RATE_DROP: (
        Field("window_minutes", "int", high=WINDOW_MINUTES_MAX),
        Field("floor_bps", "int", high=BPS),
        Field("min_sample", "int"),
        Field("channel", "channel", required=False),
    ),
    RECON_DIFFERENCE: (),
    RESERVE_MISMATCH: (),
    SETTLEMENT_FAILURE: (),
    RISK_COMPROMISE: (),
}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise MonitorError("unknown_rule_kind", f"unknown rule kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return kind


def check_params(kind: str, params: object) -> dict:
    """The parameters of a rule of `kind`, checked; every problem is reported at once."""
    check_kind(kind)
    if not isinstance(params, dict):
        problem = [{"field": "params", "message": "not an object"}]
        raise MonitorError("invalid_rule_params", "params must be an object", errors=problem)
    fields = {f.name: f for f in PARAMS[kind]}
    errors = [{"field": name, "message": f"{kind} has no parameter {name!r}"} for name in params if name not in fields]
    for field in fields.values():
        if field.name not in params:
            if field.required:
                errors.append({"field": field.name, "message": "required"})
            continue
        problem = _field_problem(field, params[field.name])
        if problem:
            errors.append({"field": field.name, "message": problem})
    if errors:
        raise MonitorError("invalid_rule_params", f"{len(errors)} problem(s) in the parameters of {kind}", errors=errors)
    return {name: params[name] for name in fields if name in params}


def _field_problem(field: Field, value: object) -> str | None:
    if field.type == "int":
        # bool is an int in Python; true is not a count.
        if type(value) is not int:
            return "must be an integer"
        if not field.low <= value <= field.high:
            return f"must be between {field.low} and {field.high}"
        return None
    if not isinstance(value, str):
        return "must be a string"
    if field.type == "currency":
        try:
            check_currency(value)
        except MoneyError as error:
            return str(error)
        return None
    return None if value in CHANNELS else f"must be one of the channels: {', '.join(CHANNELS)}"


def check_owner(owner: str) -> str:
    if not OWNER_PATTERN.match(owner):
        raise MonitorError("invalid_owner", f"owner must be role:<{'|'.join(ROLES)}> or user:<label>, not {owner!r}")
    return owner


def check_response_hours(hours: int) -> int:
    if type(hours) is not int or not 1 <= hours <= RESPONSE_HOURS_MAX:
        raise MonitorError("invalid_response_hours", f"response_hours must be an integer from 1 to {RESPONSE_HOURS_MAX}")
    return hours
