"""Assets: register once for all markets (FSPs), or see the assets connected in your area (SOs)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import registry_data as rd  # noqa: E402  (dashboards/registry_data.py)

from sfe.registry.access import Role  # noqa: E402

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)


def _show_asset_list(records, *, key: str, file_name: str) -> None:
    frame = rd.assets_frame(records)
    st.dataframe(
        frame.rename(rd.ASSET_COLUMNS),
        hide_index=True,
        column_config={"MW": st.column_config.NumberColumn(format="%.3f")},
    )
    st.download_button(
        "Download as CSV",
        rd.assets_csv(records),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}_csv",
    )


# -- read-only views: system operators (their area) and admins (everything) ------------------------
if me.role == Role.SYSTEM_OPERATOR or me.is_admin:
    if me.is_admin:
        st.title("Registered assets")
        st.caption("Every registered asset, read-only here; owners maintain their assets.")
    else:
        st.title("Assets in your area")
        st.caption(
            f"Assets registered by flexibility providers and connected in {rd.area_description(me)} "
            f"({rd.operator_name(me.operator_id or '')}). Read-only: their owners maintain them."
        )
    include_retired = st.toggle("Include retired assets", key="so_include_retired")
    records = rd.list_assets(me, include_retired=include_retired)
    if not records:
        st.info("No registered assets yet.", icon=":material/info:")
    else:
        total_mw = sum(r.capacity_mw for r in records if r.retired_at is None)
        cols = st.columns(3)
        cols[0].metric("Assets", len(records))
        cols[1].metric("Capacity (MW)", f"{total_mw:,.1f}")
        cols[2].metric("Providers", len({r.organisation_name for r in records}))
        _show_asset_list(records, key="area", file_name="sfe_assets_in_area.csv")
    st.stop()

# -- flexibility providers -------------------------------------------------------------------------
st.title("My assets")
st.caption(
    f"Assets of **{me.organisation_name}**. Register each physical asset once, with the ids it already has "
    "in each market; SFE links its data across all of them."
)
TYPES = rd.asset_type_labels()
GSP = rd.gsp_group_labels()


def _report_refusal(exc: Exception) -> None:
    if isinstance(exc, rd.InvalidInput):
        for error in exc.errors:
            st.error(f"**{error.field}**: {error.message}", icon=":material/error:")
    else:
        st.error(str(exc), icon=":material/error:")


def _asset_form(prefix: str, current=None) -> tuple[dict, bool]:
    """The asset fields (prefilled from ``current``), in a form; returns (data, submitted)."""

    def value(name, default=None):
        return getattr(current, name) if current is not None else default

    with st.form(f"{prefix}_form", clear_on_submit=False):
        left, right = st.columns(2)
        name = left.text_input(
            "Asset name", value=value("asset_name", ""), max_chars=200, key=f"{prefix}_name"
        )
        types = list(TYPES)
        asset_type = right.selectbox(
            "Asset type",
            types,
            index=types.index(value("asset_type")) if value("asset_type") in types else 0,
            format_func=lambda t: TYPES[t],
            key=f"{prefix}_type",
        )
        capacity = left.number_input(
            "Capacity (MW)",
            min_value=0.0,
            value=value("capacity_mw"),
            step=0.1,
            format="%.3f",
            key=f"{prefix}_mw",
        )
        energy = right.number_input(
            "Energy (MWh, storage only)",
            min_value=0.0,
            value=value("energy_mwh"),
            step=0.1,
            format="%.3f",
            key=f"{prefix}_mwh",
        )
        st.markdown("**Location**: a postcode, or latitude and longitude")
        a, b, c = st.columns(3)
        postcode = a.text_input("Postcode", value=value("postcode", "") or "", key=f"{prefix}_postcode")
        latitude = b.number_input(
            "Latitude",
            value=value("latitude"),
            format="%.5f",
            min_value=-90.0,
            max_value=90.0,
            key=f"{prefix}_lat",
        )
        longitude = c.number_input(
            "Longitude",
            value=value("longitude"),
            format="%.5f",
            min_value=-180.0,
            max_value=180.0,
            key=f"{prefix}_lon",
        )
        st.markdown("**Connection point**: the MPAN, or at least the GSP group")
        a, b, c = st.columns(3)
        mpan = a.text_input("MPAN (13-digit core)", value=value("mpan", "") or "", key=f"{prefix}_mpan")
        gsp_options = [None, *GSP]
        gsp = b.selectbox(
            "GSP group",
            gsp_options,
            index=gsp_options.index(value("gsp_group")) if value("gsp_group") in gsp_options else 0,
            format_func=lambda g: "— from the MPAN —" if g is None else GSP[g],
            key=f"{prefix}_gsp",
        )
        zone = c.text_input(
            "Flexibility zone", value=value("flexibility_zone", "") or "", key=f"{prefix}_zone"
        )
        st.markdown("**Ids it already has in markets**")
        a, b, c, d = st.columns(4)
        bm_unit = a.text_input("BM unit", value=value("bm_unit", "") or "", key=f"{prefix}_bm")
        eac = b.text_input("EAC unit name", value=value("eac_unit_name", "") or "", key=f"{prefix}_eac")
        fu = c.text_input("UKPN fu_id", value=value("ukpn_fu_id", "") or "", key=f"{prefix}_fu")
        comp = d.text_input(
            "DNO competition ref", value=value("competition_asset_ref", "") or "", key=f"{prefix}_comp"
        )
        submitted = st.form_submit_button("Save" if current is not None else "Register", type="primary")
    data = {
        "asset_name": name,
        "asset_type": asset_type,
        "capacity_mw": capacity,
        "energy_mwh": energy,
        "postcode": postcode,
        "latitude": latitude,
        "longitude": longitude,
        "mpan": mpan,
        "gsp_group": gsp,
        "flexibility_zone": zone,
        "bm_unit": bm_unit,
        "eac_unit_name": eac,
        "ukpn_fu_id": fu,
        "competition_asset_ref": comp,
    }
    if current is not None:
        data["dno_area"] = None  # derived again from the MPAN / GSP group
    return data, submitted


tab_list, tab_register, tab_upload, tab_groups = st.tabs(
    ["Assets", "Register an asset", "Upload a CSV", "Groups"]
)

# -- list, edit, retire ----------------------------------------------------------------------------
with tab_list:
    include_retired = st.toggle("Include retired assets", key="include_retired")
    records = rd.list_assets(me, include_retired=include_retired)
    if not records:
        st.info("You have not registered any assets yet: use **Register an asset** or **Upload a CSV**.")
    else:
        cols = st.columns(3)
        active = [r for r in records if r.retired_at is None]
        cols[0].metric("Assets", len(active))
        cols[1].metric("Capacity (MW)", f"{sum(r.capacity_mw for r in active):,.2f}")
        cols[2].metric(
            "With market ids",
            sum(1 for r in active if r.bm_unit or r.eac_unit_name or r.ukpn_fu_id or r.competition_asset_ref),
        )
        _show_asset_list(records, key="mine", file_name="sfe_my_assets.csv")
        editable = {r.registry_asset_id: r for r in records if r.editable}
        if editable:
            st.subheader("Change or retire an asset")
            chosen = st.selectbox(
                "Asset",
                list(editable),
                format_func=lambda rid: f"{rid} · {editable[rid].asset_name}",
                key="edit_asset",
            )
            current = editable[chosen]
            data, saved = _asset_form(f"edit_{chosen}", current)
            if saved:
                try:
                    rd.update_asset(me, chosen, data, confirm=st.session_state.get("confirm_edit", False))
                    st.success(f"{chosen} saved.", icon=":material/check_circle:")
                except rd.LikelyDuplicate as exc:
                    st.warning(f"{exc} Tick the box below and save again to confirm.")
                except rd.REFUSALS as exc:
                    _report_refusal(exc)
            st.checkbox("This is a different physical asset (confirm a likely duplicate)", key="confirm_edit")
            with st.form(f"retire_{chosen}"):
                reason = st.text_input("Reason for retiring (optional)", key="retire_reason")
                retire = st.form_submit_button("Retire this asset", icon=":material/archive:")
            if retire:
                try:
                    rd.retire_asset(me, chosen, reason)
                    st.success(f"{chosen} retired; it keeps its entry and history.")
                    st.rerun()
                except rd.REFUSALS as exc:
                    _report_refusal(exc)

# -- register one ----------------------------------------------------------------------------------
with tab_register:
    st.caption("Fields come from the SFE taxonomy. Storage (battery, V2G) needs its MWh.")
    data, submitted = _asset_form("new")
    if submitted:
        try:
            record = rd.register_asset(me, data)
            st.success(f"Registered as **{record.registry_asset_id}**.", icon=":material/check_circle:")
            st.session_state.pop("pending_asset", None)
        except rd.LikelyDuplicate as exc:
            st.session_state["pending_asset"] = data
            st.warning(str(exc), icon=":material/warning:")
        except rd.REFUSALS as exc:
            _report_refusal(exc)
    pending = st.session_state.get("pending_asset")
    if pending and st.button("Register anyway: it is a different physical asset", key="confirm_new"):
        try:
            record = rd.register_asset(me, pending, confirm=True)
            st.success(f"Registered as **{record.registry_asset_id}**.", icon=":material/check_circle:")
        except rd.REFUSALS as exc:
            _report_refusal(exc)
        st.session_state.pop("pending_asset", None)

# -- CSV upload ------------------------------------------------------------------------------------
with tab_upload:
    st.markdown(
        "Register many assets at once. Download the template, fill one row per asset and upload it. "
        "Valid rows are registered; every rejected row is reported with its row number, field and reason, "
        "and you can download the rejected rows to fix and upload them again."
    )
    st.download_button(
        "Download the CSV template",
        rd.template_csv(),
        file_name="sfe_asset_template.csv",
        mime="text/csv",
        icon=":material/download:",
        key="template",
    )
    with st.expander("What goes in each column"):
        st.dataframe(rd.template_help(), hide_index=True)
    uploaded = st.file_uploader("CSV file (UTF-8, comma separated)", type=["csv"], key="asset_csv")
    my_groups = rd.list_groups(me)
    target = st.radio(
        "Add the registered assets to",
        ["No group", "An existing group", "A new group"],
        horizontal=True,
        key="import_target",
    )
    group_id = new_group = None
    if target == "An existing group":
        if my_groups:
            by_id = {g.group_id: g for g in my_groups}
            group_id = st.selectbox(
                "Group", list(by_id), format_func=lambda g: by_id[g].group_name, key="import_group"
            )
        else:
            st.info("You have no groups yet; choose 'A new group'.")
    elif target == "A new group":
        new_group = st.text_input("New group name", key="import_new_group") or None
    left, right = st.columns(2)
    check = left.button(
        "Check the file (registers nothing)", key="import_check", icon=":material/fact_check:"
    )
    go = right.button("Register the valid rows", key="import_go", type="primary", icon=":material/upload:")
    if (check or go) and uploaded is None:
        st.warning("Choose a CSV file first.")
    elif check or go:
        content = uploaded.getvalue()
        bar = st.progress(0.0, text="Reading the file…")

        def _progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"{done} of {total} rows checked")

        try:
            report = rd.import_csv(
                me, content, group_id=group_id, new_group_name=new_group, dry_run=check, progress=_progress
            )
            st.session_state["asset_import"] = (uploaded.name, content, report)
        except rd.REFUSALS as exc:
            st.session_state.pop("asset_import", None)
            _report_refusal(exc)
    last = st.session_state.get("asset_import")
    if last:
        name, content, report = last
        verb = "would be registered" if report.dry_run else "registered"
        st.subheader(f"{'Check of' if report.dry_run else 'Upload of'} {name}")
        cols = st.columns(3)
        cols[0].metric("Rows", report.rows)
        cols[1].metric(f"Rows {verb}", len(report.registered))
        cols[2].metric("Rows rejected", len(report.rejected_rows))
        if report.group is not None and not report.dry_run:
            st.caption(
                f"Added to group **{report.group.group_name}** ({report.group.current_members} members)."
            )
        if report.errors:
            st.error(
                f"{len(report.rejected_rows)} row(s) rejected: {', '.join(map(str, report.rejected_rows[:30]))}"
                + (" …" if len(report.rejected_rows) > 30 else ""),
                icon=":material/error:",
            )
            st.dataframe(report.errors_frame(), hide_index=True)
            a, b = st.columns(2)
            a.download_button(
                "Download the error report",
                rd.errors_csv(report),
                file_name="sfe_asset_upload_errors.csv",
                mime="text/csv",
                key="import_errors",
            )
            b.download_button(
                "Download the rejected rows to fix",
                rd.rejected_rows_csv(content, report),
                file_name="sfe_asset_upload_rejected.csv",
                mime="text/csv",
                key="import_rejected",
            )
        else:
            st.success(f"Every row {verb}.", icon=":material/check_circle:")
        if report.registered:
            with st.expander(f"Rows {verb}"):
                st.dataframe(report.registered_frame(), hide_index=True)

# -- groups ----------------------------------------------------------------------------------------
with tab_groups:
    st.caption(
        "Groups are your portfolios. Membership changes are kept: past members stay listed with dates."
    )
    with st.form("new_group", clear_on_submit=True):
        a, b = st.columns([1, 2])
        group_name = a.text_input("New group name", key="group_name")
        description = b.text_input("Description (optional)", key="group_description")
        create = st.form_submit_button("Create group")
    if create:
        try:
            rd.create_group(me, group_name, description)
            st.success(f"Group {group_name!r} created.")
        except rd.REFUSALS as exc:
            _report_refusal(exc)
    my_groups = rd.list_groups(me)
    if not my_groups:
        st.info("No groups yet.")
    else:
        by_id = {g.group_id: g for g in my_groups}
        chosen = st.selectbox(
            "Group",
            list(by_id),
            format_func=lambda g: f"{by_id[g].group_name} ({by_id[g].current_members} assets)",
            key="group_choice",
        )
        members = rd.group_members_frame(me, chosen)
        current_ids = members.filter(members["current"])["registry_asset_id"].to_list()
        active = {r.registry_asset_id: r for r in rd.list_assets(me)}
        a, b = st.columns(2)
        with a.form(f"add_{chosen}", clear_on_submit=True):
            to_add = st.multiselect(
                "Add assets",
                [rid for rid in active if rid not in current_ids],
                format_func=lambda rid: f"{rid} · {active[rid].asset_name}",
                key=f"add_{chosen}_ids",
            )
            add = st.form_submit_button("Add to group")
        with b.form(f"remove_{chosen}", clear_on_submit=True):
            to_remove = st.multiselect("Remove assets", current_ids, key=f"remove_{chosen}_ids")
            remove = st.form_submit_button("Remove from group")
        if add or remove:
            try:
                if add and to_add:
                    rd.add_to_group(me, chosen, to_add)
                if remove and to_remove:
                    rd.remove_from_group(me, chosen, to_remove)
                st.rerun()
            except rd.REFUSALS as exc:
                _report_refusal(exc)
        st.markdown(f"**Current members**: {len(current_ids)}")
        st.dataframe(members.filter(members["current"]).drop("current", "member_until_utc"), hide_index=True)
        past = members.filter(~members["current"])
        st.markdown(f"**Past members**: {past.height}")
        if past.height:
            st.dataframe(past.drop("current"), hide_index=True)
