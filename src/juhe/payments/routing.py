"""Routing: which channels may take a payment, in which order, and why.

Order by expected cost: the contract's fee plus a penalty for the chance of failure
(1,000 bps × failure rate: one point of success rate is worth 10 bps of fee), with the
payer's preferred channel first. Channels with an open circuit go last, not out: when every
channel is failing, trying one beats failing outright."""

from __future__ import annotations

from dataclasses import dataclass

from juhe.channels.base import Channel, Scenario
from juhe.payments.health import ChannelHealth

FAILURE_PENALTY_BPS = 1_000


@dataclass(frozen=True, slots=True)
class Contract:
    channel: str
    merchant_fee_bps: int
    channel_fee_bps: int
    priority: int
    max_amount_minor: int | None


@dataclass(frozen=True, slots=True)
class RouteChoice:
    channels: list[str]
    reason: str
    candidates: list[dict]

    def as_json(self) -> dict:
        return {"order": self.channels, "reason": self.reason, "candidates": self.candidates}


def route(
    channels: dict[str, Channel],
    contracts: list[Contract],
    health: ChannelHealth,
    *,
    scenario: Scenario,
    currency: str,
    amount_minor: int,
    preferred: str | None,
) -> RouteChoice:
    eligible: list[tuple[tuple, str, dict]] = []
    candidates: list[dict] = []
    for contract in contracts:
        channel = channels.get(contract.channel)
        excluded = _exclusion(channel, contract, scenario, currency, amount_minor)
        info: dict = {"channel": contract.channel, "fee_bps": contract.channel_fee_bps}
        if excluded:
            candidates.append({**info, "eligible": False, "excluded_because": excluded})
            continue
        view = health.view(contract.channel)
        cost_bps = contract.channel_fee_bps + FAILURE_PENALTY_BPS * (1 - view.success_rate)
        info |= {"eligible": True, "success_rate": round(view.success_rate, 4), "samples": view.samples,
                 "circuit_open": view.circuit_open, "cost_bps": round(cost_bps, 1)}
        candidates.append(info)
        sort_key = (contract.channel != preferred, view.circuit_open, cost_bps, contract.priority, contract.channel)
        eligible.append((sort_key, contract.channel, info))
    eligible.sort(key=lambda item: item[0])
    order = [name for _, name, _ in eligible]
    return RouteChoice(order, _explain(order, eligible, preferred, scenario, currency), candidates)


def _exclusion(channel: Channel | None, contract: Contract, scenario: Scenario, currency: str, amount_minor: int) -> str | None:
    if channel is None:
        return "channel not configured"
    if scenario not in channel.scenarios:
        return f"does not support scenario {scenario.value}"
    if currency not in channel.currencies:
        return f"does not support {currency}"
    if contract.max_amount_minor is not None and amount_minor > contract.max_amount_minor:
        return f"amount above the contract's limit {contract.max_amount_minor}"
    return None


def _explain(order: list[str], eligible, preferred: str | None, scenario: Scenario, currency: str) -> str:
    if not order:
        return f"no channel takes {scenario.value} payments in {currency} for this merchant"
    first = eligible[0][2]
    why = "preferred by the request" if order[0] == preferred else "lowest expected cost"
    health = f"success {first['success_rate']:.1%} over {first['samples']} recent calls"
    if first["circuit_open"]:
        health += ", circuit open (every channel is failing)"
    fallback = f"; failover order {' → '.join(order[1:])}" if len(order) > 1 else ""
    return f"{order[0]}: {why}; fee {first['fee_bps']} bps, {health}{fallback}"
