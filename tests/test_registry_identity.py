"""Accounts end to end on a real SQLite registry: sign-up mail through a real SMTP server on loopback,
confirmation, login, throttling, tokens, sessions, admin verification, password policy, the CLI."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from sfe.cli import main as cli
from sfe.registry import audit, db, identity, mail, passwords
from sfe.registry.access import AccessDenied, Role
from sfe.registry.models import LoginAttempt, User, UserSession, UserToken

PASSWORD = "purple tractor velvet 42"


class Clock:
    """Controls identity.now(): starts at the real time, moves only when told."""

    def __init__(self, monkeypatch):
        self.at = identity.now()
        monkeypatch.setattr(identity, "now", lambda: self.at)

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def link_token(text: str, param: str) -> str:
    for url in mail._URL.findall(text):
        values = parse_qs(urlsplit(url).query).get(param)
        if values:
            return values[0]
    raise AssertionError(f"no ?{param}= link in:\n{text}")


def outbox_token(param: str, to: str) -> str:
    """The token of the newest outbox message to ``to`` that carries a ?param= link."""
    for message in mail.outbox_messages():
        if message.to == to and any(f"{param}=" in url for url in message.links):
            return link_token(message.text, param)
    raise AssertionError(f"no mail with a ?{param}= link to {to}")


def register(email="alice@example.org", role=Role.FSP, organisation="Acme Flex", **kw) -> None:
    identity.register_user(
        email, kw.pop("password", PASSWORD), kw.pop("name", "Alice Able"), role, organisation, **kw
    )


def active_user(email="alice@example.org", role=Role.FSP, organisation="Acme Flex", **kw) -> str:
    register(email, role, organisation, **kw)
    identity.confirm_email(outbox_token("confirm", email))
    return email


def user_row(email: str) -> User:
    with db.session() as s:
        return s.scalar(select(User).where(User.email == email))


# -- mail ----------------------------------------------------------------------------------------
class Capture:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    handler = Capture()
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("SFE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SFE_SMTP_PORT", str(port))
        monkeypatch.setenv("SFE_SMTP_STARTTLS", "0")  # a loopback relay in the test
        monkeypatch.setenv("SFE_MAIL_FROM", "SFE <no-reply@sfe.test>")
        monkeypatch.setenv("SFE_APP_URL", "https://sfe.test")
        yield handler
    finally:
        controller.stop()


def test_sign_up_mail_through_a_real_smtp_server_confirms_and_logs_in(registry, smtp_server):
    register()
    [envelope] = smtp_server.messages
    assert envelope.mail_from == "no-reply@sfe.test" and envelope.rcpt_tos == ["alice@example.org"]
    message = mail.parse_message(envelope.content)
    assert message.subject == "SFE: confirm your email address"
    [url] = message.links
    assert url.startswith("https://sfe.test/sign_in?confirm=")
    assert not registry.outbox.exists()  # SMTP configured: nothing written locally
    assert not mail.dev_inbox_enabled()

    with pytest.raises(identity.LoginFailed):  # not confirmed yet
        identity.login("alice@example.org", PASSWORD)
    assert identity.confirm_email(link_token(message.text, "confirm")) == identity.ACTIVE
    token = identity.login("Alice@Example.org ", PASSWORD)
    me = identity.session_principal(token)
    assert (me.email, me.role, me.organisation_name) == ("alice@example.org", Role.FSP, "Acme Flex")
    assert user_row("alice@example.org").password_hash.startswith("$argon2id$")
    with db.session() as s:  # only hashes are stored
        assert s.scalar(select(UserSession.token_hash)) != token
        actions = [e.action for e in audit.history(s, "user", me.user_id)]
    assert actions == ["user.registered", "user.email_confirmed", "user.login"]


def test_smtp_failure_is_reported_and_the_account_can_ask_again(registry, monkeypatch):
    monkeypatch.setenv("SFE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SFE_SMTP_PORT", "1")  # nothing listens there
    monkeypatch.setenv("SFE_SMTP_STARTTLS", "0")
    with pytest.raises(identity.MailNotSent, match="could not be sent"):
        register()
    assert user_row("alice@example.org").status == identity.UNCONFIRMED
    monkeypatch.delenv("SFE_SMTP_HOST")
    identity.resend_confirmation("alice@example.org")
    identity.confirm_email(outbox_token("confirm", "alice@example.org"))
    assert user_row("alice@example.org").status == identity.ACTIVE


def test_outbox_mode_and_when_the_dev_inbox_is_shown(registry, monkeypatch):
    register()
    [message] = mail.outbox_messages()
    assert message.path.parent == registry.outbox and message.path.suffix == ".eml"
    assert message.links[0].startswith("http://localhost:8501/sign_in?confirm=")
    assert mail.dev_inbox_enabled()
    monkeypatch.setenv("SFE_APP_URL", "https://flex.example.org")  # a real deployment without SMTP
    assert not mail.dev_inbox_enabled()
    monkeypatch.setenv("SFE_DEV_INBOX", "1")
    assert mail.dev_inbox_enabled()


# -- registration --------------------------------------------------------------------------------
def test_registering_a_known_email_looks_the_same_and_changes_nothing(registry):
    register()
    register(organisation="Another Org", password="another long passphrase here")  # no error
    notice = mail.outbox_messages()[0]
    assert notice.to == "alice@example.org" and "already" in notice.text and "confirm=" not in notice.text
    identity.confirm_email(outbox_token("confirm", "alice@example.org"))
    identity.login("alice@example.org", PASSWORD)  # the first password still works
    with pytest.raises(identity.RegistrationRefused, match="already registered"):
        register("bob@example.org", organisation="acme  FLEX")  # same organisation, other spelling


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email"}, "not an email address"),
        ({"role": Role.ADMIN}, "Choose one of"),
        ({"role": "wizard"}, "Unknown role"),
        ({"role": Role.SYSTEM_OPERATOR}, "acts for one system operator"),
        ({"role": Role.SYSTEM_OPERATOR, "operator_id": "elexon"}, "acts for one system operator"),
        ({"organisation": " "}, "organisation name must have"),
    ],
)
def test_registration_input_is_checked(registry, kwargs, message):
    with pytest.raises(identity.RegistrationRefused, match=message):
        register(**kwargs)
    assert not mail.outbox_messages()


def test_concurrent_sign_ups_lose_nothing_and_one_organisation_name_wins(registry):
    errors: list[Exception] = []

    def sign_up(i: int, organisation: str) -> None:
        try:
            register(f"user{i}@example.org", organisation=organisation, name=f"User {i}")
        except identity.RegistrationRefused as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(i, f"Org {i}")) for i in range(6)]
    threads += [threading.Thread(target=sign_up, args=(10 + i, "Contested Ltd")) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        emails = set(s.scalars(select(User.email)))
    assert {f"user{i}@example.org" for i in range(6)} <= emails
    assert len(emails) == 7 and len(errors) == 2  # one of the three "Contested Ltd" sign-ups won


# -- login ---------------------------------------------------------------------------------------
def test_failed_logins_give_one_message_and_always_spend_a_verification(registry, monkeypatch):
    active_user()
    register("unconfirmed@example.org", organisation="Other Org", name="Una Confirmed")
    burned = []
    real_burn = passwords.burn_verification_time
    monkeypatch.setattr(passwords, "burn_verification_time", lambda p: burned.append(p) or real_burn(p))

    def failure(email: str, password: str) -> str:
        with pytest.raises(identity.LoginFailed) as info:
            identity.login(email, password)
        return str(info.value)

    unknown = failure("nobody@example.org", PASSWORD)
    wrong = failure("alice@example.org", "wrong password entirely")
    unconfirmed = failure("unconfirmed@example.org", PASSWORD)  # right password, email not confirmed
    assert unknown == wrong == unconfirmed == identity.LOGIN_FAILED_MESSAGE
    # Similar timing without a timed test: the unknown account spent an argon2 verification too.
    assert burned == [PASSWORD]


def test_account_throttling_backs_off_exponentially_for_known_and_unknown_emails(registry, clock):
    email = active_user()
    for _ in range(identity.ACCOUNT_FREE_FAILURES):
        with pytest.raises(identity.LoginFailed) as info:
            identity.login(email, "wrong password entirely")
        assert not isinstance(info.value, identity.LoginThrottled)
    with pytest.raises(identity.LoginThrottled, match="30 seconds"):
        identity.login(email, PASSWORD)  # locked: even the right password is not checked
    assert user_row(email).locked_until == clock.at + timedelta(seconds=30)

    clock.advance(seconds=31)
    with pytest.raises(identity.LoginFailed):
        identity.login(email, "wrong password again")
    with pytest.raises(identity.LoginThrottled, match="60 seconds"):  # doubled
        identity.login(email, PASSWORD)
    clock.advance(seconds=61)
    assert identity.login(email, PASSWORD)  # success resets the count
    with pytest.raises(identity.LoginFailed) as info:
        identity.login(email, "wrong once more")
    assert not isinstance(info.value, identity.LoginThrottled)

    for _ in range(identity.ACCOUNT_FREE_FAILURES):  # an unknown email locks the same way
        with pytest.raises(identity.LoginFailed):
            identity.login("ghost@example.org", "whatever password")
    with pytest.raises(identity.LoginThrottled, match="30 seconds"):
        identity.login("ghost@example.org", "whatever password")


def test_client_throttling_across_emails(registry, clock):
    email = active_user()
    with db.session() as s:  # earlier failures of this client against many emails
        for i in range(identity.CLIENT_MAX_FAILURES - 1):
            s.add(
                LoginAttempt(
                    email_key=f"victim{i}@example.org", client="203.0.113.9", at=clock.at, succeeded=False
                )
            )
    with pytest.raises(identity.LoginFailed) as info:
        identity.login("victim99@example.org", "guess", client="203.0.113.9")
    assert not isinstance(info.value, identity.LoginThrottled)
    with pytest.raises(identity.LoginThrottled, match="15 minutes"):
        identity.login(email, PASSWORD, client="203.0.113.9")
    assert identity.login(email, PASSWORD, client="198.51.100.1")  # another client is not affected
    clock.advance(minutes=15, seconds=1)
    assert identity.login(email, PASSWORD, client="203.0.113.9")


def test_password_hashes_are_upgraded_when_the_parameters_change(registry):
    email = active_user()
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with db.session() as s:
        s.scalar(select(User).where(User.email == email)).password_hash = old
    assert passwords.needs_rehash(old)
    identity.login(email, PASSWORD)
    upgraded = user_row(email).password_hash
    assert upgraded != old and upgraded.startswith("$argon2id$") and not passwords.needs_rehash(upgraded)
    identity.login(email, PASSWORD)


# -- sessions ------------------------------------------------------------------------------------
def test_sessions_expire_when_idle_and_absolutely(registry, clock, monkeypatch):
    email = active_user()
    token = identity.login(email, PASSWORD)
    for _ in range(4):  # activity keeps it alive past the idle limit
        clock.advance(minutes=20)
        assert identity.session_principal(token) is not None
    clock.advance(minutes=31)
    assert identity.session_principal(token) is None  # idle for 31 minutes

    token = identity.login(email, PASSWORD)
    for _ in range(12 * 3):
        clock.advance(minutes=20)
        if identity.session_principal(token) is None:
            break
    assert clock.at - user_row(email).last_login_at == timedelta(hours=12)  # absolute expiry

    monkeypatch.setenv("SFE_SESSION_IDLE_MINUTES", "5")
    token = identity.login(email, PASSWORD)
    clock.advance(minutes=6)
    assert identity.session_principal(token) is None
    assert identity.session_principal("made-up") is None and identity.session_principal(None) is None


def test_logout_revokes_the_session(registry):
    token = identity.login(active_user(), PASSWORD)
    identity.logout(token)
    assert identity.session_principal(token) is None
    identity.logout(token)  # again: nothing happens
    identity.logout("unknown")


# -- tokens --------------------------------------------------------------------------------------
def test_confirmation_tokens_are_single_use_and_expire(registry, clock):
    register()
    first = outbox_token("confirm", "alice@example.org")
    identity.resend_confirmation("alice@example.org")
    second = outbox_token("confirm", "alice@example.org")
    assert first != second
    with pytest.raises(identity.TokenInvalid):  # replaced by the newer link
        identity.confirm_email(first)
    clock.advance(hours=48, seconds=1)
    with pytest.raises(identity.TokenInvalid, match="expired"):
        identity.confirm_email(second)
    identity.resend_confirmation("alice@example.org")
    third = outbox_token("confirm", "alice@example.org")
    assert identity.confirm_email(third) == identity.ACTIVE
    with pytest.raises(identity.TokenInvalid, match="used already"):
        identity.confirm_email(third)
    with db.session() as s:  # only hashes are stored
        assert third not in set(s.scalars(select(UserToken.token_hash)))


def test_password_reset_is_single_use_expires_and_signs_out_everywhere(registry, clock):
    email = active_user()
    session = identity.login(email, PASSWORD)
    identity.request_password_reset("ALICE@example.org")
    token = outbox_token("reset", email)
    with pytest.raises(passwords.PasswordRejected):
        identity.reset_password(token, "password1")  # refused: the link stays usable
    identity.reset_password(token, "a brand new passphrase")
    assert identity.session_principal(session) is None
    with pytest.raises(identity.LoginFailed):
        identity.login(email, PASSWORD)
    assert identity.login(email, "a brand new passphrase")
    with pytest.raises(identity.TokenInvalid):
        identity.reset_password(token, "yet another passphrase")

    identity.request_password_reset(email)
    late = outbox_token("reset", email)
    clock.advance(hours=1, seconds=1)
    with pytest.raises(identity.TokenInvalid):
        identity.reset_password(late, "yet another passphrase")


def test_reset_requests_answer_the_same_for_unknown_addresses(registry):
    identity.request_password_reset("nobody@example.org")
    identity.request_password_reset("not an email")
    identity.resend_confirmation("nobody@example.org")
    assert mail.outbox_messages() == []


def test_changing_the_password_keeps_only_the_current_session(registry):
    email = active_user()
    here, elsewhere = identity.login(email, PASSWORD), identity.login(email, PASSWORD)
    me = identity.session_principal(here)
    with pytest.raises(identity.IdentityError, match="current password"):
        identity.change_password(me, "wrong", "a brand new passphrase", keep_session=here)
    identity.change_password(me, PASSWORD, "a brand new passphrase", keep_session=here)
    assert identity.session_principal(here) is not None and identity.session_principal(elsewhere) is None


# -- system operators and admins -----------------------------------------------------------------
def test_system_operators_stay_pending_until_an_admin_verifies(registry):
    admin_id = identity.create_admin("root@sfe.example", "an admin passphrase", "Root Admin")
    admin = identity.session_principal(identity.login("root@sfe.example", "an admin passphrase"))
    assert admin.user_id == admin_id and admin.is_admin
    register(
        "so@ukpn.example", Role.SYSTEM_OPERATOR, "UKPN Flex Team", operator_id="ukpn", name="Sid Operator"
    )
    assert identity.confirm_email(outbox_token("confirm", "so@ukpn.example")) == identity.PENDING
    assert any(
        m.to == "root@sfe.example" and "awaits verification" in m.subject for m in mail.outbox_messages()
    )
    with pytest.raises(identity.AccountNotActive, match="waiting for verification"):
        identity.login("so@ukpn.example", PASSWORD)
    with pytest.raises(identity.LoginFailed) as info:  # the state is told only with the right password
        identity.login("so@ukpn.example", "wrong password entirely")
    assert not isinstance(info.value, identity.AccountNotActive)

    [pending] = identity.list_pending(admin)
    assert (pending.email, pending.operator_id) == ("so@ukpn.example", "ukpn")
    fsp = identity.session_principal(identity.login(active_user(), PASSWORD))
    with pytest.raises(AccessDenied):
        identity.verify_user(fsp, pending.user_id)
    with pytest.raises(AccessDenied):
        identity.list_users(fsp)
    identity.verify_user(admin, pending.user_id)
    so = identity.session_principal(identity.login("so@ukpn.example", PASSWORD))
    assert (so.role, so.operator_id) == (Role.SYSTEM_OPERATOR, "ukpn")
    assert identity.list_pending(admin) == []
    assert any("verified" in m.subject for m in mail.outbox_messages() if m.to == "so@ukpn.example")
    with pytest.raises(identity.IdentityError, match="not awaiting"):
        identity.verify_user(admin, pending.user_id)


def test_rejected_and_disabled_accounts_cannot_sign_in(registry):
    identity.create_admin("root@sfe.example", "an admin passphrase", "Root Admin")
    admin = identity.session_principal(identity.login("root@sfe.example", "an admin passphrase"))
    register("so@nged.example", Role.SYSTEM_OPERATOR, "NGED Team", operator_id="nged", name="Sol Op")
    identity.confirm_email(outbox_token("confirm", "so@nged.example"))
    so_id = user_row("so@nged.example").id
    identity.reject_user(admin, so_id, "Not a NGED employee")
    with pytest.raises(identity.AccountNotActive, match="not approved"):
        identity.login("so@nged.example", PASSWORD)
    assert "Not a NGED employee" in mail.outbox_messages()[0].text

    email = active_user()
    session = identity.login(email, PASSWORD)
    user_id = user_row(email).id
    identity.disable_user(admin, user_id)
    assert identity.session_principal(session) is None
    with pytest.raises(identity.AccountNotActive, match="disabled"):
        identity.login(email, PASSWORD)
    identity.enable_user(admin, user_id)
    assert identity.login(email, PASSWORD)
    with pytest.raises(AccessDenied, match="own account"):
        identity.disable_user(admin, admin.user_id)
    statuses = {u.email: u.status for u in identity.list_users(admin)}
    assert statuses == {"root@sfe.example": "active", "so@nged.example": "rejected", email: "active"}


def test_invitations_add_colleagues_to_the_organisation(registry):
    owner = identity.session_principal(identity.login(active_user(), PASSWORD))
    identity.invite_member(owner, "colleague@example.org")
    token = outbox_token("invite", "colleague@example.org")
    assert identity.invitation(token) == ("colleague@example.org", "Acme Flex")
    with pytest.raises(identity.LoginFailed):  # no password until accepted
        identity.login("colleague@example.org", "")
    identity.accept_invitation(token, "Col League", "office plant sunflower 7")
    colleague = identity.session_principal(
        identity.login("colleague@example.org", "office plant sunflower 7")
    )
    assert (colleague.organisation_id, colleague.role) == (owner.organisation_id, Role.FSP)
    assert {m.email for m in identity.organisation_members(owner)} == {
        "alice@example.org",
        "colleague@example.org",
    }
    with pytest.raises(identity.TokenInvalid):
        identity.accept_invitation(token, "Col League", "office plant sunflower 8")

    identity.invite_member(owner, "colleague@example.org")  # already has an account: told by mail only
    assert "already has an SFE account" in mail.outbox_messages()[0].text
    identity.create_admin("root@sfe.example", "an admin passphrase", "Root Admin")
    admin = identity.session_principal(identity.login("root@sfe.example", "an admin passphrase"))
    with pytest.raises(AccessDenied):
        identity.invite_member(admin, "new-admin@example.org")


# -- password policy -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 8 characters"),
        ("x" * 129, "at most 128"),
        ("password", "commonly used"),
        ("Password123!", "commonly used"),
        ("!!dragon2024", "commonly used"),
        ("ｐａｓｓｗｏｒｄ１", "commonly used"),  # full-width letters are the same password (NFKC)
        ("flexibility", "commonly used"),
        ("alice-loves-batteries", "email address or your name"),
        ("my name is ALICE ABLE", "email address or your name"),
    ],
)
def test_password_policy_refuses(password, problem):
    found = passwords.problems(password, email="alice@example.org", display_name="Alice Able")
    assert any(problem in p for p in found), found


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "tr0ub4dor&3x",
        "all lower case is fine here",
        "x" * 128,
        "ünïcödé pässwörd",
    ],
)
def test_password_policy_has_no_composition_rules(password):
    assert passwords.problems(password, email="alice@example.org", display_name="Alice Able") == []


def test_hashes_are_argon2id_and_mismatches_fail():
    """The production parameters (RFC 9106 low-memory profile), and NFKC before hashing."""
    stored = passwords.hash_password("ｃｏｒｒｅｃｔ horse battery stäple")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(stored, "correct horse battery sta\u0308ple")
    assert not passwords.verify(stored, "correct horse battery stapler")
    assert not passwords.verify("!", "anything") and passwords.needs_rehash("!")


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_creates_admins_migrates_and_seeds_demo_accounts(registry, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(cli, ["registry", "migrate"])
    assert result.exit_code == 0 and "up to date" in result.output

    result = runner.invoke(
        cli, ["admin", "create", "--email", "Boss@SFE.example", "--name", "Bo Ss"], input="short\nshort\n"
    )
    assert result.exit_code == 1 and "at least 8 characters" in result.output
    monkeypatch.setenv("SFE_ADMIN_PASSWORD", "an admin passphrase")
    result = runner.invoke(cli, ["admin", "create", "--email", "Boss@SFE.example", "--name", "Bo Ss"])
    assert result.exit_code == 0, result.output
    assert user_row("boss@sfe.example").role == Role.ADMIN
    result = runner.invoke(cli, ["admin", "create", "--email", "boss@sfe.example", "--name", "Bo Ss"])
    assert result.exit_code == 1 and "exists already" in result.output

    result = runner.invoke(cli, ["demo-accounts"])
    assert result.exit_code == 0, result.output
    from sfe.registry.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

    for account in DEMO_ACCOUNTS:
        assert account.email in result.output
        me = identity.session_principal(identity.login(account.email, DEMO_PASSWORD))
        assert (me.role, me.organisation_name, me.operator_id) == (
            account.role,
            account.organisation,
            account.operator_id,
        )
    fsps = [a for a in DEMO_ACCOUNTS if a.role == Role.FSP]
    assert len(fsps) == 2 and fsps[0].organisation != fsps[1].organisation
    again = runner.invoke(cli, ["demo-accounts"])
    assert again.exit_code == 0 and again.output.count("existed already") == len(DEMO_ACCOUNTS)
    with db.session() as s:
        assert len(s.scalars(select(User.id)).all()) == len(DEMO_ACCOUNTS) + 1


# -- pruning old security records -------------------------------------------------------------------
def test_prune_removes_only_records_that_ended_long_ago(registry, clock):
    email = active_user()
    with pytest.raises(identity.LoginFailed):
        identity.login(email, "wrong password", client="10.0.0.1")
    old_session = identity.login(email, PASSWORD, client="10.0.0.1")
    identity.logout(old_session)
    identity.request_password_reset(email)  # a reset token nobody uses
    clock.advance(days=identity.SECURITY_RECORD_RETENTION.days + 1)
    live_session = identity.login(email, PASSWORD, client="10.0.0.2")
    with pytest.raises(identity.LoginFailed):
        identity.login(email, "wrong again", client="10.0.0.2")

    counts = identity.prune_security_records()

    # the logged-out session, the used confirmation and unused reset tokens, the first two attempts
    assert counts == identity.PruneCounts(sessions=1, tokens=2, login_attempts=2)
    assert identity.session_principal(live_session) is not None
    with db.session() as s:
        assert s.query(UserSession).count() == 1
        assert s.query(UserToken).count() == 0
        assert [a.client for a in s.scalars(select(LoginAttempt))] == ["10.0.0.2", "10.0.0.2"]
    assert identity.prune_security_records() == identity.PruneCounts(0, 0, 0)  # nothing left to prune


def test_prune_refuses_a_retention_shorter_than_throttling_reads(registry):
    with pytest.raises(ValueError, match="throttling"):
        identity.prune_security_records(timedelta(hours=1))


def test_cli_prunes_security_records(registry, clock):
    email = active_user()
    identity.logout(identity.login(email, PASSWORD))
    clock.advance(days=identity.SECURITY_RECORD_RETENTION.days + 1)
    result = CliRunner().invoke(cli, ["registry", "prune"])
    assert result.exit_code == 0, result.output
    assert "1 ended session(s), 1 used or expired email token(s), 1 login attempt(s)" in result.output


def test_daily_housekeeping_job_prunes_in_dagster(registry, clock):
    from pipelines.definitions import defs
    from pipelines.defs.registry.schedules import registry_housekeeping_job

    email = active_user()
    identity.logout(identity.login(email, PASSWORD))
    clock.advance(days=identity.SECURITY_RECORD_RETENTION.days + 1)
    assert defs.get_schedule_def("daily_registry_housekeeping").job_name == registry_housekeeping_job.name
    result = registry_housekeeping_job.execute_in_process()
    assert result.success
    with db.session() as s:
        assert s.query(UserSession).count() == 0 and s.query(LoginAttempt).count() == 0
