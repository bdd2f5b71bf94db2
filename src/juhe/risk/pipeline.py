"""From payment facts to features, through the feature store: the one path training and serving share.

`observe` places the payment, reads its history, computes its features and records the
attempt (velocity counts every attempt). `learn` tells the store the payment went through,
so the payer's profile learns from it. Training replays a labelled history through the same
two calls, so that the model learns on exactly the features the engine will compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from juhe.risk import features as feature_math
from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import Place, RegionDirectory
from juhe.risk.store import FeatureStore

Features = dict[str, float | int | bool | str]


@dataclass(frozen=True, slots=True)
class Observation:
    features: Features
    place: Place
    local_hour: int


class FeaturePipeline:
    def __init__(self, store: FeatureStore, regions: RegionDirectory, scene_limit_minor: int):
        self.store = store
        self.regions = regions
        self.scene_limit_minor = scene_limit_minor

    def locate(self, payment: PaymentFacts) -> tuple[Place, int]:
        place = self.regions.place(payment.ip, payment.latitude, payment.longitude)
        return place, feature_math.local_hour(payment.occurred_at, place)

    def lookup(self, payment: PaymentFacts, now: datetime) -> Features:
        """The features without recording anything (what a read-only caller or a benchmark baseline needs)."""
        place, hour = self.locate(payment)
        history = self.store.lookup(payment, place, hour, now)
        return feature_math.compute(payment, place, hour, history, self.regions, self.scene_limit_minor)

    def observe(self, payment: PaymentFacts, now: datetime) -> Observation:
        place, hour = self.locate(payment)
        history = self.store.lookup(payment, place, hour, now)
        features = feature_math.compute(payment, place, hour, history, self.regions, self.scene_limit_minor)
        self.store.record_attempt(payment, place, now)
        return Observation(features, place, hour)

    def learn(self, payment: PaymentFacts, now: datetime, observation: Observation | None = None) -> None:
        place, hour = (observation.place, observation.local_hour) if observation else self.locate(payment)
        self.store.record_success(payment, place, hour, now)
