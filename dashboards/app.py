"""SFE Streamlit app: ``streamlit run dashboards/app.py``.

One file per page in ``dashboards/pages/``; pages get warehouse data from ``dashboards/data.py`` and
the signed-in user from ``dashboards/auth.py``. The menu is role-aware: ``PAGES`` below says who
sees which page. A page not in the menu cannot be opened at all (Streamlit only routes to pages
given to ``st.navigation``); each page still checks the role itself with ``auth.require``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Set
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

DASHBOARDS_DIR = Path(__file__).resolve().parent
if str(DASHBOARDS_DIR) not in sys.path:  # so pages can `import data` however the app is started
    sys.path.insert(0, str(DASHBOARDS_DIR))

import auth  # noqa: E402  (dashboards/auth.py)

from sfe.registry import mail  # noqa: E402
from sfe.registry.access import Principal, Role  # noqa: E402

PAGES_DIR = DASHBOARDS_DIR / "pages"

# Audiences: who sees a page in the menu.
ANONYMOUS = "anonymous"  # not signed in
EVERYONE = frozenset({ANONYMOUS, *Role})
SIGNED_IN = frozenset(Role)
FSP, INVESTOR, SO, ANALYST, ADMIN = (
    Role.FSP,
    Role.INVESTOR,
    Role.SYSTEM_OPERATOR,
    Role.ANALYST,
    Role.ADMIN,
)


@dataclass(frozen=True)
class PageSpec:
    file: str  # in dashboards/pages/; a file that does not exist (yet) is left out of the menu
    title: str
    icon: str
    audience: Set[str]  # ANONYMOUS and/or Role values; admins see every signed-in page
    section: str = ""
    default: bool = False
    # Who may open it by link (e.g. an email's link) without seeing it in their menu.
    hidden_audience: Set[str] = frozenset()
    shown_when: Callable[[], bool] | None = None  # extra condition (e.g. a feature that is configured)


# The menu, in order. Adding a page is one line.
PAGES = (
    PageSpec("home.py", "Home", ":material/home:", EVERYONE, default=True),
    PageSpec("market_trends.py", "Market trends", ":material/trending_up:", EVERYONE),
    # Public aggregates (the pages add a provider's own figures when one is signed in).
    PageSpec("asset_value.py", "Asset value", ":material/savings:", EVERYONE),
    PageSpec(
        "trade_dispatch_settlement.py", "Trade, dispatch, settlement", ":material/receipt_long:", EVERYONE
    ),
    PageSpec("der_positions.py", "DER positions", ":material/timeline:", {FSP, SO}),
    PageSpec("conflicts.py", "Conflicts", ":material/crisis_alert:", {FSP, SO}),
    PageSpec("dispatch_transparency.py", "Dispatch transparency", ":material/visibility:", EVERYONE),
    PageSpec("rules_library.py", "Market rules library", ":material/menu_book:", SIGNED_IN),
    PageSpec("data_ingestion.py", "Data ingestion", ":material/input:", SIGNED_IN),
    PageSpec("my_assets.py", "Assets", ":material/battery_charging_full:", {FSP, SO}, "Registry"),
    PageSpec("products_registry.py", "Products", ":material/inventory_2:", SIGNED_IN, "Registry"),
    PageSpec("consultations.py", "Consultations", ":material/forum:", {FSP, SO}, "Registry"),
    PageSpec("eligibility.py", "Eligibility", ":material/fact_check:", {FSP, SO}, "Registry"),
    PageSpec("product_rules.py", "Product rules", ":material/rule:", {SO}, "Registry"),
    PageSpec("prequalification.py", "Prequalification", ":material/verified:", {FSP, SO}, "Registry"),
    PageSpec("contracts.py", "Contracts", ":material/contract:", {FSP, SO}, "Registry"),
    PageSpec("sign_in.py", "Sign in", ":material/login:", {ANONYMOUS}, "Account", hidden_audience=SIGNED_IN),
    PageSpec("inbox.py", "Inbox", ":material/notifications:", {FSP, SO}, "Account"),
    PageSpec("account.py", "Account", ":material/account_circle:", SIGNED_IN, "Account"),
    PageSpec(
        "dev_inbox.py",
        "Development inbox",
        ":material/inbox:",
        EVERYONE,
        "Account",
        shown_when=mail.dev_inbox_enabled,
    ),
    PageSpec("admin_users.py", "Users", ":material/manage_accounts:", {ADMIN}, "Admin"),
    PageSpec("taxonomy_admin.py", "Taxonomy", ":material/account_tree:", {ADMIN}, "Admin"),
)


def _admits(audience: Set[str], principal: Principal | None) -> bool:
    if principal is None:
        return ANONYMOUS in audience
    return principal.role in audience or (principal.is_admin and bool(audience & SIGNED_IN))


def visibility(spec: PageSpec, principal: Principal | None) -> str | None:
    """'visible' (in the menu), 'hidden' (reachable by link only) or None (not reachable)."""
    if not (PAGES_DIR / spec.file).is_file() or (spec.shown_when is not None and not spec.shown_when()):
        return None
    if _admits(spec.audience, principal):
        return "visible"
    if _admits(spec.hidden_audience, principal):
        return "hidden"
    return None


def menu(principal: Principal | None) -> dict[str, list]:
    sections: dict[str, list] = {}
    for spec in PAGES:
        shown = visibility(spec, principal)
        if shown:
            page = st.Page(
                PAGES_DIR / spec.file,
                title=spec.title,
                icon=spec.icon,
                default=spec.default,
                visibility=shown,
            )
            sections.setdefault(spec.section, []).append(page)
    return sections


st.set_page_config(
    page_title="SFE — System-wide Flexibility Exchange", page_icon=":material/bolt:", layout="wide"
)

me = auth.principal()
if me is not None:
    st.sidebar.caption(f"Signed in as **{me.display_name}** · {me.organisation_name}")
welcome = st.session_state.pop("sfe_welcome", None)
if welcome:
    st.toast(welcome, icon=":material/waving_hand:")
st.navigation(menu(me)).run()
