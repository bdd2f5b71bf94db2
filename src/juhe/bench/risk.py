"""`juhe bench risk`: fraud decisions per second and their latency, beside a baseline of the
feature lookup alone, both measured in the same run on the same traffic.

1. Traffic: a generated history (`risk.generator`, `payers` payers, 14 days after a warm-up).
   Its leading days warm a fresh in-memory feature store, as a running engine's would be.
2. Model: the one passed in (the active model), else one trained on its own generated history
   (another seed) before timing starts. Rules: the ones passed in, else the default set.
3. Baseline: for each of the next `decisions` payments, `FeaturePipeline.lookup` -- place the
   payment, read its history, compute its features -- and nothing else.
4. Decisions: for the same payments, `RiskEngine.decide` -- all of the above, plus recording the
   attempt, rules, the model's score, and for any step-up or block the pred_contrib reasons --
   and `confirm` for the payments that went through (untimed), so the store keeps learning.
5. Optionally `http_decide`, a callable deciding one payment over HTTP (the API's client), timed
   the same way on the same payments: its figures appear under "http".

Both sides run one payment at a time on one thread; latency is per call (perf_counter_ns).
The ratio is decisions/s over lookups/s: the share of the bare feature lookup's pace that a
whole decision keeps.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from rich.console import Console
from rich.progress import Progress

from juhe.bench.payments import percentile
from juhe.bench.report import Comparison, Report, track
from juhe.risk.default_rules import default_rules
from juhe.risk.engine import RiskEngine
from juhe.risk.facts import Decision, PaymentFacts
from juhe.risk.generator import generate
from juhe.risk.model import RiskModel
from juhe.risk.evaluate import went_through
from juhe.risk.replay import Event, as_it_happened, events, feature_frame
from juhe.risk.rules import RuleSet
from juhe.risk.store import InMemoryFeatureStore
from juhe.risk.train import train_model

AIM_P99_MS = 5.0  # from the issue, in process
TRAFFIC_DAYS, WARMUP_DAYS = 14, 7
TRAFFIC_SEED, MODEL_SEED = 11, 12
HttpDecide = Callable[[PaymentFacts, datetime], Decision]


class BenchError(RuntimeError):
    """The benchmark could not run (too little traffic for the decisions asked)."""


@dataclass
class Timing:
    calls: int
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def per_s(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def figures(self, rate_key: str) -> dict[str, float]:
        return {rate_key: round(self.per_s, 1), "p50_ms": round(percentile(self.latencies_ms, 50), 3),
                "p99_ms": round(percentile(self.latencies_ms, 99), 3)}


@dataclass
class RiskBenchResult:
    decisions: Timing
    baseline: Timing
    http: Timing | None = None
    model_version: str | None = None
    actions: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict:
        decide, lookup = self.decisions.figures("decisions_per_s"), self.baseline.figures("lookups_per_s")
        ratio = round(decide["decisions_per_s"] / lookup["lookups_per_s"], 4) if lookup["lookups_per_s"] else 0.0
        out = {"in_process": decide, "baseline": lookup, "ratio": ratio}
        if self.http is not None:
            out["http"] = self.http.figures("decisions_per_s")
        return out

    def report(self) -> Report:
        report = Report("Risk decisions in process vs. the feature lookup alone (one thread)")
        report.add(Comparison("in_process", "decisions", "decide()", self.decisions.calls, self.decisions.per_s,
                              self.baseline.per_s, group_label="in process", unit="per_s"))
        if self.http is not None:
            report.add(Comparison("http", "decisions", "decide over HTTP", self.http.calls, self.http.per_s,
                                  self.baseline.per_s, group_label="HTTP", unit="per_s"))
        figures = self.figures()
        for name, key in (("decide()", "in_process"), ("lookup", "baseline"), ("HTTP", "http")):
            if key in figures:
                mark = (" ✓" if figures[key]["p99_ms"] <= AIM_P99_MS else " ✗") if key == "in_process" else ""
                p50, p99 = figures[key]["p50_ms"], figures[key]["p99_ms"]
                report.notes.append(f"{name}: p50 {p50:.3f} ms, p99 {p99:.3f} ms{mark}")
        report.notes.append(f"Aim: decide() p99 ≤ {AIM_P99_MS:g} ms. Model {self.model_version or 'none'}; "
                            f"actions {', '.join(f'{k} {v:,}' for k, v in sorted(self.actions.items()))}.")
        return report

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            sys.stdout.flush()
            return
        self.report().print(console=console)


def run(*, decisions: int = 20_000, payers: int = 2_000, model: RiskModel | None = None, rules: RuleSet | None = None,
        http_decide: HttpDecide | None = None, progress: Progress | None = None) -> RiskBenchResult:
    if decisions < 1 or payers < 1:
        raise BenchError("--decisions and --payers must be at least 1")
    history = generate(payers, TRAFFIC_DAYS, TRAFFIC_SEED, warmup_days=WARMUP_DAYS)
    warm, timed = _split(list(events(history, WARMUP_DAYS)), decisions)
    model = model or _quick_model(payers)
    engine = RiskEngine(InMemoryFeatureStore(), model=model, rules=rules or default_rules())
    advance = track(progress, "warm-up", len(warm))
    for event in warm:
        as_it_happened(engine.pipeline, event)
        advance(1)
    payments = [e for e in timed if e.payment is not None]
    baseline = _time_calls(payments, lambda e: engine.pipeline.lookup(e.payment, e.at), None,
                           track(progress, "lookups", len(payments)))
    actions: dict[str, int] = {}
    timing = _time_calls(timed, lambda e: engine.decide(e.payment, e.at), _after_decision(engine, actions),
                         track(progress, "decisions", len(timed)))
    result = RiskBenchResult(timing, baseline, model_version=model.version, actions=actions)
    if http_decide is not None:
        result.http = _time_calls(payments, lambda e: http_decide(e.payment, e.at), None,
                                  track(progress, "HTTP", len(payments)))
    return result


def _quick_model(payers: int) -> RiskModel:
    history = generate(max(500, payers // 2), TRAFFIC_DAYS, MODEL_SEED, warmup_days=WARMUP_DAYS)
    return train_model(feature_frame(history, warmup_days=WARMUP_DAYS))


def _split(all_events: list[Event], decisions: int) -> tuple[list[Event], list[Event]]:
    """Warm-up events, then the last `decisions` payments of the scored period (with resets among them)."""
    scored = [i for i, e in enumerate(all_events) if e.scored and e.payment is not None]
    if len(scored) < decisions:
        raise BenchError(f"the generated traffic has {len(scored):,} payments to time; ask for fewer --decisions "
                         "or more --payers")
    first = scored[-decisions]
    return all_events[:first], all_events[first:]


def _after_decision(engine: RiskEngine, actions: dict[str, int]) -> Callable[[Event, Decision | None], None]:
    """Untimed: resets are recorded; a payment goes through or not, as the evaluation simulates verification."""
    def after(event: Event, decision: Decision | None) -> None:
        if decision is None:
            engine.record_password_reset(event.payer_id, event.at)
            return
        actions[decision.action] = actions.get(decision.action, 0) + 1
        if went_through(decision.action, event.is_fraud):
            engine.confirm(event.payment, event.at)
    return after


def _time_calls(timed: list[Event], call: Callable[[Event], object], after: Callable | None, advance) -> Timing:
    """Each payment's call timed on its own; `after` sees every event (a reset with None), untimed."""
    latencies: list[float] = []
    for event in timed:
        advance(1)
        if event.payment is None:
            if after is not None:
                after(event, None)
            continue
        begin = time.perf_counter_ns()
        result = call(event)
        latencies.append((time.perf_counter_ns() - begin) / 1e6)
        if after is not None:
            after(event, result)
    return Timing(len(latencies), sum(latencies) / 1000, latencies)
