"""What the payment flows need from their surroundings, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from juhe.channels.base import Channel
from juhe.db.engine import Database
from juhe.payments.health import ChannelHealth
from juhe.verification.sms import SandboxSms, SmsSender


@dataclass(frozen=True, slots=True)
class RiskDecision:
    action: str  # allow, step_up, block
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()  # for step_up: otp, face
    details: dict = field(default_factory=dict)  # model and rules versions, for the audit trail


class RiskHook(Protocol):
    def assess(self, payment: dict) -> RiskDecision: ...

    def learn(self, payment: dict) -> None:
        """A stepped-up payment passed its verification."""


class AllowAll:
    """The risk hook without a risk engine (tests of other flows): every payment is allowed, and says so."""

    def assess(self, payment: dict) -> RiskDecision:
        return RiskDecision("allow", 0.0, ("no risk engine configured",))

    def learn(self, payment: dict) -> None:
        return None


@dataclass
class PaymentsContext:
    db: Database
    channels: dict[str, Channel]
    notify_base_url: str  # channels post notifications to {notify_base_url}/{channel}
    health: ChannelHealth = field(default_factory=ChannelHealth)
    risk: RiskHook = field(default_factory=AllowAll)
    sms: SmsSender = field(default_factory=SandboxSms)
    payment_ttl: timedelta = timedelta(minutes=15)
    poll_initial: timedelta = timedelta(seconds=5)
    poll_max: timedelta = timedelta(minutes=5)
    # A payment still without an order this long after its create began was cut short (its process died):
    # the poller closes what it may have opened at the channel and fails it.
    interrupted_after: timedelta = timedelta(minutes=5)

    def notify_url(self, channel: str) -> str:
        return f"{self.notify_base_url}/{channel}"
