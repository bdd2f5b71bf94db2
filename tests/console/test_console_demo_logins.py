"""`juhe demo` prints a console login per role: made once, each one opens the console as its role."""

from __future__ import annotations

import json
import stat

from juhe.db.engine import Database
from juhe.demo import seed_console_logins, seed_demo
from juhe.console.permissions import MERCHANT_ROLES, PLATFORM_ROLE
from juhe.console.users import current_user, log_in
from juhe.db.types import utcnow


def test_demo_logins_are_made_once_and_each_logs_in_as_its_role(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/juhe.db")
    seeded = seed_demo(db, tmp_path / "keys.json")
    path = tmp_path / "console-logins.json"
    logins = seed_console_logins(db, path, seeded["merchants"][0])
    assert {entry["role"] for entry in logins} == {*MERCHANT_ROLES, PLATFORM_ROLE}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert seed_console_logins(db, path, seeded["merchants"][0]) == logins == json.loads(path.read_text())
    for entry in logins:
        with db.session() as session, session.begin():
            token = log_in(session, entry["login"], entry["password"], utcnow())
        assert isinstance(token, str), token
        with db.reader() as session:
            user = current_user(session, token, utcnow())
        assert user.role == entry["role"]
        assert (user.merchant_id is None) == (entry["role"] == PLATFORM_ROLE)
    db.dispose()
