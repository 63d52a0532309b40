"""The app's accounts in the browser (Streamlit AppTest): role-aware menu, sign-up and email
confirmation, sign-in, password reset, account page with API keys, admin verification, dev inbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sfe.registry import api_keys, identity, mail
from sfe.registry.access import Role

from .identity_helpers import session_token
from .registry_helpers import make_principal

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
APP = DASHBOARDS / "app.py"
TIMEOUT = 60
PASSWORD = "purple tractor velvet 42"


def app(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if token:
        at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def page(at: AppTest, name: str, **query: str) -> AppTest:
    at.switch_page(f"pages/{name}.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def page_alone(name: str, token: str | None = None) -> AppTest:
    """The page file run by itself (as a direct URL can, whatever the menu says)."""
    at = AppTest.from_file(DASHBOARDS / "pages" / f"{name}.py", default_timeout=TIMEOUT)
    if token:
        at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def reachable(at: AppTest, name: str) -> bool:
    try:
        at.switch_page(f"pages/{name}.py")
    except ValueError:
        return False
    return True


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def outbox_token(param: str, to: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    for message in mail.outbox_messages():
        for url in message.links:
            if message.to == to and param in parse_qs(urlsplit(url).query):
                return parse_qs(urlsplit(url).query)[param][0]
    raise AssertionError(f"no ?{param}= link to {to}")


# -- menu ----------------------------------------------------------------------------------------
MENUS = {
    None: {"home", "market_trends", "sign_in", "dev_inbox"},
    Role.FSP: {"home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox"},
    Role.INVESTOR: {"home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox"},
    Role.SYSTEM_OPERATOR: {"home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox"},
    Role.ANALYST: {"home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox"},
    Role.ADMIN: {"home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox", "admin_users"},
}
OWN_PAGES = ("home", "market_trends", "data_ingestion", "sign_in", "account", "dev_inbox", "admin_users")


@pytest.mark.parametrize("role", list(MENUS), ids=lambda r: r.value if r else "anonymous")
def test_menu_depends_on_the_role(registry, role):
    token = session_token(make_principal(f"Org {role}", role)) if role else None
    at = app(token)
    assert {p for p in OWN_PAGES if reachable(at, p)} == MENUS[role]


def test_pages_check_the_role_themselves(registry):
    at = page_alone("admin_users")
    assert "Please sign in" in texts(at.info) and not at.title
    fsp_token = session_token(make_principal("Acme Flex", Role.FSP))
    at = page_alone("admin_users", fsp_token)
    assert "not available for your role (Flexibility provider / aggregator)" in texts(at.error)
    assert "SFE administrator" in texts(at.error) and not at.title
    at = page_alone("account")
    assert "Please sign in" in texts(at.info) and not at.title


def test_an_expired_session_says_so(registry):
    token = session_token(make_principal("Acme Flex", Role.FSP))
    identity.logout(token)
    at = page_alone("account", token)
    assert "session has expired" in texts(at.warning)
    assert "sfe_session_token" not in at.session_state


# -- sign-up, confirmation, sign-in ---------------------------------------------------------------
def test_sign_up_confirm_by_the_link_and_sign_in(registry):
    at = page(app(), "sign_in")
    assert [t.label for t in at.tabs] == ["Sign in", "Create an account", "Forgot password"]
    assert "15 or more recommended" in texts(at.caption)
    at.text_input(key="register_email").input("dana@flex.example")
    at.text_input(key="register_name").input("Dana Flex")
    at.text_input(key="register_organisation").input("Dana Flex Ltd")
    at.text_input(key="register_password").input("password1")
    at.text_input(key="register_repeat").input("password1")
    button(at, "Create account").click().run()
    assert "commonly used password" in texts(at.error)

    at.text_input(key="register_password").input(PASSWORD)
    at.text_input(key="register_repeat").input(PASSWORD)
    button(at, "Create account").click().run()
    assert not at.error
    assert "sent a confirmation link to dana@flex.example" in texts(at.success)
    assert "Development inbox" in texts(at.success)

    link = page(app(), "sign_in", confirm=outbox_token("confirm", "dana@flex.example"))
    assert "Your email address is confirmed" in texts(link.success)
    assert "confirm" not in link.query_params  # the used token leaves the address bar
    again = page(app(), "sign_in", confirm=outbox_token("confirm", "dana@flex.example"))
    assert "not valid" in texts(again.error)

    at = page(app(), "sign_in")
    at.text_input(key="sign_in_email").input("dana@flex.example")
    at.text_input(key="sign_in_password").input("not my password")
    button(at, "Sign in").click().run()
    assert texts(at.error) == identity.LOGIN_FAILED_MESSAGE
    at.text_input(key="sign_in_password").input(PASSWORD)
    button(at, "Sign in").click().run()
    assert not at.error
    me = identity.session_principal(at.session_state["sfe_session_token"])
    assert (me.email, me.organisation_name, me.role) == ("dana@flex.example", "Dana Flex Ltd", Role.FSP)
    assert "You are signed in as Dana Flex" in texts(at.success)


def test_system_operator_sign_up_chooses_the_operator_and_waits_for_verification(registry):
    at = page(app(), "sign_in")
    at.selectbox(key="register_role").select(Role.SYSTEM_OPERATOR).run()
    assert at.selectbox(key="register_operator").options[:2] == [
        "National Energy System Operator",
        "UK Power Networks",
    ]
    at.selectbox(key="register_operator").select("ukpn")
    at.text_input(key="register_email").input("sid@ukpn.example")
    at.text_input(key="register_name").input("Sid Operator")
    at.text_input(key="register_organisation").input("UKPN Flexibility")
    at.text_input(key="register_password").input(PASSWORD)
    at.text_input(key="register_repeat").input(PASSWORD)
    button(at, "Create account").click().run()
    assert not at.error, texts(at.error)
    link = page(app(), "sign_in", confirm=outbox_token("confirm", "sid@ukpn.example"))
    assert "verified by an SFE administrator" in texts(link.info)
    at = page(app(), "sign_in")
    at.text_input(key="sign_in_email").input("sid@ukpn.example")
    at.text_input(key="sign_in_password").input(PASSWORD)
    button(at, "Sign in").click().run()
    assert "waiting for verification" in texts(at.warning)
    assert "sfe_session_token" not in at.session_state


def test_forgot_password_and_reset_by_the_link(registry):
    identity.register_user("dana@flex.example", PASSWORD, "Dana Flex", Role.FSP, "Dana Flex Ltd")
    identity.confirm_email(outbox_token("confirm", "dana@flex.example"))
    at = page(app(), "sign_in")
    at.text_input(key="forgot_email").input("dana@flex.example")
    button(at, "Email me a reset link").click().run()
    known = texts(at.success)
    at.text_input(key="forgot_email").input("nobody@flex.example")
    button(at, "Email me a reset link").click().run()
    assert texts(at.success) == known  # the same answer for an unknown address

    at = page(app(), "sign_in", reset=outbox_token("reset", "dana@flex.example"))
    at.text_input(key="reset_password").input("a brand new passphrase")
    at.text_input(key="reset_repeat").input("a brand new passphrase")
    button(at, "Set new password").click().run()
    assert "Your password is changed" in texts(at.success)
    assert identity.login("dana@flex.example", "a brand new passphrase")


def test_an_invitation_link_finishes_the_colleagues_account(registry):
    owner = make_principal("Acme Flex", Role.FSP)
    at = page(app(session_token(owner)), "account")
    at.text_input(key="invite_email").input("new@acme.example")
    button(at, "Send invitation").click().run()
    assert "Invitation sent to new@acme.example" in texts(at.success)

    at = page(app(), "sign_in", invite=outbox_token("invite", "new@acme.example"))
    assert at.subheader[0].value == "Join Acme Flex"
    at.text_input(key="invite_name").input("Nia New")
    at.text_input(key="invite_password").input("office plant sunflower 7")
    at.text_input(key="invite_repeat").input("office plant sunflower 7")
    button(at, "Create my account").click().run()
    assert "Welcome to Acme Flex" in texts(at.success)
    colleague = identity.session_principal(identity.login("new@acme.example", "office plant sunflower 7"))
    assert colleague.organisation_id == owner.organisation_id


# -- account -------------------------------------------------------------------------------------
def test_account_page_creates_shows_once_and_revokes_api_keys_and_signs_out(registry):
    fsp = make_principal("Acme Flex", Role.FSP)
    token = session_token(fsp)
    at = page(app(token), "account")
    assert at.title[0].value == "Account" and "Acme Flex" in texts(at.markdown)
    assert "You have no API keys." in texts(at.info)
    at.text_input(key="api_key_name").input("EMS sync")
    button(at, "Create key").click().run()
    [code] = at.code
    key = code.value
    assert api_keys.authenticate(key).user_id == fsp.user_id
    assert "shown only this once" in texts(at.success)
    at.run()
    assert not at.code  # gone on the next view
    listed = at.dataframe[0].value
    assert list(listed["name"]) == ["EMS sync"] and list(listed["status"]) == ["active"]
    assert key not in listed.to_csv() and listed["key starts with"][0] == key[:12] + "…"

    at.selectbox(key="revoke_key").select_index(0)
    button(at, "Revoke").click().run()
    assert api_keys.authenticate(key) is None
    assert at.dataframe[0].value["status"][0].startswith("revoked")

    button(at, "Sign out").click().run()
    assert "sfe_session_token" not in at.session_state
    assert identity.session_principal(token) is None


# -- admin ---------------------------------------------------------------------------------------
def test_admin_verifies_a_pending_system_operator_and_disables_accounts(registry):
    identity.create_admin("root@sfe.example", "an admin passphrase", "Root Admin")
    admin_token = identity.login("root@sfe.example", "an admin passphrase")
    identity.register_user(
        "sid@ukpn.example", PASSWORD, "Sid Operator", Role.SYSTEM_OPERATOR, "UKPN Flexibility", "ukpn"
    )
    identity.confirm_email(outbox_token("confirm", "sid@ukpn.example"))
    fsp = make_principal("Acme Flex", Role.FSP)

    at = page(app(admin_token), "admin_users")
    assert at.title[0].value == "Users"
    assert "sid@ukpn.example" in texts(at.markdown) and "UK Power Networks" in texts(at.markdown)
    users = at.dataframe[0].value
    assert set(users["email"]) == {"root@sfe.example", "sid@ukpn.example", fsp.email}
    [sid] = [u for u in identity.list_pending(identity.session_principal(admin_token))]
    at.button(key=f"verify_{sid.user_id}").click().run()
    assert not at.error
    assert "No account is waiting for verification." in texts(at.info)
    assert identity.session_principal(identity.login("sid@ukpn.example", PASSWORD)).operator_id == "ukpn"

    target = at.selectbox[-1]
    target.select_index([o for o in target.options].index(f"{fsp.email} (Active)"))
    button(at, "Disable").click().run()
    assert not at.error
    admin = identity.session_principal(admin_token)
    assert {u.email: u.status for u in identity.list_users(admin)}[fsp.email] == identity.DISABLED


# -- development inbox ---------------------------------------------------------------------------
def test_dev_inbox_shows_mail_with_links_only_without_smtp(registry, monkeypatch):
    identity.register_user("dana@flex.example", PASSWORD, "Dana Flex", Role.FSP, "Dana Flex Ltd")
    at = page(app(), "dev_inbox")
    assert "Development only" in texts(at.warning)
    [message] = at.expander
    assert "SFE: confirm your email address" in message.label and "dana@flex.example" in message.label
    token = outbox_token("confirm", "dana@flex.example")
    assert any(
        token in m.value and m.value.startswith("[http://localhost:8501/sign_in?confirm=")
        for m in at.markdown
    )

    monkeypatch.setenv("SFE_SMTP_HOST", "mail.example.org")
    assert not reachable(app(), "dev_inbox")
    at = page_alone("dev_inbox")
    assert "development inbox is off" in texts(at.info) and not at.expander
