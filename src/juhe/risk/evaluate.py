"""How well a model and rule set stop fraud on a labelled history, decided as in production.

Every payment goes through `RiskEngine.decide` in time order, with a fresh feature store.
Verification is simulated: a legit payer passes a step-up (it is their phone), a fraudster
fails it; a payment that went through (allowed, or stepped up and verified) is confirmed, so
the payer's profile learns from it -- also from fraud the engine let through, as it would.
Rows in the first `warmup_days` only build history and are not counted. The history is a
HISTORY frame: generated, or read from a labelled CSV (columns documented in juhe.risk.dataset).
Nothing is trained here. Fraud is confirmed late: each fraud payment's report reaches the store
`label_delay_days` after it (its terminal's, store's and merchant's confirmed-fraud figures, the
compromise check), so no decision sees a label before it would have been known.

Figures (fractions 0-1):
    interception_rate         fraud payments stepped up or blocked / fraud payments
    interception_amount_rate  the same weighted by amount (in the currency with most fraud)
    false_positive_rate       legit payments stepped up or blocked / legit payments
    auprc                     average precision of the model's score (sklearn)
    step_up_rate              payments stepped up / payments
    by_typology               {typology: interception by the decisions}
    at_1pct_fp                the score alone at <= 1 % false positives (juhe.risk.comparison)
    baseline                  the same for the handbook's baseline model (juhe.risk.baseline), when run
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table
from sklearn.metrics import average_precision_score

from juhe.risk.engine import DecisionPolicy, RiskEngine
from juhe.risk.facts import Decision, RiskError
from juhe.risk.model import RiskModel
from juhe.risk.comparison import at_operating_point
from juhe.risk.compromise import ReplayReviewer
from juhe.risk.replay import LABEL_DELAY_DAYS, Advance, Event, as_it_happened, events, learn_report
from juhe.risk.rules import RuleSet
from juhe.risk.store import InMemoryFeatureStore
from juhe.progress import printed_json

AIM_INTERCEPTION = 0.98
AIM_FALSE_POSITIVES = 0.01


@dataclass
class Evaluation:
    payments: int = 0
    fraud_payments: int = 0
    intercepted: int = 0
    false_positives: int = 0
    step_ups: int = 0
    blocks: int = 0
    currency: str = ""
    fraud_amount_minor: int = 0
    intercepted_amount_minor: int = 0
    auprc: float = 0.0
    by_typology: dict[str, list[int]] = field(default_factory=dict)  # typology -> [intercepted, payments]
    verifications: Counter = field(default_factory=Counter)
    at_1pct_fp: dict = field(default_factory=dict)  # the score alone at the operating point
    baseline: dict | None = None  # the baseline model at the same point, with its training rows

    def figures(self) -> dict:
        legit = self.payments - self.fraud_payments
        figures = {
            "interception_rate": _share(self.intercepted, self.fraud_payments),
            "interception_amount_rate": _share(self.intercepted_amount_minor, self.fraud_amount_minor),
            "false_positive_rate": _share(self.false_positives, legit),
            "auprc": round(self.auprc, 4),
            "step_up_rate": _share(self.step_ups, self.payments),
            "by_typology": {name: _share(caught, total) for name, (caught, total) in sorted(self.by_typology.items())},
            "at_1pct_fp": self.at_1pct_fp,
        }
        if self.baseline is not None:
            figures["baseline"] = self.baseline
        return figures

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if printed_json(self.figures(), as_json):
            return
        console = console or Console()
        figures = self.figures()
        table = Table(title=f"Fraud decisions on {self.payments:,} payments ({self.fraud_payments:,} fraud)",
                      title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_row("interception (by count)", _marked(figures["interception_rate"], AIM_INTERCEPTION, above=True))
        table.add_row(f"interception (by amount, {self.currency})", f"{figures['interception_amount_rate']:.2%}")
        table.add_row("false positives (legit stepped up or blocked)",
                      _marked(figures["false_positive_rate"], AIM_FALSE_POSITIVES, above=False))
        table.add_row("AUPRC of the score", f"{figures['auprc']:.4f}")
        table.add_row("step-up rate", f"{figures['step_up_rate']:.2%}")
        table.add_row("block rate", f"{_share(self.blocks, self.payments):.2%}")
        for typology, (caught, total) in sorted(self.by_typology.items()):
            table.add_row(f"  {typology}", f"{caught:,} / {total:,}")
        console.print(table)
        console.print(_comparison_table(self.at_1pct_fp, self.baseline))
        asked = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.verifications.items()))
        console.print(f"[dim]Verification asked: {asked or 'none'}. Aims: interception ≥ {AIM_INTERCEPTION:.0%} "
                      f"at ≤ {AIM_FALSE_POSITIVES:.0%} false positives.[/dim]")


def evaluate(history: pl.DataFrame, *, model: RiskModel | None, rules: RuleSet, policy: DecisionPolicy | None = None,
             warmup_days: float, label_delay_days: float = LABEL_DELAY_DAYS,
             advance: Advance = lambda _n: None,
             observe: Callable[[Event, Decision], None] = lambda _event, _decision: None) -> Evaluation:
    """`observe` is told every scored payment's event and decision, in time order."""
    engine = RiskEngine(InMemoryFeatureStore(), model=model, rules=rules, policy=policy)
    reviewer = ReplayReviewer()
    result = Evaluation()
    labels, scores, types, fraud_amounts, caught_amounts = [], [], [], Counter(), Counter()
    for event in events(history, warmup_days, label_delay_days):
        reviewer.review(engine.pipeline.store, event.at)
        if event.report:
            learn_report(engine.pipeline, event, reviewer)
            continue
        advance(1)
        if event.payment is None:
            engine.record_password_reset(event.payer_id, event.at)
            continue
        if not event.scored:  # warm-up: history only
            as_it_happened(engine.pipeline, event)
            continue
        decision = engine.decide(event.payment, event.at)
        observe(event, decision)
        stopped = decision.action != "allow"
        if went_through(decision.action, event.is_fraud):
            engine.confirm(event.payment, event.at)
        _count(result, event, decision.action, decision.verification, stopped, fraud_amounts, caught_amounts)
        labels.append(event.is_fraud)
        scores.append(decision.score)
        types.append(event.fraud_type)
    if not result.fraud_payments:
        raise RiskError("no_fraud", "the history has no fraud payments after the warm-up: nothing to intercept")
    result.currency = fraud_amounts.most_common(1)[0][0]
    result.fraud_amount_minor = fraud_amounts[result.currency]
    result.intercepted_amount_minor = caught_amounts[result.currency]
    result.auprc = float(average_precision_score(np.array(labels), np.array(scores)))
    result.at_1pct_fp = at_operating_point(np.array(scores), np.array(labels), types)
    return result


def went_through(action: str, is_fraud: bool) -> bool:
    """Allowed, or stepped up and verified: a legit payer passes the step-up, a fraudster does not."""
    return action == "allow" or (action == "step_up" and not is_fraud)


def _count(result: Evaluation, event, action: str, verification: str, stopped: bool, fraud_amounts: Counter,
           caught_amounts: Counter) -> None:
    result.payments += 1
    result.step_ups += action == "step_up"
    result.blocks += action == "block"
    if verification != "none":
        result.verifications[verification] += 1
    if not event.is_fraud:
        result.false_positives += stopped
        return
    result.fraud_payments += 1
    result.intercepted += stopped
    typology = result.by_typology.setdefault(event.fraud_type or "unlabelled", [0, 0])
    typology[0] += stopped
    typology[1] += 1
    fraud_amounts[event.payment.currency] += event.payment.amount_minor
    if stopped:
        caught_amounts[event.payment.currency] += event.payment.amount_minor


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _marked(value: float, aim: float, *, above: bool) -> str:
    met = value >= aim if above else value <= aim
    return f"[green]{value:.2%} ✓[/green]" if met else f"[red]{value:.2%} ✗[/red]"


def _comparison_table(engine: dict, baseline: dict | None) -> Table:
    table = Table(title="At ≤ 1 % false positives (threshold chosen on these payments)", title_justify="left")
    table.add_column("figure")
    table.add_column("engine score", justify="right")
    if baseline is not None:
        table.add_column(f"baseline ({baseline['model']})", justify="right")
    rows = [("AUPRC", "auprc", "{:.4f}"), ("interception", "interception_rate", "{:.2%}"),
            ("false positives", "false_positive_rate", "{:.2%}")]
    for label, key, form in rows:
        table.add_row(label, form.format(engine[key]), *([form.format(baseline[key])] if baseline else []))
    for typology, rate in engine["by_typology"].items():
        other = (baseline or {}).get("by_typology", {}).get(typology)
        table.add_row(f"  {typology}", f"{rate:.2%}", *([f"{other:.2%}" if other is not None else "-"] if baseline else []))
    return table
