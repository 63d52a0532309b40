"""Admin: map source vocabulary the taxonomy does not know yet (issue #4). Values seen in the published
warehouse without a mapping are listed; an admin maps one to a taxonomy product (validated, audited),
rebuilds, and its rows move from the placeholder product to the chosen one. Overrides live in the
registry until `sfe taxonomy export-overrides` merges them into taxonomy/source_value_mappings.csv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import data  # noqa: E402  (dashboards/data.py)

from sfe import build_status  # noqa: E402
from sfe.config import lake  # noqa: E402
from sfe.registry import db, taxonomy_admin  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.registry.models import User  # noqa: E402
from sfe.serving import WarehouseNotBuilt  # noqa: E402

me = auth.require(Role.ADMIN)
paths = lake()
REBUILD_LOG = paths.warehouse / "app_rebuild.log"

st.title("Taxonomy mappings")
st.caption(
    "Source values the taxonomy does not map yet are kept under a placeholder product, never dropped. "
    "Map one to a taxonomy product here, then rebuild: its rows move to the chosen product. Mappings made "
    "here win over taxonomy/source_value_mappings.csv for the same value; merge them into that file for a "
    "release with `sfe taxonomy export-overrides`."
)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


# -- unmapped values ---------------------------------------------------------------------------------
st.subheader("Unmapped source values")
try:
    unmapped = data.unmapped_source_values()
except WarehouseNotBuilt:
    unmapped = None
with db.session() as s:
    pending = {
        (o.source_id, o.field, o.source_value): o.target_value for o in taxonomy_admin.active_overrides(s)
    }
if unmapped is None:
    st.warning(
        "The warehouse has not been built yet, so there are no source values to review. Run a build below.",
        icon=":material/warning:",
    )
elif unmapped.is_empty():
    st.success(
        "Every source value in the published warehouse maps to a taxonomy product.", icon=":material/check:"
    )
else:
    st.dataframe(
        unmapped.with_columns(
            pl.struct("source_id", "field", "source_value")
            .map_elements(
                lambda r: pending.get((r["source_id"], r["field"], r["source_value"]), ""),
                return_dtype=pl.String,
            )
            .alias("mapped_here_next_build")
        ),
        hide_index=True,
    )
    rows = unmapped.to_dicts()
    index = st.selectbox(
        "Value to map",
        range(len(rows)),
        format_func=lambda i: (
            f"{rows[i]['source_value'] or '(empty)'} · {rows[i]['source_id']}.{rows[i]['field']} · "
            f"{rows[i]['market_id']} · {rows[i]['row_count']:,} rows"
        ),
        key="tax_value",
    )
    chosen = rows[index]
    choices = taxonomy_admin.product_choices(chosen["market_id"])
    if not choices:
        st.warning(
            f"Market {chosen['market_id']!r} has no products in taxonomy/products.csv yet: add the product to "
            "the file first.",
            icon=":material/warning:",
        )
    else:
        by_id = {c.product_id: c for c in choices}
        target = st.selectbox(
            "Map to product", list(by_id), format_func=lambda pid: by_id[pid].label, key="tax_target"
        )
        if st.button("Save mapping", type="primary", key="tax_save"):
            try:
                with db.session() as s:
                    taxonomy_admin.save_override(
                        s,
                        me,
                        source_id=chosen["source_id"],
                        field=chosen["field"],
                        source_value=chosen["source_value"],
                        target_value=target,
                        market_id=chosen["market_id"],
                    )
            except (taxonomy_admin.OverrideError, AccessDenied) as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.success(
                    f"Mapped {chosen['source_value']!r} to {by_id[target].product_name}. Rebuild to apply it.",
                    icon=":material/check:",
                )

# -- overrides and history ---------------------------------------------------------------------------
st.subheader("Mappings made here")
with db.session() as s:
    overrides = taxonomy_admin.all_overrides(s)
    names = {
        u.id: u.display_name for u in s.query(User).filter(User.id.in_({o.created_by_id for o in overrides}))
    }
    history = [
        {
            "id": o.id,
            "source_id": o.source_id,
            "field": o.field,
            "source_value": o.source_value,
            "target_product": o.target_value,
            "state": "in force" if o.retired_at is None else "withdrawn",
            "created_by": names.get(o.created_by_id, ""),
            "created_at": _when(o.created_at),
            "retired_at": _when(o.retired_at),
        }
        for o in overrides
    ]
if not history:
    st.info("No mappings made here yet.", icon=":material/info:")
else:
    st.dataframe(pl.DataFrame(history), hide_index=True)
    active_ids = [h["id"] for h in history if h["state"] == "in force"]
    if active_ids:
        labels = {h["id"]: f"{h['source_value']} → {h['target_product']} ({h['source_id']})" for h in history}
        withdraw = st.selectbox(
            "Withdraw a mapping", active_ids, format_func=labels.get, key="tax_withdraw_id"
        )
        if st.button("Withdraw", key="tax_withdraw"):
            try:
                with db.session() as s:
                    taxonomy_admin.retire_override(s, me, withdraw)
            except (taxonomy_admin.OverrideError, AccessDenied, NotFound) as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.success("Withdrawn: the value falls back to the taxonomy files at the next build.")
                st.rerun()


# -- rebuild -----------------------------------------------------------------------------------------
def start_rebuild() -> str | None:
    """Start `sfe build` in the background; an error message when it cannot start."""
    current = build_status.read(paths)
    if current is not None and current.status == "running":
        return (
            f"A build started at {current.started_at} is still running; wait for it to finish. (If it was "
            "interrupted without recording an outcome, run `sfe build` from a shell.)"
        )
    # Claim the lake before the child starts so a second click (or admin) is refused at once;
    # the build overwrites this with its own start and outcome.
    build_status.write(build_status.BuildStatus(status="running", started_at=build_status.now()), paths)
    REBUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(REBUILD_LOG, "w", encoding="utf-8") as log:
            subprocess.Popen(
                [sys.executable, "-c", "from sfe.cli import main; main()", "build"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "SFE_LAKE_DIR": str(paths.root)},
                start_new_session=True,  # keeps running when this page reruns or the tab closes
            )
    except OSError as exc:
        build_status.write(
            build_status.BuildStatus(
                status="failed",
                started_at=build_status.now(),
                finished_at=build_status.now(),
                message=str(exc),
            ),
            paths,
        )
        return f"Could not start the build: {exc}"
    return None


st.subheader("Rebuild")
if st.button("Rebuild now", key="tax_rebuild", icon=":material/refresh:"):
    problem = start_rebuild()
    if problem:
        st.warning(problem, icon=":material/hourglass:")
    else:
        st.session_state["tax_rebuild_started"] = True


@st.fragment(
    run_every=3
    if (build_status.read(paths) or build_status.BuildStatus("", "")).status == "running"
    else None
)
def build_progress() -> None:
    status = build_status.read(paths)
    if status is None:
        st.caption("No build recorded for this lake yet.")
        return
    if status.status == "running":
        st.info(f"Build running since {status.started_at}…", icon=":material/hourglass:")
    elif status.status == "succeeded":
        st.success(
            f"Last build succeeded at {status.finished_at}; the mappings saved before it started are applied.",
            icon=":material/check:",
        )
    else:
        st.error(
            f"Last build failed at {status.finished_at}: {status.message or 'no message'}",
            icon=":material/error:",
        )
    if REBUILD_LOG.exists():
        tail = REBUILD_LOG.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()[-8:]
        with st.expander("Output of the build started here"):
            st.code("\n".join(tail) or "(no output yet)")


build_progress()
