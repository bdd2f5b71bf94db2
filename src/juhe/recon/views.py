"""A reconciliation run as the API and the CLI show it."""

from __future__ import annotations

from juhe.recon.models import ReconRun


def run_view(run: ReconRun) -> dict:
    return {"id": str(run.id), "object": "reconciliation", "channel": run.channel,
            "business_date": run.business_date.isoformat(), "statement_lines": run.statement_lines,
            "statement_sha256": run.statement_sha256, "summary": run.summary, "created_at": run.created_at.isoformat()}
