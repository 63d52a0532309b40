"""Account: profile, sign out, password, API keys, organisation members and invitations."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)

from sfe.registry import api_keys, identity, mail, passwords  # noqa: E402
from sfe.registry.access import ROLE_LABELS  # noqa: E402

me = auth.require()
st.title("Account")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


# -- profile -----------------------------------------------------------------------------------
account = identity.my_account(me)
left, right = st.columns([3, 1])
with left:
    st.markdown(
        f"**{me.display_name}** · {me.email}  \n"
        f"{ROLE_LABELS[me.role]} at **{me.organisation_name}**"
        + (f" (acting for system operator `{me.operator_id}`)" if me.operator_id else "")
    )
    st.caption(f"Account created {_when(account.created_at)} · last sign-in {_when(account.last_login_at)}")
with right:
    if st.button("Sign out", icon=":material/logout:", type="primary"):
        auth.sign_out()
        st.rerun()

# -- password ----------------------------------------------------------------------------------
with st.expander("Change password"):
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password", key="current_password")
        first = st.text_input(
            "New password", type="password", max_chars=passwords.MAX_LENGTH, key="new_password"
        )
        second = st.text_input("Repeat the new password", type="password", key="repeat_password")
        st.caption(passwords.POLICY_TEXT)
        changed = st.form_submit_button("Change password")
    if changed:
        if first != second:
            st.error("The two new passwords differ.")
        else:
            try:
                identity.change_password(me, current, first, keep_session=auth.session_token())
            except passwords.PasswordRejected as exc:
                for problem in exc.problems:
                    st.error(problem)
            except identity.IdentityError as exc:
                st.error(str(exc))
            else:
                st.success("Password changed. Your other sessions were signed out.")

# -- API keys ----------------------------------------------------------------------------------
st.header("API keys")
st.write(
    "Your systems can call the SFE API as you (same role and organisation) with a key: send "
    "`Authorization: Bearer <key>` or `X-API-Key: <key>`. Give each system its own key so you can "
    "revoke one without disturbing the others."
)
with st.form("create_api_key", clear_on_submit=True):
    key_name = st.text_input(
        "Name of the new key", placeholder="e.g. asset-sync on our EMS", max_chars=100, key="api_key_name"
    )
    create = st.form_submit_button("Create key", icon=":material/key:")
if create:
    try:
        info, key = api_keys.create_key(me, key_name)
    except ValueError as exc:
        st.error(str(exc))
    else:
        st.success(f"Key **{info.name}** created. Copy it now: it is shown only this once.")
        st.code(key, language=None)

keys = api_keys.list_keys(me)
if not keys:
    st.info("You have no API keys.")
else:
    st.dataframe(
        pl.DataFrame(
            {
                "name": [k.name for k in keys],
                "key starts with": [k.prefix + "…" for k in keys],
                "created": [_when(k.created_at) for k in keys],
                "last used": [_when(k.last_used_at) for k in keys],
                "status": ["active" if k.active else f"revoked {_when(k.revoked_at)}" for k in keys],
            }
        ),
        hide_index=True,
    )
    active = [k for k in keys if k.active]
    if active:
        with st.form("revoke_api_key"):
            choice = st.selectbox(
                "Revoke a key",
                active,
                format_func=lambda k: f"{k.name} ({k.prefix}…)",
                index=None,
                key="revoke_key",
            )
            if st.form_submit_button("Revoke", icon=":material/key_off:") and choice is not None:
                api_keys.revoke_key(me, choice.key_id)
                st.rerun()

# -- organisation ------------------------------------------------------------------------------
if not me.is_admin:
    st.header(f"Your organisation: {me.organisation_name}")
    members = identity.organisation_members(me)
    st.dataframe(
        pl.DataFrame(
            {
                "name": [m.display_name for m in members],
                "email": [m.email for m in members],
                "status": [identity.STATUS_LABELS.get(m.status, m.status) for m in members],
                "last sign-in": [_when(m.last_login_at) for m in members],
            }
        ),
        hide_index=True,
    )
    with st.form("invite_member", clear_on_submit=True):
        invitee = st.text_input(
            "Invite a colleague (email)",
            help=f"They join {me.organisation_name} as {ROLE_LABELS[me.role]}.",
            key="invite_email",
        )
        if st.form_submit_button("Send invitation", icon=":material/person_add:"):
            try:
                identity.invite_member(me, invitee)
            except identity.IdentityError as exc:
                st.error(str(exc))
            else:
                hint = " (Development mode: see the Development inbox.)" if mail.dev_inbox_enabled() else ""
                st.success(f"Invitation sent to {invitee.strip()}.{hint}")
