"""What every console page shares: templates, the logged-in user, permission and CSRF checks.

Handlers that touch the database are plain `def` (FastAPI runs them in its thread pool), so
no database work happens on the event loop."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from juhe.audit.trail import Record
from juhe.console import i18n
from juhe.console.permissions import PERMISSIONS, allows
from juhe.console.users import ConsoleUserView, current_user
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.money import Money

HERE = Path(__file__).parent
SESSION_COOKIE = "juhe_session"
LANG_COOKIE = "juhe_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["money"] = lambda minor, currency: str(Money(int(minor), currency))


class NotLoggedIn(Exception):
    pass


class Forbidden(Exception):
    pass


def database(request: Request) -> Database:
    return request.app.state.db


def logged_in(request: Request) -> ConsoleUserView:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotLoggedIn()
    with database(request).reader() as session:
        user = current_user(session, token, utcnow())
    if user is None:
        raise NotLoggedIn()
    return user


User = Annotated[ConsoleUserView, Depends(logged_in)]


def permitted(permission: str):
    """A dependency: the logged-in user, if their role has `permission` (see permissions.py)."""
    assert permission in PERMISSIONS, permission

    def check(user: User) -> ConsoleUserView:
        if not allows(user.role, permission):
            raise Forbidden()
        return user

    return check


async def csrf_checked(request: Request, user: User) -> ConsoleUserView:
    """Every POST carries the session's CSRF token, as a form field or (htmx) a header."""
    sent = request.headers.get(CSRF_HEADER) or (await request.form()).get(CSRF_FIELD) or ""
    if not hmac.compare_digest(str(sent).encode(), user.csrf_token.encode()):
        raise Forbidden()
    return user


def acting(permission: str):
    """For POSTs: CSRF first (a forged request learns nothing), then the role's permission."""
    check = permitted(permission)

    def both(user: Annotated[ConsoleUserView, Depends(csrf_checked)]) -> ConsoleUserView:
        return check(user)

    return both


def lang_of(request: Request) -> str:
    return i18n.language(request.cookies.get(LANG_COOKIE))


def render(request: Request, template: str, user: ConsoleUserView | None, status_code: int = 200, **context):
    lang = lang_of(request)
    nav = [(key, href) for key, href, perm in NAV if user is not None and allows(user.role, perm)]
    return templates.TemplateResponse(request, template, {
        "user": user, "t": i18n.translator(lang), "lang": lang, "nav": nav, "can": lambda p: user is not None and allows(user.role, p),
        **context}, status_code=status_code)


NAV = (
    ("overview", "/console/", "overview.view"),
    ("payments", "/console/payments", "payments.view"),
    ("recon", "/console/recon", "recon.view"),
    ("settlement", "/console/settlement", "settlement.view"),
    ("treasury", "/console/treasury", "treasury.view"),
    ("risk", "/console/risk", "risk.view"),
    ("qr_codes", "/console/qr-codes", "qr.view"),
    ("installments", "/console/installments", "installments.view"),
    ("bnpl", "/console/bnpl", "bnpl.view"),
    ("scf", "/console/scf", "scf.view"),
    ("subscriptions", "/console/subscriptions", "subscriptions.view"),
    ("invoices", "/console/invoices", "invoices.view"),
    ("aml", "/console/aml", "aml.view"),
    ("reports", "/console/reports", "reports.view"),
    ("developers", "/console/developers", "developers.view"),
)


def audit_record(request: Request, user: ConsoleUserView, action: str, object_type: str, object_id, outcome: str = "succeeded"):
    """A console action as the audit trail records API requests: the actor is the console user."""
    return Record(actor=f"console:{user.login}", action=action, outcome=outcome,
                  origin=f"console:{request.client.host if request.client else 'unknown'}", merchant_id=user.merchant_id,
                  object_type=object_type, object_id=str(object_id))
