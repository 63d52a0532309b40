"""Sign in, create an account, reset a password; also the landing page of the links in SFE's emails
(``?confirm=<token>``, ``?reset=<token>``, ``?invite=<token>``)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)

from sfe.registry import identity, mail, passwords  # noqa: E402
from sfe.registry.access import ROLE_LABELS, SELF_SERVICE_ROLES, Role  # noqa: E402

_NOTICE = "sfe_sign_in_notice"  # (kind, text) to show once after a link was handled


def _dev_inbox_hint() -> str:
    if mail.dev_inbox_enabled():
        return " (Development mode: no mail server is configured; open **Development inbox** in the menu.)"
    return ""


def _new_password_fields(key: str) -> tuple[str, str]:
    first = st.text_input(
        "New password", type="password", key=f"{key}_password", max_chars=passwords.MAX_LENGTH
    )
    second = st.text_input("Repeat the new password", type="password", key=f"{key}_repeat")
    st.caption(passwords.POLICY_TEXT)
    return first, second


def _handle_confirm(token: str) -> None:
    try:
        status = identity.confirm_email(token)
    except identity.TokenInvalid as exc:
        st.session_state[_NOTICE] = ("error", str(exc))
    else:
        if status == identity.PENDING:
            text = (
                "Your email address is confirmed. System-operator accounts are verified by an SFE "
                "administrator before first use; you will get an email when yours is verified."
            )
            st.session_state[_NOTICE] = ("info", text)
        else:
            st.session_state[_NOTICE] = ("success", "Your email address is confirmed. You can sign in now.")
    del st.query_params["confirm"]
    st.rerun()


def _reset_form(token: str) -> None:
    st.subheader("Choose a new password")
    with st.form("reset_password"):
        first, second = _new_password_fields("reset")
        submitted = st.form_submit_button("Set new password", type="primary")
    if submitted:
        if first != second:
            st.error("The two passwords differ.")
            return
        try:
            identity.reset_password(token, first)
        except passwords.PasswordRejected as exc:
            for problem in exc.problems:
                st.error(problem)
            return
        except identity.TokenInvalid as exc:
            st.session_state[_NOTICE] = ("error", str(exc))
        else:
            st.session_state[_NOTICE] = (
                "success",
                "Your password is changed and every session of your account was signed out. Sign in "
                "with the new password.",
            )
        del st.query_params["reset"]
        st.rerun()
    if st.button("Cancel"):
        del st.query_params["reset"]
        st.rerun()


def _invite_form(token: str) -> None:
    try:
        email, organisation = identity.invitation(token)
    except identity.TokenInvalid as exc:
        st.session_state[_NOTICE] = ("error", str(exc))
        del st.query_params["invite"]
        st.rerun()
    st.subheader(f"Join {organisation}")
    st.write(f"Finish the account for **{email}**: your name and a password.")
    with st.form("accept_invitation"):
        name = st.text_input("Your name", max_chars=200, key="invite_name")
        first, second = _new_password_fields("invite")
        submitted = st.form_submit_button("Create my account", type="primary")
    if submitted:
        if first != second:
            st.error("The two passwords differ.")
            return
        try:
            identity.accept_invitation(token, name, first)
        except passwords.PasswordRejected as exc:
            for problem in exc.problems:
                st.error(problem)
            return
        except identity.IdentityError as exc:
            st.error(str(exc))
            return
        st.session_state[_NOTICE] = ("success", f"Welcome to {organisation}. Sign in with your new password.")
        del st.query_params["invite"]
        st.rerun()


def _sign_in_tab() -> None:
    with st.form("sign_in"):
        email = st.text_input("Email", autocomplete="email", key="sign_in_email")
        password = st.text_input(
            "Password", type="password", autocomplete="current-password", key="sign_in_password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            me = auth.sign_in(email, password)
        except identity.AccountNotActive as exc:
            st.warning(str(exc))
        except identity.LoginFailed as exc:
            st.error(str(exc))
        else:
            st.session_state["sfe_welcome"] = f"Signed in as {me.display_name} ({me.organisation_name})."
            st.rerun()


def _register_tab() -> None:
    st.write(
        "Every sign-up creates a new organisation with you as its first member. To join an organisation "
        "that is already on SFE, ask one of its members to invite you from their Account page."
    )
    role = st.selectbox(
        "I am a", SELF_SERVICE_ROLES, format_func=lambda r: ROLE_LABELS[r], key="register_role"
    )
    operator_id = None
    if role == Role.SYSTEM_OPERATOR:
        operators = identity.system_operators()
        operator_id = st.selectbox(
            "System operator you work for",
            list(operators),
            format_func=lambda k: operators[k],
            key="register_operator",
        )
        st.caption("System-operator accounts are verified by an SFE administrator before first use.")
    with st.form("register"):
        email = st.text_input("Email", autocomplete="email", key="register_email")
        name = st.text_input("Your name", max_chars=200, key="register_name")
        organisation = st.text_input("Organisation", max_chars=200, key="register_organisation")
        first = st.text_input(
            "Password", type="password", max_chars=passwords.MAX_LENGTH, key="register_password"
        )
        second = st.text_input("Repeat the password", type="password", key="register_repeat")
        st.caption(passwords.POLICY_TEXT)
        submitted = st.form_submit_button("Create account", type="primary")
    if submitted:
        if first != second:
            st.error("The two passwords differ.")
            return
        try:
            identity.register_user(email, first, name, role, organisation, operator_id)
        except passwords.PasswordRejected as exc:
            for problem in exc.problems:
                st.error(problem)
        except identity.IdentityError as exc:
            st.error(str(exc))
        else:
            st.success(
                f"Almost done: we sent a confirmation link to {email.strip()}. Open it to activate the "
                f"account.{_dev_inbox_hint()}"
            )

    with st.expander("Did not get the confirmation email?"):
        with st.form("resend_confirmation"):
            resend_to = st.text_input("Email", key="resend_email")
            if st.form_submit_button("Send a new confirmation link"):
                try:
                    identity.resend_confirmation(resend_to)
                except identity.MailNotSent as exc:
                    st.error(str(exc))
                else:
                    st.success(identity.REQUEST_ACCEPTED_MESSAGE + _dev_inbox_hint())


def _forgot_tab() -> None:
    with st.form("forgot_password"):
        email = st.text_input("Email of your account", key="forgot_email")
        submitted = st.form_submit_button("Email me a reset link")
    if submitted:
        try:
            identity.request_password_reset(email)
        except identity.MailNotSent as exc:
            st.error(str(exc))
        else:
            st.success(identity.REQUEST_ACCEPTED_MESSAGE + _dev_inbox_hint())


st.title("Sign in")
params = st.query_params
if "confirm" in params:
    _handle_confirm(params["confirm"])

notice = st.session_state.pop(_NOTICE, None)
if notice:
    getattr(st, notice[0])(notice[1])

me = auth.principal()
if me is not None:
    st.success(f"You are signed in as {me.display_name} ({me.organisation_name}).")
    st.page_link("pages/home.py", label="Go to the home page", icon=":material/home:")
    st.page_link("pages/account.py", label="Your account and API keys", icon=":material/account_circle:")
    st.stop()

if "reset" in params:
    _reset_form(params["reset"])
elif "invite" in params:
    _invite_form(params["invite"])
else:
    sign_in, register, forgot = st.tabs(["Sign in", "Create an account", "Forgot password"])
    with sign_in:
        _sign_in_tab()
    with register:
        _register_tab()
    with forgot:
        _forgot_tab()
