"""Console users: add, log in (argon2id, lockout after repeated failures), sessions, log out.

Sessions live in the database, not in a signed cookie, so that logging out, locking a user or
restarting several API processes all mean the same thing at once."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.console.models import ConsoleSession, ConsoleUser
from juhe.console.permissions import MERCHANT_ROLES, PLATFORM_ROLE
from juhe.db.models import Merchant

FAILURES_BEFORE_LOCK = 5
LOCK_MINUTES = 15
SESSION_HOURS = 8
PASSWORD_CHARS_MIN = 10
_hasher = PasswordHasher()  # argon2id with the library's recommended (RFC 9106 low-memory) parameters
# A login for a user that does not exist still spends one verification, so timing tells nothing.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class ConsoleError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ConsoleUserView:
    """Who is logged in: what every page and permission check needs."""

    user_id: uuid.UUID
    login: str
    name: str
    role: str
    merchant_id: uuid.UUID | None  # None: the platform operator, who sees every merchant
    merchant_name: str
    csrf_token: str


def add_user(session: Session, login: str, name: str, role: str, password: str, merchant_id: uuid.UUID | None) -> ConsoleUser:
    if role == PLATFORM_ROLE:
        if merchant_id is not None:
            raise ConsoleError("invalid_role", "the operator role belongs to the platform, not to a merchant")
    elif role not in MERCHANT_ROLES:
        raise ConsoleError("invalid_role", f"role must be one of {', '.join(MERCHANT_ROLES + (PLATFORM_ROLE,))}")
    elif merchant_id is None or session.get(Merchant, merchant_id) is None:
        raise ConsoleError("merchant_not_found", f"a {role} user needs an existing merchant")
    if len(password) < PASSWORD_CHARS_MIN:
        raise ConsoleError("weak_password", f"a password needs at least {PASSWORD_CHARS_MIN} characters")
    user = ConsoleUser(login=login.strip().lower(), name=name, role=role, merchant_id=merchant_id,
                       password_hash=_hasher.hash(password), failed_logins=0)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise ConsoleError("login_taken", f"a user {login!r} already exists") from None
    return user


def log_in(session: Session, login: str, password: str, now: datetime) -> str | ConsoleError:
    """A new session's token, or the refusal, returned rather than raised so that the caller's
    transaction commits the failure count. Call inside a write transaction: the counter is read
    and written under it, so parallel guesses cannot slip past the lock."""
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.login == login.strip().lower()).with_for_update()).first()
    if user is None:
        _verify(_DUMMY_HASH, password)
        return ConsoleError("invalid_login", "wrong login or password")
    if user.locked_until is not None and user.locked_until > now:
        return ConsoleError("locked", f"too many failed attempts: locked until {user.locked_until:%H:%M} UTC")
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= FAILURES_BEFORE_LOCK:
            user.locked_until, user.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
        return ConsoleError("invalid_login", "wrong login or password")
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    session.add(ConsoleSession(token_hash=_digest(token), user_id=user.id, merchant_id=user.merchant_id,
                               csrf_token=secrets.token_urlsafe(32), created_at=now,
                               expires_at=now + timedelta(hours=SESSION_HOURS)))
    return token


def current_user(session: Session, token: str, now: datetime) -> ConsoleUserView | None:
    row = session.execute(
        select(ConsoleSession, ConsoleUser, Merchant.name)
        .join(ConsoleUser, ConsoleUser.id == ConsoleSession.user_id)
        .outerjoin(Merchant, Merchant.id == ConsoleUser.merchant_id)
        .where(ConsoleSession.token_hash == _digest(token), ConsoleSession.expires_at > now)
    ).first()
    if row is None:
        return None
    sess, user, merchant_name = row
    return ConsoleUserView(user.id, user.login, user.name, user.role, user.merchant_id,
                           merchant_name or "Juhe platform", sess.csrf_token)


def log_out(session: Session, token: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
