"""SFE Streamlit app: ``streamlit run dashboards/app.py``.

One file per page in ``dashboards/pages/``; every page gets its data from ``dashboards/data.py``,
which reads the published warehouse (read-only) through ``sfe.queries``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

DASHBOARDS_DIR = Path(__file__).resolve().parent
if str(DASHBOARDS_DIR) not in sys.path:  # so pages can `import data` however the app is started
    sys.path.insert(0, str(DASHBOARDS_DIR))

st.set_page_config(
    page_title="SFE — System-wide Flexibility Exchange", page_icon=":material/bolt:", layout="wide"
)

PAGES = [
    st.Page(DASHBOARDS_DIR / "pages" / "home.py", title="Home", icon=":material/home:", default=True),
    st.Page(
        DASHBOARDS_DIR / "pages" / "market_trends.py", title="Market trends", icon=":material/trending_up:"
    ),
    st.Page(DASHBOARDS_DIR / "pages" / "data_ingestion.py", title="Data ingestion", icon=":material/input:"),
]

st.navigation(PAGES).run()
