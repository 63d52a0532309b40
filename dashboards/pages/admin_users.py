"""Admin: verify system-operator accounts, see every account, disable and re-enable accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)

from sfe.registry import identity  # noqa: E402
from sfe.registry.access import ROLE_LABELS, AccessDenied, NotFound, Role  # noqa: E402

me = auth.require(Role.ADMIN)
st.title("Users")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _act(action, *args) -> None:
    try:
        action(me, *args)
    except (identity.IdentityError, AccessDenied, NotFound) as exc:
        st.error(str(exc))
    else:
        st.rerun()


# -- pending system operators ------------------------------------------------------------------
st.header("System operators awaiting verification")
operators = identity.system_operators()
pending = identity.list_pending(me)
if not pending:
    st.info("No account is waiting for verification.")
for user in pending:
    with st.container(border=True):
        st.markdown(
            f"**{user.display_name}** · {user.email}  \n"
            f"{user.organisation_name}, acting for **{operators.get(user.operator_id, user.operator_id)}**  \n"
            f"Registered {_when(user.created_at)} UTC, email confirmed {_when(user.email_confirmed_at)} UTC"
        )
        st.caption(
            "Check that the person works for this system operator (e.g. call the operator's "
            "flexibility team) before verifying: a verified account can publish products for it."
        )
        verify_col, reject_col = st.columns(2)
        if verify_col.button(
            "Verify", key=f"verify_{user.user_id}", type="primary", icon=":material/verified:"
        ):
            _act(identity.verify_user, user.user_id)
        with reject_col:
            reason = st.text_input("Reason for rejecting (sent to them)", key=f"reason_{user.user_id}")
            if st.button("Reject", key=f"reject_{user.user_id}", icon=":material/block:"):
                _act(identity.reject_user, user.user_id, reason.strip() or None)

# -- every account -----------------------------------------------------------------------------
st.header("All accounts")
status_filter = st.selectbox(
    "Status",
    [None, *identity.STATUS_LABELS],
    format_func=lambda s: "All" if s is None else identity.STATUS_LABELS[s],
)
users = identity.list_users(me, status_filter)
st.dataframe(
    pl.DataFrame(
        {
            "id": [u.user_id for u in users],
            "email": [u.email for u in users],
            "name": [u.display_name for u in users],
            "role": [ROLE_LABELS[Role(u.role)] for u in users],
            "organisation": [u.organisation_name for u in users],
            "status": [identity.STATUS_LABELS.get(u.status, u.status) for u in users],
            "registered (UTC)": [_when(u.created_at) for u in users],
            "last sign-in (UTC)": [_when(u.last_login_at) for u in users],
            "sign-in locked until (UTC)": [_when(u.locked_until) for u in users],
        },
        schema_overrides={"id": pl.Int64},
    ),
    hide_index=True,
)

others = [u for u in identity.list_users(me) if u.user_id != me.user_id]
if others:
    with st.form("disable_enable"):
        target = st.selectbox(
            "Account",
            others,
            format_func=lambda u: f"{u.email} ({identity.STATUS_LABELS.get(u.status, u.status)})",
            index=None,
        )
        disable_col, enable_col = st.columns(2)
        disable = disable_col.form_submit_button("Disable", icon=":material/person_off:")
        enable = enable_col.form_submit_button("Re-enable", icon=":material/person_check:")
    if target is not None and disable:
        _act(identity.disable_user, target.user_id)
    elif target is not None and enable:
        _act(identity.enable_user, target.user_id)
    st.caption("Disabling signs the account out everywhere and stops its API keys.")
