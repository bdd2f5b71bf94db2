"""Training, thresholds, the on-disk registry, and evaluation on a held-out seed."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from juhe.risk.default_rules import default_rules
from juhe.risk.evaluate import evaluate
from juhe.risk.facts import RiskError
from juhe.risk.features import MODEL_FEATURES
from juhe.risk.generator import generate
from juhe.risk.model import Thresholds, check_feature_list
from juhe.risk.registry import RiskRegistry
from juhe.risk.replay import feature_frame
from juhe.risk.rules import parse_rules
from juhe.risk.train import TrainingOptions, choose_thresholds, train_model

WARMUP = 4


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return feature_frame(generate(300, 10, 5, warmup_days=WARMUP, fraud_episodes_per_payer=0.4), warmup_days=WARMUP)


@pytest.fixture(scope="module")
def model(frame):
    return train_model(frame, TrainingOptions(rounds=60), source={"generated": {"seed": 5}})


def test_thresholds_keep_legit_flags_within_the_target():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05, 0.3, 0.6])
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0])  # six legit: 0.7 0.6 0.3 0.2 0.1 0.05
    chosen = choose_thresholds(scores, labels, target_fpr=2 / 6, target_block_fpr=1 / 6)
    legit = scores[labels == 0]
    assert (legit >= chosen.step_up_score).sum() == 2 and (legit >= chosen.block_score).sum() == 1
    assert chosen.step_up_score == pytest.approx(0.3) and chosen.block_score == pytest.approx(0.6)
    with pytest.raises(RiskError) as caught:
        Thresholds(0.5, 0.4)
    assert caught.value.code == "bad_thresholds"


def test_training_records_version_features_thresholds_and_validation(model, frame):
    meta = model.metadata
    assert meta["version"] == model.version and meta["features"] == list(MODEL_FEATURES)
    assert meta["thresholds"] == {"step_up_score": model.thresholds.step_up_score, "block_score": model.thresholds.block_score}
    assert meta["training"]["rows"] + meta["validation"]["rows"] == frame.filter("scored").height
    assert meta["validation"]["model_false_positive_rate"] <= TrainingOptions().target_fpr
    assert meta["validation"]["auprc"] > 0.8
    assert meta["training"]["source"] == {"generated": {"seed": 5}}


def test_payers_are_not_split_across_training_and_validation(model, frame):
    # Re-derive the split: the validation rows' payers must have no rows in training.
    import zlib

    payers = frame.filter("scored")["payer_id"].unique().to_list()
    valid = {p for p in payers if zlib.crc32(p.encode()) % 1000 < 250}
    rows_valid = frame.filter(pl.col("scored") & pl.col("payer_id").is_in(list(valid))).height
    assert rows_valid == model.metadata["validation"]["rows"]


def test_too_little_fraud_is_refused(frame):
    with pytest.raises(RiskError) as caught:
        train_model(frame.filter(~pl.col("is_fraud")), TrainingOptions(rounds=5))
    assert caught.value.code == "too_little_fraud"
    with pytest.raises(RiskError) as caught:
        TrainingOptions(target_fpr=0.0001, target_block_fpr=0.001)
    assert caught.value.code == "bad_training_options"


def test_saved_models_load_identically_and_activate(model, frame, tmp_path):
    registry = RiskRegistry(tmp_path)
    assert registry.active_model() is None
    folder = registry.save_model(model)
    assert json.loads((folder / "metadata.json").read_text())["version"] == model.version
    registry.activate_model(model.version)
    loaded = registry.active_model()
    rows = frame.filter("scored").head(200)
    assert np.allclose(loaded.score_frame(rows), model.score_frame(rows))
    assert loaded.thresholds == model.thresholds and registry.model_versions() == [model.version]
    with pytest.raises(RiskError) as caught:
        registry.save_model(model)
    assert caught.value.code == "version_exists"
    with pytest.raises(RiskError) as caught:
        registry.activate_model("no-such-model")
    assert caught.value.code == "unknown_version"
    assert registry.active_model().version == model.version  # a failed activation changed nothing
    with pytest.raises(RiskError) as caught:
        registry.load_model("../escape")
    assert caught.value.code == "bad_version"


def test_a_model_for_other_features_cannot_be_used():
    with pytest.raises(RiskError) as caught:
        check_feature_list(MODEL_FEATURES[:-1], "old")
    assert caught.value.code == "feature_mismatch"


def test_rule_sets_are_versioned_and_immutable(tmp_path):
    registry = RiskRegistry(tmp_path)
    assert registry.active_rules() is None
    registry.activate_rules(default_rules())
    assert registry.active_rules().to_json() == default_rules().to_json()
    registry.save_rules(default_rules())  # the same rules again: fine
    changed = default_rules().to_json()
    changed["rules"] = changed["rules"][:1]
    with pytest.raises(RiskError) as caught:
        registry.save_rules(parse_rules(changed))
    assert caught.value.code == "version_exists"
    assert len(registry.active_rules().rules) == 7


def test_evaluation_on_a_held_out_seed_intercepts_most_fraud(model):
    held_out = generate(250, 10, 9, warmup_days=WARMUP, fraud_episodes_per_payer=0.3)
    result = evaluate(held_out, model=model, rules=default_rules(), warmup_days=WARMUP)
    figures = result.figures()
    assert set(figures) == {"interception_rate", "interception_amount_rate", "false_positive_rate", "auprc", "step_up_rate",
                            "by_typology", "at_1pct_fp"}
    assert result.fraud_payments > 50 and result.payments > 3_000
    assert figures["interception_rate"] > 0.85 and figures["false_positive_rate"] < 0.03 and figures["auprc"] > 0.7
    assert sum(total for _, total in result.by_typology.values()) == result.fraud_payments
    assert set(result.by_typology) == {"stolen_card", "cash_out", "account_takeover"}


def test_evaluation_needs_fraud_to_intercept(model):
    legit_only = generate(50, 5, 9, warmup_days=2, fraud_episodes_per_payer=0.0)
    with pytest.raises(RiskError) as caught:
        evaluate(legit_only, model=model, rules=default_rules(), warmup_days=2)
    assert caught.value.code == "no_fraud"
