"""No label reaches a decision made before it was known: the proof by changing the labels.

Two evaluations of one independent simulated history (juhe.risk.cardsim) differ only in the labels
of the payments from day CUT on (the second calls them all genuine). A fraud report arrives
LABEL_DELAY days after its payment, so every decision before CUT + LABEL_DELAY must come out the
same in both -- every feature, the score, the action and its reasons -- and later ones may differ.
The one thing a label changes at once is the step-up's outcome (a fraudster fails the OTP, a genuine
payer passes and their profile learns the payment): payers with such a payment between CUT and the
decision are left out of the comparison.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from juhe.risk.cardsim import Simulation, simulate
from juhe.risk.default_rules import default_rules
from juhe.risk.evaluate import evaluate

CUT_DAYS, LABEL_DELAY, WARMUP = 20, 7, 5


def decisions(history: pl.DataFrame) -> dict[str, tuple]:
    out = {}

    def observe(event, decision) -> None:
        out[event.payment.payment_id] = (event.at, event.payer_id, decision.action, decision.score,
                                         tuple(decision.reasons), decision.features)

    evaluate(history, model=None, rules=default_rules(), warmup_days=WARMUP, label_delay_days=LABEL_DELAY,
             observe=observe)
    return out


def test_labels_changed_after_a_day_change_no_decision_until_their_reports_would_have_arrived():
    history = simulate(Simulation(customers=150, terminals=120, days=34, radius=15, compromised_terminals_per_day=1,
                                  compromised_customers_per_day=1, seed=3))
    cut = history["occurred_at"].min() + timedelta(days=CUT_DAYS)
    known_by = cut + timedelta(days=LABEL_DELAY)
    later = pl.col("occurred_at") >= cut
    relabelled = history.with_columns(pl.when(later).then(False).otherwise(pl.col("is_fraud")).alias("is_fraud"),
                                      pl.when(later).then(None).otherwise(pl.col("fraud_type")).alias("fraud_type"))
    truth, changed = decisions(history), decisions(relabelled)
    assert truth.keys() == changed.keys()

    relabelled_at = {}  # payer -> when their first payment with another label was made
    for row in history.filter(later & pl.col("is_fraud")).iter_rows(named=True):
        relabelled_at.setdefault(row["payer_id"], row["occurred_at"])
    compared = [pid for pid, (at, payer, *_rest) in truth.items()
                if at < known_by and not (payer in relabelled_at and relabelled_at[payer] < at)]
    assert len(compared) > 3_000
    assert [pid for pid in compared if truth[pid] != changed[pid]] == []

    # Not vacuous: before the reports of the changed labels were due, reports had already reached decisions
    # and stepped up compromised terminals; afterwards the changed labels show.
    before = [truth[pid] for pid in compared]
    assert sum(d[5]["terminal_frauds_known_30d"] > 0 for d in before) > 50
    assert any(any(reason.startswith("rule R7") for reason in d[4]) for d in before)
    after = [pid for pid, d in truth.items() if d[0] >= known_by]
    known_fraud = "merchant_frauds_known_30d"
    assert sum(changed[pid][5][known_fraud] for pid in after) < sum(truth[pid][5][known_fraud] for pid in after)
