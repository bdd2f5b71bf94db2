"""What the payment flows need from their surroundings, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from juhe.channels.base import Channel
from juhe.db.engine import Database
from juhe.payments.health import ChannelHealth


@dataclass(frozen=True, slots=True)
class RiskDecision:
    action: str  # allow, step_up, block
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()  # for step_up: otp, face


class RiskHook(Protocol):
    def assess(self, payment: dict) -> RiskDecision: ...


class AllowAll:
    """The risk hook until the risk engine plugs in: every payment is allowed, and says so."""

    def assess(self, payment: dict) -> RiskDecision:
        return RiskDecision("allow", 0.0, ("no risk engine configured",))


@dataclass
class PaymentsContext:
    db: Database
    channels: dict[str, Channel]
    notify_base_url: str  # channels post notifications to {notify_base_url}/{channel}
    health: ChannelHealth = field(default_factory=ChannelHealth)
    risk: RiskHook = field(default_factory=AllowAll)
    payment_ttl: timedelta = timedelta(minutes=15)
    poll_initial: timedelta = timedelta(seconds=5)
    poll_max: timedelta = timedelta(minutes=5)

    def notify_url(self, channel: str) -> str:
        return f"{self.notify_base_url}/{channel}"
