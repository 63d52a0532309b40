"""Who is signed in to the Streamlit app, and the role check every page starts with.

The session token lives only in ``st.session_state["sfe_session_token"]`` (server side, per browser
tab); the registry keeps its hash and decides expiry and revocation (``sfe.registry.identity``).

Usage in a page::

    import auth
    me = auth.require(Role.FSP)   # stops the page with a clear message for anyone else
"""

from __future__ import annotations

import streamlit as st

from sfe.registry import identity
from sfe.registry.access import ROLE_LABELS, Principal, Role

SESSION_KEY = "sfe_session_token"
_EXPIRED_KEY = "sfe_session_expired"
SIGN_IN_PAGE = "pages/sign_in.py"


def client_address() -> str | None:
    """The browser's IP address as Streamlit sees it (for per-client login throttling)."""
    try:
        address = st.context.ip_address
    except Exception:  # not available in every runtime (bare mode)
        return None
    return address if isinstance(address, str) else None  # AppTest gives a stand-in object


def principal() -> Principal | None:
    """The signed-in user, or None. An expired or revoked session is forgotten here."""
    token = st.session_state.get(SESSION_KEY)
    if not token:
        return None
    found = identity.session_principal(token)
    if found is None:
        del st.session_state[SESSION_KEY]
        st.session_state[_EXPIRED_KEY] = True
    return found


def sign_in(email: str, password: str) -> Principal:
    """Log in and keep the session in this browser tab. Raises identity.LoginFailed and subclasses."""
    token = identity.login(email, password, client=client_address())
    st.session_state[SESSION_KEY] = token
    st.session_state.pop(_EXPIRED_KEY, None)
    return identity.session_principal(token)


def session_token() -> str | None:
    return st.session_state.get(SESSION_KEY)


def sign_out() -> None:
    """Revoke the session in the registry and forget it in this tab."""
    identity.logout(st.session_state.pop(SESSION_KEY, None))
    st.session_state.pop(_EXPIRED_KEY, None)


def _sign_in_link() -> None:
    try:
        st.page_link(SIGN_IN_PAGE, label="Sign in or create an account", icon=":material/login:")
    except Exception:  # the sign-in page is not in this navigation (e.g. a page run on its own)
        st.markdown("Use **Sign in** in the menu.")


def require(*roles: Role) -> Principal:
    """The signed-in principal, if its role is one of ``roles`` (any role when none are given;
    admins pass every check). Otherwise explain why and stop the page."""
    me = principal()
    if me is None:
        if st.session_state.pop(_EXPIRED_KEY, False):
            st.warning("Your session has expired. Please sign in again.", icon=":material/timer_off:")
        else:
            st.info("Please sign in to use this page.", icon=":material/lock:")
        _sign_in_link()
        st.stop()
    if roles and me.role not in roles and not me.is_admin:
        allowed = ", ".join(ROLE_LABELS[r] for r in roles)
        st.error(
            f"This page is not available for your role ({ROLE_LABELS[me.role]}). It is for: {allowed}.",
            icon=":material/block:",
        )
        st.stop()
    return me
