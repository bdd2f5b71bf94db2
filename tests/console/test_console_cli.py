"""`juhe console user add`: a user with a role and a merchant (or the operator), bad inputs refused."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from typer.testing import CliRunner

from juhe.cli import app
from juhe.console.models import ConsoleUser
from juhe.db.engine import Database
from juhe.db.models import Merchant


def _db_with_merchant(tmp_path) -> tuple[str, uuid.UUID]:
    url = f"sqlite:///{tmp_path}/juhe.db"
    db = Database(url)
    with db.session() as session, session.begin():
        merchant = Merchant(name="Lotus Mart", industry="retail")
        session.add(merchant)
        session.flush()
        merchant_id = merchant.id
    db.dispose()
    return url, merchant_id


def test_user_add_creates_a_finance_user_of_a_merchant(tmp_path):
    url, merchant_id = _db_with_merchant(tmp_path)
    r = CliRunner().invoke(app, ["console", "user", "add", "Li.Na@lotus.example", "--role", "finance", "--merchant",
                                 str(merchant_id), "--password", "a long secret", "--database-url", url])
    assert r.exit_code == 0, r.output
    db = Database(url, migrate=False)
    with db.reader() as session:
        user = session.scalars(select(ConsoleUser)).one()
    db.dispose()
    assert (user.login, user.role, user.merchant_id) == ("li.na@lotus.example", "finance", merchant_id)


def test_user_add_refuses_bad_roles_merchants_and_passwords(tmp_path):
    url, merchant_id = _db_with_merchant(tmp_path)
    base = ["console", "user", "add", "x@y", "--database-url", url]
    cases = [
        (["--role", "cashier", "--merchant", str(merchant_id), "--password", "a long secret"], "invalid_role", 1),
        (["--role", "finance", "--password", "a long secret"], "merchant_not_found", 1),
        (["--role", "finance", "--merchant", str(uuid.uuid4()), "--password", "a long secret"], "merchant_not_found", 1),
        (["--role", "operator", "--merchant", str(merchant_id), "--password", "a long secret"], "invalid_role", 1),
        (["--role", "finance", "--merchant", str(merchant_id), "--password", "short"], "weak_password", 1),
        (["--role", "finance", "--merchant", "not-a-uuid", "--password", "a long secret"], "not a merchant id", 2),
    ]
    for extra, message, code in cases:
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code == code and message in r.output, (extra, r.output)
    ok = CliRunner().invoke(app, base + ["--role", "operator", "--password", "a long secret"])
    again = CliRunner().invoke(app, base + ["--role", "operator", "--password", "a long secret"])
    assert ok.exit_code == 0 and again.exit_code == 1 and "login_taken" in again.output
