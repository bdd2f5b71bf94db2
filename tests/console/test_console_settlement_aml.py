"""Settlement and AML pages: who may open them, the operator's reserve proofs, the STR export's refusals."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from juhe.settlement.models import ReserveProofRow


def _proof(console, ok: bool) -> None:
    with console.db.session() as session, session.begin():
        session.add(ReserveProofRow(merchant_id=None, day=date(2026, 12, 1), currency="CNY", reserve_account="reserve:bank",
                                    statement_id="STMT-1", liabilities_minor=500_00, in_transit_minor=0,
                                    ledger_reserve_minor=500_00, bank_balance_minor=499_00, difference_minor=-1_00,
                                    coverage_minor=-1_00, ok=ok))


@pytest.mark.parametrize(("role", "settlement", "aml"), [
    ("finance", 200, 403), ("risk", 403, 200), ("business", 403, 403), ("it", 403, 403), ("admin", 200, 200),
    ("operator", 200, 200),
])
def test_settlement_and_aml_follow_the_permission_table(console, role, settlement, aml):
    client = console.login(role)
    assert client.get("/console/settlement").status_code == settlement
    assert client.get("/console/aml").status_code == aml


def test_the_operator_sees_a_failed_reserve_proof_and_a_merchant_does_not(console):
    _proof(console, ok=False)
    operator = console.login("operator").get("/console/settlement").text
    assert 'id="reserve-proofs"' in operator and "-1.00 CNY" in operator and "499.00 CNY" in operator
    finance = console.login("finance").get("/console/settlement").text
    assert 'id="batches"' in finance and 'id="reserve-proofs"' not in finance


def test_the_str_of_an_unknown_case_is_not_found_and_finance_may_not_export(console):
    risk = console.login("risk")
    assert risk.get(f"/console/aml/cases/{uuid.uuid4()}/str.csv").status_code == 404
    assert console.login("finance").get(f"/console/aml/cases/{uuid.uuid4()}/str.csv").status_code == 403
