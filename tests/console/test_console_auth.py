"""Console log-in: argon2 passwords, session cookie flags, CSRF on every POST, lockout, log-out."""

from __future__ import annotations

from sqlalchemy import select

from juhe.console.models import ConsoleSession, ConsoleUser
from juhe.console.users import FAILURES_BEFORE_LOCK


def _login_form(client, console):
    return console.csrf_of(client.get("/console/login").text)


def test_a_page_without_a_session_redirects_to_the_login(console):
    r = console.client().get("/console/")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_login_sets_an_httponly_samesite_cookie_and_opens_the_overview(console):
    client = console.client()
    r = client.post("/console/login", data={"login": "finance@a", "password": "correct horse 1",
                                            "csrf_token": _login_form(client, console)})
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("juhe_session=")][0].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and "Finance A" in page.text
    with console.db.reader() as session:  # only the token's hash is stored
        stored = session.scalars(select(ConsoleSession.token_hash)).all()
    assert client.cookies["juhe_session"] not in stored and len(stored) == 1


def test_passwords_are_stored_as_argon2id(console):
    with console.db.reader() as session:
        hashes = session.scalars(select(ConsoleUser.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_wrong_password_and_unknown_login_are_refused_alike(console):
    client = console.client()
    wrong = client.post("/console/login", data={"login": "finance@a", "password": "not it at all",
                                                "csrf_token": _login_form(client, console)})
    unknown = client.post("/console/login", data={"login": "nobody@a", "password": "not it at all",
                                                  "csrf_token": _login_form(client, console)})
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong login or password" in wrong.text and "wrong login or password" in unknown.text
    assert "juhe_session" not in client.cookies


def test_login_without_its_csrf_token_is_refused(console):
    client = console.client()
    client.get("/console/login")
    r = client.post("/console/login", data={"login": "finance@a", "password": "correct horse 1", "csrf_token": "forged"})
    assert r.status_code == 403 and "juhe_session" not in client.cookies


def test_repeated_failures_lock_the_user_even_with_the_right_password(console):
    client = console.client()
    for _ in range(FAILURES_BEFORE_LOCK):
        r = client.post("/console/login", data={"login": "risk@a", "password": "guess guess guess",
                                                "csrf_token": _login_form(client, console)})
        assert r.status_code == 401
    locked = client.post("/console/login", data={"login": "risk@a", "password": "correct horse 1",
                                                  "csrf_token": _login_form(client, console)})
    assert locked.status_code == 423 and "locked until" in locked.text
    assert "juhe_session" not in client.cookies
    other = console.login("finance")  # a lock is per user
    assert other.get("/console/").status_code == 200


def test_a_success_resets_the_failure_count(console):
    client = console.client()
    for _ in range(FAILURES_BEFORE_LOCK - 1):
        client.post("/console/login", data={"login": "it@a", "password": "guess guess guess",
                                            "csrf_token": _login_form(client, console)})
    console.login("it")
    with console.db.reader() as session:
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.login == "it@a")).one()
    assert user.failed_logins == 0 and user.locked_until is None


def test_logout_needs_the_csrf_token_and_ends_the_session(console):
    client = console.login("business")
    token = console.csrf_of(client.get("/console/").text)
    assert client.post("/console/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/console/").status_code == 200
    out = client.post("/console/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    client.cookies.set("juhe_session", "", path="/console")
    with console.db.reader() as session:
        assert session.scalars(select(ConsoleSession)).all() == []


def test_a_stolen_cookie_stops_working_after_logout(console):
    client = console.login("business")
    stolen = client.cookies["juhe_session"]
    client.post("/console/logout", data={"csrf_token": console.csrf_of(client.get("/console/").text)})
    thief = console.client()
    thief.cookies.set("juhe_session", stolen, path="/console")
    assert thief.get("/console/").status_code == 303


def test_language_switch_shows_chinese_labels(console):
    client = console.login("finance")
    client.get("/console/lang/zh")
    assert "资金监控" in client.get("/console/").text
    client.get("/console/lang/en")
    assert "Fund monitor" in client.get("/console/").text
