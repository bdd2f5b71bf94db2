"""Features of one payment, worked through the pipeline: novelty, travel, local time, velocity."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from juhe.risk.features import FEATURES, MODEL_FEATURES, local_hour
from juhe.risk.geo import REGIONS, RegionDirectory, distance_km
from juhe.risk.pipeline import FeaturePipeline
from juhe.risk.facts import PaymentFacts
from juhe.risk.store import InMemoryFeatureStore

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)  # 12:00 in Beijing
BEIJING_IP, SHANGHAI_IP, LONDON_IP = "58.16.3.4", "58.17.3.4", "185.6.3.4"
BEIJING, SHANGHAI = (39.90, 116.40), (31.23, 121.47)


def payment(n: int, at: datetime, *, ip: str = BEIJING_IP, where: tuple | None = BEIJING, amount: int = 5_000,
            device: str = "d1", card: str = "c1", payer: str = "p1") -> PaymentFacts:
    lat, lon = where if where else (None, None)
    return PaymentFacts(f"t{n}", payer, "m1", "grocery", amount, "CNY", at, card, device, ip, lat, lon)


@pytest.fixture
def pipeline() -> FeaturePipeline:
    return FeaturePipeline(InMemoryFeatureStore(), RegionDirectory(), scene_limit_minor=500_000)


def paid(pipeline: FeaturePipeline, p: PaymentFacts) -> dict:
    observation = pipeline.observe(p, p.occurred_at)
    pipeline.learn(p, p.occurred_at, observation)
    return observation.features


def test_every_catalogued_feature_is_computed_and_nothing_else(pipeline):
    features = paid(pipeline, payment(0, T0))
    assert set(features) == set(FEATURES)
    assert all(FEATURES[name].kind != "text" for name in MODEL_FEATURES)


def test_a_first_payment_is_new_in_every_way(pipeline):
    features = paid(pipeline, payment(0, T0))
    assert features["new_payer"] and features["new_device"] and features["new_card"] and features["new_region"]
    assert features["amount_to_usual_ratio"] == 1.0 and features["hour_share"] == 0.0
    assert features["hours_since_last"] == 720.0 and not features["impossible_travel"]


def test_known_habits_are_not_new_and_the_usual_amount_is_the_median(pipeline):
    for i, amount in enumerate([4_000, 5_000, 6_000]):
        paid(pipeline, payment(i, T0 + timedelta(days=i), amount=amount))
    features = paid(pipeline, payment(9, T0 + timedelta(days=3), amount=50_000))
    assert not (features["new_payer"] or features["new_device"] or features["new_card"] or features["new_region"])
    assert features["amount_to_usual_ratio"] == 10.0
    assert features["payer_payments"] == 3 and features["payer_tenure_days"] == 3.0
    assert features["hour_share"] == 1.0  # always paid around noon
    assert features["new_device"] is False
    assert paid(pipeline, payment(10, T0 + timedelta(days=3, minutes=1), device="d2"))["new_device"] is True


def test_impossible_travel_beijing_to_shanghai_in_half_an_hour(pipeline):
    paid(pipeline, payment(0, T0))
    features = paid(pipeline, payment(1, T0 + timedelta(minutes=30), ip=SHANGHAI_IP, where=SHANGHAI))
    km = distance_km(*BEIJING, *SHANGHAI)
    assert 1_000 < km < 1_100
    assert features["km_from_last"] == pytest.approx(km)
    assert features["speed_kmh"] == pytest.approx(km / 0.5)
    assert features["impossible_travel"] and features["new_region"] and features["region"] == "SH"


def test_the_same_trip_by_plane_in_three_hours_is_possible(pipeline):
    paid(pipeline, payment(0, T0))
    features = paid(pipeline, payment(1, T0 + timedelta(hours=3), ip=SHANGHAI_IP, where=SHANGHAI))
    assert features["speed_kmh"] < 900 and not features["impossible_travel"]


def test_local_hour_follows_the_region_and_ip_mismatch_is_flagged(pipeline):
    features = paid(pipeline, payment(0, T0, ip=LONDON_IP, where=BEIJING))
    assert features["local_hour"] == 12 and features["ip_region"] == "LDN" and features["ip_location_mismatch"]
    in_london = paid(pipeline, payment(1, T0, ip=LONDON_IP, where=None, payer="p2"))
    assert in_london["region"] == "LDN" and in_london["local_hour"] == 4 and in_london["foreign_region"]
    assert in_london["night"] and not in_london["ip_location_mismatch"]


def test_an_unknown_ip_without_location_is_an_unknown_region_on_beijing_time(pipeline):
    features = paid(pipeline, payment(0, T0, ip="10.0.0.1", where=None))
    assert features["region"] == "unknown" and features["local_hour"] == 12 and features["km_from_last"] == 0.0


def test_velocity_features_include_this_payment(pipeline):
    for i in range(3):
        features = paid(pipeline, payment(i, T0 + timedelta(seconds=10 * i), amount=10_000))
    assert features["payer_count_1m"] == 3 and features["card_sum_1m"] == 30_000
    assert features["device_count_24h"] == 3 and features["payer_merchant_count_1h"] == 3
    assert features["round_amount"] and features["merchant_round_share_24h"] == 1.0
    assert features["amount_to_limit_ratio"] == pytest.approx(0.02)


def test_password_reset_features(pipeline):
    pipeline.store.record_password_reset("p1", T0)
    features = paid(pipeline, payment(0, T0 + timedelta(hours=2)))
    assert features["password_reset_24h"] and features["hours_since_password_reset"] == 2.0
    later = paid(pipeline, payment(1, T0 + timedelta(hours=30)))
    assert not later["password_reset_24h"]


def test_device_shared_by_payers(pipeline):
    for i, payer in enumerate(["a", "b", "c"]):
        features = paid(pipeline, payment(i, T0 + timedelta(minutes=i), payer=payer, device="farm"))
    assert features["device_payers_24h"] == 3


def test_local_hour_uses_the_region_offset():
    directory = RegionDirectory()
    new_york = directory.place("185.7.0.1", None, None)
    assert local_hour(datetime(2026, 3, 10, 3, 30, tzinfo=timezone.utc), new_york) == 22


def test_regions_are_found_by_ip_and_by_location():
    directory = RegionDirectory()
    for region in REGIONS:
        assert directory.nearest(region.latitude + 0.05, region.longitude - 0.05) is region
        assert all(directory.region_of_ip(f"{prefix}.7.9") is region for prefix in region.ip_prefixes)
    assert directory.region_of_ip("::1") is None and directory.region_of_ip("10.1.2.3") is None
    with pytest.raises(ValueError):
        RegionDirectory((REGIONS[0], REGIONS[0]))
