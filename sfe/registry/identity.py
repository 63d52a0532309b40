"""Accounts: registration, email confirmation, login sessions, password reset, admin verification.

Rules this module keeps (the pages and API routes only present its answers):

- **Organisations.** A self-service sign-up always creates a *new* organisation and its first
  member; a name already registered is refused (organisation names are unique, so nobody can join
  an organisation's data by typing its name). Colleagues join through an invitation sent by a
  member (``invite_member``), which proves the inviter vouches for them.
- **System operators** stay ``pending_verification`` after confirming their email until an SFE
  admin verifies them (``verify_user``); colleagues they invite are active on acceptance because a
  verified member vouched for them.
- **No account enumeration.** Registration, password-reset and resend requests answer the same
  whether or not the email is known (the mail itself says what happened); a failed login gives one
  message for an unknown email, a wrong password and an unconfirmed account, and spends the time of
  a password verification in every case. States are revealed only to someone who gave the right
  password (pending verification, disabled).
- **Throttling.** After ``ACCOUNT_FREE_FAILURES`` consecutive failures for an email (known or not)
  each further attempt waits exponentially longer (30 s, 1 min, 2 min … at most 15 min); a client
  with ``CLIENT_MAX_FAILURES`` failures within ``CLIENT_WINDOW`` waits until the window clears.
- **Tokens** (sessions, email links) are ``secrets`` random; only their SHA-256 is stored; email
  tokens are single-use and expire (confirmation 48 h, reset 1 h, invitation 7 days).
- **Sessions** expire after ``SFE_SESSION_IDLE_MINUTES`` (default 30) without activity and
  ``SFE_SESSION_ABSOLUTE_HOURS`` (default 12) after login; logout and password changes revoke them.
- Every change is audited (``sfe.registry.audit``) in the same transaction.

Tests control time by monkeypatching ``identity.now``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry import audit, db, mail, passwords
from sfe.registry.access import (
    ROLE_LABELS,
    SELF_SERVICE_ROLES,
    AccessDenied,
    NotFound,
    Principal,
    Role,
)
from sfe.registry.models import LoginAttempt, Organisation, User, UserSession, UserToken

log = logging.getLogger(__name__)

CONFIRM_TOKEN_TTL = timedelta(hours=48)
RESET_TOKEN_TTL = timedelta(hours=1)
INVITE_TOKEN_TTL = timedelta(days=7)
DEFAULT_SESSION_IDLE_MINUTES = 30
DEFAULT_SESSION_ABSOLUTE_HOURS = 12
# A session's last_seen_at is written at most this often (not on every page view).
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)

ACCOUNT_FREE_FAILURES = 5
ACCOUNT_FIRST_DELAY = timedelta(seconds=30)
ACCOUNT_MAX_DELAY = timedelta(minutes=15)
ACCOUNT_FAILURE_MEMORY = timedelta(hours=24)  # failures older than this are forgotten
# Generous, because behind a reverse proxy every user arrives from the proxy's address.
CLIENT_MAX_FAILURES = 50
CLIENT_WINDOW = timedelta(minutes=15)

ADMIN_ORGANISATION = "SFE administration"

# Account statuses.
UNCONFIRMED = "unconfirmed"
PENDING = "pending_verification"
ACTIVE = "active"
DISABLED = "disabled"
REJECTED = "rejected"
INVITED = "invited"
STATUS_LABELS = {
    UNCONFIRMED: "Email not confirmed",
    PENDING: "Awaiting verification",
    ACTIVE: "Active",
    DISABLED: "Disabled",
    REJECTED: "Rejected",
    INVITED: "Invited",
}

LOGIN_FAILED_MESSAGE = (
    "Email or password is incorrect, or the email address has not been confirmed yet "
    "(use the link in the confirmation email, or ask for a new one)."
)
REQUEST_ACCEPTED_MESSAGE = (
    "If the address belongs to an SFE account, a message is on its way to it. Check your inbox."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UNUSABLE_HASH = "!"  # invited accounts have no password until they accept
# Ended sessions, used or expired email tokens and login attempts are kept this long for security
# review (the audit log keeps every login and logout for good), then pruned.
SECURITY_RECORD_RETENTION = timedelta(days=90)


def now() -> datetime:
    return datetime.now(UTC)


# -- errors ------------------------------------------------------------------------------------
class IdentityError(Exception):
    """A refusal whose message is safe to show to the person who asked."""


class RegistrationRefused(IdentityError, ValueError):
    """Bad registration input (email format, role, organisation name …)."""


class LoginFailed(IdentityError):
    """Wrong credentials (one message whatever the reason: no account enumeration)."""


class LoginThrottled(LoginFailed):
    def __init__(self, retry_after: timedelta):
        seconds = max(1, int(retry_after.total_seconds() + 0.999))
        wait = f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"
        super().__init__(f"Too many failed sign-in attempts. Try again in {wait}.")
        self.retry_after_s = seconds


class AccountNotActive(LoginFailed):
    """Right password, but the account cannot sign in (pending verification, disabled, rejected)."""


class TokenInvalid(IdentityError):
    """An email link's token is unknown, used already or expired."""


class MailNotSent(IdentityError):
    """The change was saved but its email could not be sent."""


# -- helpers -----------------------------------------------------------------------------------
def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed address; raises RegistrationRefused when it does not look like one."""
    value = (email or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise RegistrationRefused(f"{email!r} is not an email address (expected name@example.org).")
    return value


def organisation_key(name: str) -> str:
    """'Acme  Flex ' and 'acme flex' are one organisation."""
    return " ".join(name.split()).casefold()


def system_operators() -> dict[str, str]:
    """operator_id -> name of the taxonomy's system operators (what an SO account acts for)."""
    return {
        row["operator_id"]: row["operator_name"]
        for row in taxonomy.table("operators")
        if row["role"] == "system_operator"
    }


def _session_idle() -> timedelta:
    return timedelta(minutes=_positive_env("SFE_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES))


def _session_absolute() -> timedelta:
    return timedelta(hours=_positive_env("SFE_SESSION_ABSOLUTE_HOURS", DEFAULT_SESSION_ABSOLUTE_HOURS))


def _positive_env(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {text!r}")
    return value


def principal_of(user: User, org: Organisation) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=Role(user.role),
        organisation_id=org.id,
        organisation_name=org.name,
        operator_id=org.operator_id,
    )


def _issue_token(s: Session, user: User, purpose: str, ttl: timedelta) -> str:
    """A new single-use token for ``purpose``; earlier unused ones of that purpose stop working."""
    at = now()
    s.execute(
        update(UserToken)
        .where(UserToken.user_id == user.id, UserToken.purpose == purpose, UserToken.used_at.is_(None))
        .values(used_at=at)
    )
    token = secrets.token_urlsafe(32)
    s.add(
        UserToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash_token(token),
            created_at=at,
            expires_at=at + ttl,
        )
    )
    return token


def _valid_token(s: Session, token: str, purpose: str) -> UserToken:
    row = s.scalar(
        select(UserToken).where(
            UserToken.token_hash == _hash_token(token or ""), UserToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= now():
        what = {"confirm_email": "confirmation", "reset_password": "password reset", "invite": "invitation"}
        raise TokenInvalid(
            f"This {what.get(purpose, purpose)} link is not valid: it was used already, replaced by a newer "
            "one, or it has expired. Ask for a new one."
        )
    return row


def _consume_token(s: Session, row: UserToken) -> None:
    """Mark used; the conditional UPDATE makes a concurrent second use fail (single use)."""
    result = s.execute(
        update(UserToken).where(UserToken.id == row.id, UserToken.used_at.is_(None)).values(used_at=now())
    )
    if result.rowcount != 1:
        raise TokenInvalid("This link was used already. Ask for a new one.")


def _send(to: str, subject: str, text: str) -> None:
    try:
        mail.send(to, subject, text)
    except mail.MailError as exc:
        log.error("mail to %s failed: %s", to, exc)
        raise MailNotSent(
            f"The email to {to} could not be sent ({exc}). Try again later or contact the SFE administrator."
        ) from exc


def _revoke_sessions(s: Session, user_id: int, keep_token: str | None = None) -> None:
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != _hash_token(keep_token))
    s.execute(stmt.values(revoked_at=now()))


# -- sessions ----------------------------------------------------------------------------------
def create_session(s: Session, user_id: int) -> str:
    """A new login session for ``user_id`` in ``s``'s transaction; returns the token (never stored)."""
    token = secrets.token_urlsafe(32)
    while token.startswith("sfe_"):  # "sfe_" marks API keys; keep the two kinds of bearer apart
        token = secrets.token_urlsafe(32)
    at = now()
    s.add(
        UserSession(
            user_id=user_id,
            token_hash=_hash_token(token),
            created_at=at,
            last_seen_at=at,
            expires_at=at + _session_absolute(),
        )
    )
    return token


def session_principal(token: str | None) -> Principal | None:
    """Who holds this session token; None when unknown, expired, revoked or the user is not active."""
    if not token:
        return None
    with db.session() as s:
        row = s.execute(
            select(UserSession, User, Organisation)
            .join(User, User.id == UserSession.user_id)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(UserSession.token_hash == _hash_token(token))
        ).first()
        if row is None:
            return None
        session_row, user, org = row
        at = now()
        if (
            session_row.revoked_at is not None
            or session_row.expires_at <= at
            or at - session_row.last_seen_at >= _session_idle()
            or user.status != ACTIVE
        ):
            return None
        if at - session_row.last_seen_at >= SESSION_TOUCH_INTERVAL:
            session_row.last_seen_at = at
        return principal_of(user, org)


def logout(token: str | None) -> None:
    """Revoke the session (nothing happens for an unknown or already revoked token)."""
    if not token:
        return
    with db.session() as s:
        row = s.scalar(select(UserSession).where(UserSession.token_hash == _hash_token(token)))
        if row is not None and row.revoked_at is None:
            row.revoked_at = now()
            audit.record(s, row.user_id, "user.logout", "user", row.user_id)


@dataclass(frozen=True)
class PruneCounts:
    sessions: int
    tokens: int
    login_attempts: int


def prune_security_records(retention: timedelta = SECURITY_RECORD_RETENTION) -> PruneCounts:
    """Delete sessions that ended, email tokens that were used or expired, and login attempts, all
    more than ``retention`` ago. Live sessions and tokens, and everything throttling still reads
    (attempts of the last 24 h), are never touched: the retention is far longer than either."""
    if retention < max(ACCOUNT_FAILURE_MEMORY, CLIENT_WINDOW):
        raise ValueError(f"retention {retention} is shorter than what login throttling reads")
    cutoff = now() - retention
    idle_cutoff = cutoff - _session_idle()  # a session last seen then ended (idle) by then
    with db.session() as s:
        sessions = s.execute(
            delete(UserSession).where(
                or_(
                    UserSession.expires_at < cutoff,
                    UserSession.revoked_at < cutoff,
                    UserSession.last_seen_at < idle_cutoff,
                )
            )
        ).rowcount
        tokens = s.execute(
            delete(UserToken).where(or_(UserToken.expires_at < cutoff, UserToken.used_at < cutoff))
        ).rowcount
        attempts = s.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff)).rowcount
    return PruneCounts(sessions=sessions, tokens=tokens, login_attempts=attempts)


# -- registration ------------------------------------------------------------------------------
def _clean_name(value: str, what: str) -> str:
    text = " ".join((value or "").split())
    if not 2 <= len(text) <= 200:
        raise RegistrationRefused(f"The {what} must have 2 to 200 characters.")
    return text


def register_user(
    email: str,
    password: str,
    display_name: str,
    role: Role | str,
    organisation_name: str,
    operator_id: str | None = None,
) -> None:
    """Sign up: a new account in a new organisation, and a confirmation email.

    Raises RegistrationRefused / PasswordRejected for bad input. Whether or not the email already has
    an account, the outcome looks the same to the caller; an existing account's owner gets a notice
    by email instead of a confirmation link.
    """
    email_key = normalise_email(email)
    name = _clean_name(display_name, "name")
    try:
        role = Role(role)
    except ValueError:
        raise RegistrationRefused(f"Unknown role {role!r}.") from None
    if role not in SELF_SERVICE_ROLES:
        raise RegistrationRefused(
            "Choose one of: " + ", ".join(ROLE_LABELS[r] for r in SELF_SERVICE_ROLES) + "."
        )
    org_name = _clean_name(organisation_name, "organisation name")
    if role == Role.SYSTEM_OPERATOR:
        operators = system_operators()
        if operator_id not in operators:
            raise RegistrationRefused(
                "A system-operator account acts for one system operator; choose one of: "
                + ", ".join(f"{v} ({k})" for k, v in operators.items())
                + "."
            )
    else:
        operator_id = None
    passwords.validate(password, email=email_key, display_name=name)
    password_hash = passwords.hash_password(password)

    with db.session() as s:
        # The organisation check comes first so its answer cannot reveal whether the email is known.
        if s.scalar(select(Organisation.id).where(Organisation.name_key == organisation_key(org_name))):
            raise RegistrationRefused(
                f"An organisation called {org_name!r} is already registered on SFE. To join it, ask one "
                "of its members to invite you from their Account page; otherwise choose a distinct name."
            )
        existing = s.scalar(select(User).where(User.email == email_key))
        if existing is not None:
            audit.record(s, existing.id, "user.registration_repeated", "user", existing.id)
            token = None
        else:
            org = Organisation(name=org_name, name_key=organisation_key(org_name), kind=role.value)
            org.operator_id = operator_id
            s.add(org)
            s.flush()
            user = User(
                email=email_key,
                display_name=name,
                password_hash=password_hash,
                role=role.value,
                organisation_id=org.id,
                status=UNCONFIRMED,
            )
            s.add(user)
            try:
                s.flush()
            except IntegrityError:  # a concurrent registration took the name or email first
                raise RegistrationRefused(
                    "The registration clashed with another one that was just made; please try again."
                ) from None
            audit.record(s, user.id, "organisation.created", "organisation", org.id, name=org_name)
            audit.record(s, user.id, "user.registered", "user", user.id, role=role.value)
            token = _issue_token(s, user, "confirm_email", CONFIRM_TOKEN_TTL)

    if token is None:
        _send(
            email_key,
            "SFE: someone tried to register with your email address",
            "Someone (hopefully you) tried to create an SFE account with this email address, which "
            "already has one.\n\n"
            f"To sign in: {mail.link('sign_in')}\n"
            "Forgot your password? Use 'Forgot password' on the same page.\n\n"
            "If it was not you, you can ignore this message; your account is unchanged.\n",
        )
    else:
        _send_confirmation(email_key, name, token, role)


def _send_confirmation(email_key: str, name: str, token: str, role: Role) -> None:
    extra = (
        "\nSystem-operator accounts are verified by an SFE administrator after you confirm; you will "
        "get an email when yours is verified.\n"
        if role == Role.SYSTEM_OPERATOR
        else ""
    )
    _send(
        email_key,
        "SFE: confirm your email address",
        f"Hello {name},\n\nplease confirm your email address to finish creating your SFE account:\n\n"
        f"{mail.link('sign_in', confirm=token)}\n\n"
        f"The link works once and expires in {int(CONFIRM_TOKEN_TTL.total_seconds() // 3600)} hours.\n"
        f"{extra}\nIf you did not sign up for SFE, ignore this message.\n",
    )


def resend_confirmation(email: str) -> None:
    """A new confirmation link for an unconfirmed account; the same (silent) answer otherwise."""
    try:
        email_key = normalise_email(email)
    except RegistrationRefused:
        return
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == email_key))
        if user is None or user.status != UNCONFIRMED:
            return
        token = _issue_token(s, user, "confirm_email", CONFIRM_TOKEN_TTL)
        audit.record(s, user.id, "user.confirmation_resent", "user", user.id)
        name, role = user.display_name, Role(user.role)
    _send_confirmation(email_key, name, token, role)


def confirm_email(token: str) -> str:
    """Confirm the address behind ``token``; returns the account's new status (active or pending)."""
    with db.session() as s:
        row = _valid_token(s, token, "confirm_email")
        user = s.get(User, row.user_id)
        _consume_token(s, row)
        if user.status == UNCONFIRMED:
            user.email_confirmed_at = now()
            user.status = PENDING if user.role == Role.SYSTEM_OPERATOR else ACTIVE
            audit.record(s, user.id, "user.email_confirmed", "user", user.id, status=user.status)
        status, pending_user = user.status, (user.email, user.display_name)
        admins = (
            list(s.scalars(select(User.email).where(User.role == Role.ADMIN, User.status == ACTIVE)))
            if status == PENDING
            else []
        )
    for admin_email in admins:  # best effort: the admin page lists pending accounts anyway
        try:
            mail.send(
                admin_email,
                "SFE: a system-operator account awaits verification",
                f"{pending_user[1]} <{pending_user[0]}> registered as a system operator and confirmed "
                f"their email. Verify or reject the account: {mail.link('admin_users')}\n",
            )
        except mail.MailError as exc:
            log.error("could not notify admin %s: %s", admin_email, exc)
    return status


# -- login -------------------------------------------------------------------------------------
def _account_lock(s: Session, email_key: str, at: datetime) -> datetime | None:
    """Until when this email may not try again (exponential backoff after the free failures)."""
    recent = s.execute(
        select(LoginAttempt.at, LoginAttempt.succeeded)
        .where(LoginAttempt.email_key == email_key, LoginAttempt.at > at - ACCOUNT_FAILURE_MEMORY)
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
        .limit(ACCOUNT_FREE_FAILURES + 20)
    ).all()
    failures = 0
    for _at, succeeded in recent:
        if succeeded:
            break
        failures += 1
    if failures < ACCOUNT_FREE_FAILURES:
        return None
    delay = min(ACCOUNT_FIRST_DELAY * 2 ** (failures - ACCOUNT_FREE_FAILURES), ACCOUNT_MAX_DELAY)
    return recent[0][0] + delay


def _client_lock(s: Session, client: str | None, at: datetime) -> datetime | None:
    if not client:
        return None
    failures = s.scalars(
        select(LoginAttempt.at)
        .where(
            LoginAttempt.client == client,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > at - CLIENT_WINDOW,
        )
        .order_by(LoginAttempt.at.desc())
        .limit(CLIENT_MAX_FAILURES)
    ).all()
    if len(failures) < CLIENT_MAX_FAILURES:
        return None
    return failures[-1] + CLIENT_WINDOW  # when the oldest of them leaves the window


def login(email: str, password: str, client: str | None = None) -> str:
    """Check the credentials and start a session; returns its token.

    Raises LoginThrottled while locked out, LoginFailed (one message) for wrong credentials or an
    unconfirmed account, AccountNotActive (right password) for pending/disabled/rejected accounts.
    """
    email_key = (email or "").strip().lower()[:320]
    client = client[:100] if client else None
    at = now()
    with db.session() as s:
        locks = [t for t in (_account_lock(s, email_key, at), _client_lock(s, client, at)) if t and t > at]
        user = s.scalar(select(User).where(User.email == email_key))
        stored_hash, user_id = (user.password_hash, user.id) if user else (None, None)
    if locks:
        raise LoginThrottled(max(locks) - at)

    # Verify outside any transaction (it takes ~0.1 s); an unknown account spends the same time.
    if stored_hash and stored_hash != _UNUSABLE_HASH:
        password_ok = passwords.verify(stored_hash, password)
    else:
        passwords.burn_verification_time(password)
        password_ok = False

    refusal: LoginFailed | None = None
    token = None
    with db.session() as s:
        user = s.get(User, user_id) if user_id else None
        succeeded = bool(user and password_ok and user.status == ACTIVE)
        s.add(LoginAttempt(email_key=email_key, client=client, at=now(), succeeded=succeeded))
        if succeeded:
            token = create_session(s, user.id)
            user.last_login_at = now()
            user.failed_login_count = 0
            user.locked_until = None
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
            audit.record(s, user.id, "user.login", "user", user.id, client=client)
        elif user and password_ok and user.status in (PENDING, DISABLED, REJECTED):
            refusal = AccountNotActive(
                {
                    PENDING: "Your email is confirmed; your system-operator account is waiting for "
                    "verification by an SFE administrator. You will get an email when it is verified.",
                    DISABLED: "This account has been disabled. Contact the SFE administrator.",
                    REJECTED: "This system-operator registration was not approved. Contact the SFE "
                    "administrator if you think this is a mistake.",
                }[user.status]
            )
        else:
            refusal = LoginFailed(LOGIN_FAILED_MESSAGE)
            if user is not None:
                user.failed_login_count = (user.failed_login_count or 0) + 1
                s.flush()
                user.locked_until = _account_lock(s, email_key, now())
    if refusal is not None:
        raise refusal
    return token


# -- password reset and change -----------------------------------------------------------------
def request_password_reset(email: str) -> None:
    """Mail a reset link when the account exists; the caller always shows REQUEST_ACCEPTED_MESSAGE."""
    try:
        email_key = normalise_email(email)
    except RegistrationRefused:
        return
    with db.session() as s:
        user = s.scalar(select(User).where(User.email == email_key))
        if user is None or user.status in (DISABLED, REJECTED, INVITED):
            return
        token = _issue_token(s, user, "reset_password", RESET_TOKEN_TTL)
        audit.record(s, user.id, "user.password_reset_requested", "user", user.id)
        name = user.display_name
    _send(
        email_key,
        "SFE: reset your password",
        f"Hello {name},\n\nsomeone (hopefully you) asked to reset the password of your SFE account. "
        f"Choose a new password here:\n\n{mail.link('sign_in', reset=token)}\n\n"
        f"The link works once and expires in {int(RESET_TOKEN_TTL.total_seconds() // 60)} minutes. "
        "If you did not ask for it, ignore this message: your password is unchanged.\n",
    )


def reset_password(token: str, new_password: str) -> None:
    """Set a new password through a reset link; signs out every session of the account.

    Raises TokenInvalid, or PasswordRejected (the link stays usable to try another password).
    """
    with db.session() as s:
        row = _valid_token(s, token, "reset_password")
        user = s.get(User, row.user_id)
        email_key, name = user.email, user.display_name
    passwords.validate(new_password, email=email_key, display_name=name)
    new_hash = passwords.hash_password(new_password)
    with db.session() as s:
        row = _valid_token(s, token, "reset_password")
        _consume_token(s, row)
        user = s.get(User, row.user_id)
        user.password_hash = new_hash
        user.failed_login_count = 0
        user.locked_until = None
        _revoke_sessions(s, user.id)
        audit.record(s, user.id, "user.password_reset", "user", user.id)


def change_password(
    principal: Principal, current_password: str, new_password: str, keep_session: str | None = None
) -> None:
    """Change one's own password; other sessions are signed out (``keep_session`` stays)."""
    with db.session() as s:
        user = s.get(User, principal.user_id)
        stored_hash = user.password_hash
    if not passwords.verify(stored_hash, current_password):
        raise IdentityError("The current password is not correct.")
    passwords.validate(new_password, email=principal.email, display_name=principal.display_name)
    new_hash = passwords.hash_password(new_password)
    with db.session() as s:
        user = s.get(User, principal.user_id)
        user.password_hash = new_hash
        _revoke_sessions(s, user.id, keep_token=keep_session)
        audit.record(s, principal, "user.password_changed", "user", user.id)


# -- invitations -------------------------------------------------------------------------------
def invite_member(principal: Principal, email: str) -> None:
    """Invite a colleague into the principal's organisation (same role). Same answer for any email."""
    if principal.is_admin:
        raise AccessDenied("Administrators are created with `sfe admin create`, not by invitation.")
    email_key = normalise_email(email)
    with db.session() as s:
        existing = s.scalar(select(User).where(User.email == email_key))
        if existing is not None and existing.status != INVITED:
            audit.record(s, principal, "user.invitation_for_existing", "user", existing.id)
            token = None
        else:
            if existing is not None and existing.organisation_id != principal.organisation_id:
                token = None  # invited by another organisation first; that invitation stands
            else:
                user = existing or User(
                    email=email_key,
                    display_name=email_key.split("@", 1)[0],
                    password_hash=_UNUSABLE_HASH,
                    role=principal.role.value,
                    organisation_id=principal.organisation_id,
                    status=INVITED,
                )
                s.add(user)
                s.flush()
                token = _issue_token(s, user, "invite", INVITE_TOKEN_TTL)
                audit.record(s, principal, "user.invited", "user", user.id, email=email_key)
    if token is None:
        _send(
            email_key,
            f"SFE: {principal.display_name} invited you to {principal.organisation_name}",
            f"{principal.display_name} invited you to join {principal.organisation_name} on SFE, but this "
            "email address already has an SFE account (or a pending invitation), and an account belongs "
            "to one organisation. Reply to them if you want to use another address.\n",
        )
    else:
        _send(
            email_key,
            f"SFE: {principal.display_name} invited you to {principal.organisation_name}",
            f"{principal.display_name} <{principal.email}> invited you to join "
            f"{principal.organisation_name} on SFE as {ROLE_LABELS[principal.role]}.\n\n"
            f"Accept and choose your password here:\n\n{mail.link('sign_in', invite=token)}\n\n"
            f"The link works once and expires in {INVITE_TOKEN_TTL.days} days. If you do not know "
            "the sender, ignore this message.\n",
        )


def invitation(token: str) -> tuple[str, str]:
    """(email, organisation name) of a valid invitation; raises TokenInvalid."""
    with db.session() as s:
        row = _valid_token(s, token, "invite")
        user = s.get(User, row.user_id)
        return user.email, user.organisation.name


def accept_invitation(token: str, display_name: str, password: str) -> None:
    """Finish an invited account: name and password; the email is confirmed by the link itself."""
    name = _clean_name(display_name, "name")
    email_key, _ = invitation(token)
    passwords.validate(password, email=email_key, display_name=name)
    new_hash = passwords.hash_password(password)
    with db.session() as s:
        row = _valid_token(s, token, "invite")
        _consume_token(s, row)
        user = s.get(User, row.user_id)
        user.display_name = name
        user.password_hash = new_hash
        user.status = ACTIVE
        user.email_confirmed_at = now()
        audit.record(s, user.id, "user.invitation_accepted", "user", user.id)


# -- administration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class UserSummary:
    user_id: int
    email: str
    display_name: str
    role: str
    organisation_id: int
    organisation_name: str
    operator_id: str | None
    status: str
    created_at: datetime
    email_confirmed_at: datetime | None
    verified_at: datetime | None
    last_login_at: datetime | None
    locked_until: datetime | None


def _summaries(s: Session, *conditions) -> list[UserSummary]:
    rows = s.execute(
        select(User, Organisation)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(*conditions)
        .order_by(User.created_at, User.id)
    ).all()
    return [
        UserSummary(
            user_id=u.id,
            email=u.email,
            display_name=u.display_name,
            role=u.role,
            organisation_id=o.id,
            organisation_name=o.name,
            operator_id=o.operator_id,
            status=u.status,
            created_at=u.created_at,
            email_confirmed_at=u.email_confirmed_at,
            verified_at=u.verified_at,
            last_login_at=u.last_login_at,
            locked_until=u.locked_until,
        )
        for u, o in rows
    ]


def list_users(principal: Principal, status: str | None = None) -> list[UserSummary]:
    principal.require(Role.ADMIN, action="list accounts")
    with db.session() as s:
        return _summaries(s, *([User.status == status] if status else []))


def list_pending(principal: Principal) -> list[UserSummary]:
    """System-operator accounts whose email is confirmed and that await an admin's verification."""
    return list_users(principal, PENDING)


def organisation_members(principal: Principal) -> list[UserSummary]:
    """The principal's colleagues (same organisation)."""
    with db.session() as s:
        return _summaries(s, User.organisation_id == principal.organisation_id)


def my_account(principal: Principal) -> UserSummary:
    with db.session() as s:
        return _summaries(s, User.id == principal.user_id)[0]


def _admin_target(s: Session, principal: Principal, user_id: int, action: str) -> User:
    principal.require(Role.ADMIN, action=action)
    user = s.get(User, user_id)
    if user is None:
        raise NotFound(f"No account with id {user_id}.")
    if user.id == principal.user_id:
        raise AccessDenied("Administrators cannot change the status of their own account.")
    return user


def verify_user(principal: Principal, user_id: int) -> None:
    """Admit a pending system-operator account."""
    with db.session() as s:
        user = _admin_target(s, principal, user_id, "verify accounts")
        if user.status != PENDING:
            raise IdentityError(
                f"{user.email} is {STATUS_LABELS.get(user.status, user.status).lower()}, not awaiting "
                "verification."
            )
        user.status = ACTIVE
        user.verified_at = now()
        user.verified_by_id = principal.user_id
        audit.record(s, principal, "user.verified", "user", user.id)
        email_key, name = user.email, user.display_name
    _send(
        email_key,
        "SFE: your system-operator account is verified",
        f"Hello {name},\n\nan SFE administrator verified your system-operator account. Sign in: "
        f"{mail.link('sign_in')}\n",
    )


def reject_user(principal: Principal, user_id: int, reason: str | None = None) -> None:
    """Refuse a pending system-operator account (it can no longer sign in)."""
    with db.session() as s:
        user = _admin_target(s, principal, user_id, "reject accounts")
        if user.status != PENDING:
            raise IdentityError(f"{user.email} is not awaiting verification.")
        user.status = REJECTED
        _revoke_sessions(s, user.id)
        audit.record(s, principal, "user.rejected", "user", user.id, reason=reason or None)
        email_key, name = user.email, user.display_name
    _send(
        email_key,
        "SFE: your system-operator registration was not approved",
        f"Hello {name},\n\nan SFE administrator did not approve your system-operator account."
        + (f"\n\nReason: {reason}" if reason else "")
        + "\n\nReply to your SFE contact if you think this is a mistake.\n",
    )


def disable_user(principal: Principal, user_id: int) -> None:
    """Stop an account: signs out its sessions; its API keys stop working."""
    with db.session() as s:
        user = _admin_target(s, principal, user_id, "disable accounts")
        if user.status == DISABLED:
            return
        previous = user.status
        user.status = DISABLED
        _revoke_sessions(s, user.id)
        audit.record(s, principal, "user.disabled", "user", user.id, previous_status=previous)


def enable_user(principal: Principal, user_id: int) -> None:
    """Re-enable a disabled account (as active if its email was confirmed)."""
    with db.session() as s:
        user = _admin_target(s, principal, user_id, "enable accounts")
        if user.status != DISABLED:
            raise IdentityError(f"{user.email} is not disabled.")
        user.status = ACTIVE if user.email_confirmed_at else UNCONFIRMED
        audit.record(s, principal, "user.enabled", "user", user.id, status=user.status)


def create_admin(email: str, password: str, name: str) -> int:
    """Bootstrap an SFE administrator (active at once); returns the user id."""
    email_key = normalise_email(email)
    display_name = _clean_name(name, "name")
    passwords.validate(password, email=email_key, display_name=display_name)
    password_hash = passwords.hash_password(password)
    with db.session() as s:
        if s.scalar(select(User.id).where(User.email == email_key)):
            raise RegistrationRefused(f"An account with the email {email_key} exists already.")
        org = s.scalar(
            select(Organisation).where(Organisation.name_key == organisation_key(ADMIN_ORGANISATION))
        )
        if org is None:
            org = Organisation(
                name=ADMIN_ORGANISATION, name_key=organisation_key(ADMIN_ORGANISATION), kind=Role.ADMIN.value
            )
            s.add(org)
            s.flush()
        at = now()
        user = User(
            email=email_key,
            display_name=display_name,
            password_hash=password_hash,
            role=Role.ADMIN.value,
            organisation_id=org.id,
            status=ACTIVE,
            email_confirmed_at=at,
            verified_at=at,
        )
        s.add(user)
        s.flush()
        audit.record(s, None, "admin.created", "user", user.id, email=email_key)
        return user.id
