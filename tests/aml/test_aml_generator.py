"""Generated movements: each planted scenario alerts on its accounts, clean data alerts on nothing."""

from __future__ import annotations

import pytest

from juhe.aml.config import MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.generator import generate_movements
from juhe.aml.scenarios import SCENARIOS, monitor

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_data_raises_no_alert(seed):
    generated = generate_movements(seed)
    assert generated.frame.height > 3000 and generated.planted == {}
    assert monitor(generated.frame) == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_planted_scenario_alerts_on_its_accounts_only(seed, scenario):
    generated = generate_movements(seed, [scenario])
    alerts = monitor(generated.frame)
    assert {alert.scenario for alert in alerts} == {scenario}
    assert {alert.account_id for alert in alerts} == set(generated.planted[scenario])


@pytest.mark.parametrize("seed", SEEDS)
def test_all_scenarios_together_are_each_found(seed):
    generated = generate_movements(seed, list(SCENARIOS), accounts=20)
    found = {(alert.scenario, alert.account_id) for alert in monitor(generated.frame)}
    assert found == {(name, account) for name, accounts in generated.planted.items() for account in accounts}


def test_structuring_evidence_is_the_planted_cash_deposits():
    generated = generate_movements(5, ["structuring"])
    frame = generated.frame
    for alert in monitor(frame):
        cited = frame.filter(frame["movement_id"].is_in(alert.movement_ids))
        assert set(cited["channel"]) == {"cash"} and set(cited["direction"]) == {"in"}
        assert cited["amount_minor"].min() >= 45_000_00 and cited["amount_minor"].max() < 50_000_00


def test_same_seed_same_movements_other_seed_other_movements():
    first = generate_movements(11, ["fan_in"], accounts=5, days=120)
    again = generate_movements(11, ["fan_in"], accounts=5, days=120)
    other = generate_movements(12, ["fan_in"], accounts=5, days=120)
    assert first.frame.equals(again.frame) and first.planted == again.planted
    assert not first.frame.equals(other.frame)


def test_usd_movements_follow_usd_limits():
    generated = generate_movements(4, ["structuring", "high_frequency_large"], accounts=10, currency="USD")
    alerts = monitor(generated.frame)
    assert {alert.currency for alert in alerts} == {"USD"}
    assert {alert.scenario for alert in alerts} == {"structuring", "high_frequency_large"}


def test_generator_follows_a_stricter_config():
    config = MonitoringConfig(fan_counterparties_min=5, high_frequency_count_min=3)
    generated = generate_movements(2, ["fan_out", "high_frequency_large"], accounts=15, config=config)
    found = {(alert.scenario, alert.account_id) for alert in monitor(generated.frame, config)}
    assert found == {(name, account) for name, accounts in generated.planted.items() for account in accounts}


@pytest.mark.parametrize("kwargs, code", [
    ({"scenarios": ["smurfing"]}, "unknown_scenario"),
    ({"accounts": 0}, "invalid_generator"),
    ({"days": 100, "scenarios": ["dormant_reactivation"]}, "invalid_generator"),  # too short to fall dormant
    ({"currency": "EUR"}, "no_limits_for_currency"),
])
def test_generator_refuses_what_it_cannot_do(kwargs, code):
    with pytest.raises(AmlError) as raised:
        generate_movements(1, **kwargs)
    assert raised.value.code == code
