"""Schemathesis against the live OpenAPI document: every phase (examples, coverage, fuzzing, and
stateful runs along the document's links from a creation to get/refund/cancel), once per caller —
each role's key and no key at all. What it must find: no 5xx and no answer that breaks the document.

The figures come from both sides: schemathesis's report (test cases, failures by check) and the
API's own request counter (`/metrics`), so "requests" means requests the server answered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# What "breaks the document" means. Left out, and why: positive_data_acceptance (a payment API
# refuses schema-valid data by its rules: an account code's shape, funds, states), negative_data_rejection
# (pydantic reads "0" as a date, as JSON clients expect it to), unsupported_method (GET /v1/settlements/runs
# routes as a settlement id), missing_required_header, use_after_free, ensure_resource_availability
# (a refusal of a deleted or failed object is by rule).
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "allow_header_conformance", "ignored_auth")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
REFUSED_AT_THE_DOOR = {"401", "403"}
RUN_TIMEOUT_S = 3_600
REQUESTS_LINE = re.compile(r'^juhe_http_requests_total\{(?P<labels>[^}]*)\}\s+(?P<count>[0-9.e+]+)$', re.M)


@dataclass
class FuzzReport:
    callers: list[str] = field(default_factory=list)
    test_cases: int = 0
    requests: int = 0  # answered by the API, as its own counter says
    past_auth: int = 0  # of those, answered by a route past its key check (not 401/403, not unmatched)
    server_errors: int = 0  # 5xx answers, as the API counted them
    failures: dict[str, int] = field(default_factory=dict)  # schemathesis check code → count
    failed_operations: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict:
        return {"callers": len(self.callers), "test_cases": self.test_cases, "requests": self.requests,
                "requests_past_auth": self.past_auth, "server_errors": self.server_errors,
                "schema_failures": sum(self.failures.values())}


def fuzz(api_url: str, callers: dict[str, str | None], *, max_examples: int, phases: tuple[str, ...] = PHASES,
         seed: int = 2026, max_time_s: int | None = None) -> FuzzReport:
    """`callers`: name → bearer key (None: no key). One schemathesis run per caller, one at a time."""
    report = FuzzReport()
    with httpx.Client(base_url=api_url, timeout=30) as api, tempfile.TemporaryDirectory(prefix="juhe-fuzz-") as folder:
        before = _counted(api)
        for name, key in callers.items():
            result = _run(api_url, key, Path(folder) / f"{name}.json", max_examples, phases, seed, max_time_s)
            report.callers.append(name)
            report.test_cases += result["test_cases"]["generated"]
            for failure in result["failures"]:
                report.failures[failure["code"]] = report.failures.get(failure["code"], 0) + failure["count"]
                report.failed_operations += [f"{name}: {failure['code']} {op}" for op in failure["operations"]]
        after = _counted(api)
    for labels, count in after.items():
        delta = int(count - before.get(labels, 0))
        route, status = labels
        report.requests += delta
        report.server_errors += delta if status.startswith("5") else 0
        report.past_auth += delta if status not in REFUSED_AT_THE_DOOR and route != "unmatched" else 0
    return report


def _run(api_url: str, key: str | None, report_path: Path, max_examples: int, phases, seed: int, max_time_s) -> dict:
    argv = [_schemathesis(), "run", f"{api_url}/openapi.json", "--workers", "1", "--seed", str(seed),
            "--max-examples", str(max_examples), "--phases", ",".join(phases), "--checks", ",".join(CHECKS),
            "--report", "json", "--report-json-path", str(report_path), "--no-color"]
    if key is not None:
        argv += ["--header", f"Authorization: Bearer {key}"]
    if max_time_s is not None:
        argv += ["--max-time", str(max_time_s)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if not report_path.exists():
        raise RuntimeError(f"schemathesis did not run (exit {done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(report_path.read_text())


def _schemathesis() -> str:
    beside = Path(sys.executable).parent / "schemathesis"  # the venv's, whether or not it is on PATH
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        raise RuntimeError("schemathesis is not installed: pip install -e '.[dev]'")
    return found


def _counted(api: httpx.Client) -> dict[tuple[str, str], float]:
    """(route, status) → requests answered, from the API's Prometheus counter."""
    counts: dict[tuple[str, str], float] = {}
    for match in REQUESTS_LINE.finditer(api.get("/metrics").text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        key = (labels["route"], labels["status"])
        counts[key] = counts.get(key, 0) + float(match["count"])
    return counts
