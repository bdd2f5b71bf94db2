"""Log in, log out and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from juhe.audit import trail
from juhe.audit.trail import Record
from juhe.console import i18n, users
from juhe.console.web import LANG_COOKIE, SESSION_COOKIE, csrf_checked, database, render
from juhe.db.types import utcnow

router = APIRouter(prefix="/console")
LOGIN_CSRF_COOKIE = "juhe_login_csrf"  # before a session exists: a double-submit cookie


def _cookie(response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


@router.get("/login")
def login_page(request: Request, error: str | None = None):
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, login_csrf=token, error=error)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


@router.post("/login")
def log_in(request: Request, login: Annotated[str, Form(max_length=120)], password: Annotated[str, Form(max_length=200)],
           csrf_token: Annotated[str, Form(max_length=100)] = ""):
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        return _refused(request, "the login form expired; please try again", 403)
    now = utcnow()
    with database(request).session() as session, session.begin():
        token = users.log_in(session, login, password, now)
        trail.append(session, [_login_record(request, session, login, token, now)])
    if isinstance(token, users.ConsoleError):
        return _refused(request, str(token), 423 if token.code == "locked" else 401)
    response = RedirectResponse("/console/", status_code=303)
    _cookie(response, request, SESSION_COOKIE, token, max_age=users.SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


def _login_record(request: Request, session, login: str, token: str | users.ConsoleError, now) -> Record:
    """Every log-in attempt in the audit trail, refused ones with their reason (who tried, from where)."""
    refused = isinstance(token, users.ConsoleError)
    user = None if refused else users.current_user(session, token, now)
    return Record(actor=f"console:{login.strip().lower()}", action="console.login", outcome="refused" if refused else "succeeded",
                  origin=f"console:{request.client.host if request.client else 'unknown'}",
                  merchant_id=user.merchant_id if user else None, object_type="console_user",
                  object_id=login.strip().lower(), detail={"code": token.code} if refused else None)


def _refused(request: Request, message: str, status: int):
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status, login_csrf=token, error=message)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


@router.post("/logout")
def log_out(request: Request, user: Annotated[users.ConsoleUserView, Depends(csrf_checked)]):
    with database(request).session() as session, session.begin():
        users.log_out(session, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, request: Request):
    back = request.headers.get("referer", "")
    response = RedirectResponse(back if back.startswith(str(request.base_url) + "console") else "/console/", status_code=303)
    response.set_cookie(LANG_COOKIE, i18n.language(lang), max_age=365 * 86400, path="/console", samesite="lax")
    return response
