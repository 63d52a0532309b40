"""`sfe`: the command line front door (generate, ingest, build, serve, sql …)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import click

from sfe.config import PROJECT_DIR, lake

T = TypeVar("T")

DEFAULT_PORTS = {"app": 8501, "api": 8000, "dagster": 3000}


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """SFE, the System-wide Flexibility Exchange. Every path derives from $SFE_LAKE_DIR (default ./lake)."""


@main.command()
@click.option("--assets", default=300, show_default=True, help="Number of physical assets in the fleet.")
@click.option("--days", default=480, show_default=True, help="Number of days of market data.")
@click.option("--start", default="2025-01-01", show_default=True, help="First day (YYYY-MM-DD).")
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same files).")
@click.option("--broken/--no-broken", default=False, help="Also write deliberately broken files.")
def generate(assets: int, days: int, start: str, seed: int, broken: bool) -> None:
    """Write deterministic demo files for every source into landing/."""
    from sfe.generate import generate as run_generate

    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        _fail(f"--start {start!r} is not a date (YYYY-MM-DD)")
    if assets < 1 or days < 1:
        _fail("--assets and --days must be at least 1")
    summary = run_generate(lake(), assets=assets, days=days, start=start_day, seed=seed, broken=broken)
    by_source: dict[str, tuple[int, int]] = {}
    for f in summary.files:
        files, rows = by_source.get(f.source_id, (0, 0))
        by_source[f.source_id] = (files + 1, rows + f.rows)
    click.echo(f"generated {summary.assets} assets into {lake().landing}")
    for source_id, (files, rows) in sorted(by_source.items()):
        click.echo(f"  {source_id:32s} {files:4d} files {rows:12,d} rows")


def _print_report(source_id: str, names: set[str] | None = None) -> bool:
    """Per-file counts; returns False when a file is unbalanced.

    While days of the source are still pending (a --from/--to run writes only its range), a file with
    rows on those days cannot add up yet: it is reported as partial, not as a failure."""
    from sfe import ingest

    pending = ingest.pending_dates(source_id)
    report = ingest.file_report(source_id)
    if names is not None:
        report = report.filter(report["file_name"].is_in(sorted(names)))
    ok = True
    for row in report.sort("file_name").iter_rows(named=True):
        status = row["status"]
        line = (
            f"  {row['file_name']}: in {row['rows_in']:,} = loaded {row['loaded']:,} + duplicates "
            f"{row['duplicates']:,} + superseded {row['superseded']:,} + quarantined {row['rows_quarantined']:,}"
        )
        if status == "rejected":
            click.secho(f"  {row['file_name']}: QUARANTINED (whole file): {row['reason']}", fg="yellow")
        elif status == "duplicate_file":
            click.echo(f"{line}  [{row['reason']}]")
        elif row["balanced"]:
            click.echo(line)
        elif pending:
            click.echo(f"{line}  (partial: {len(pending)} day(s) of {source_id} not written yet)")
        else:
            click.echo(line + "  (UNBALANCED)")
            ok = False
    if pending and not report["balanced"].all():
        click.echo(
            f"  {len(pending)} pending day(s), {pending[0]} … {pending[-1]}: "
            f"`sfe ingest --source {source_id}` or `sfe build` writes them"
        )
    return ok


@main.command(name="ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--source", "source_id", help="Source id of the files (see `sfe sources`).")
@click.option("--from", "from_", help="Backfill: first day of the partitions to (re)write.")
@click.option("--to", help="Backfill: last day of the partitions to (re)write.")
def ingest_command(paths: tuple[Path, ...], source_id: str | None, from_: str | None, to: str | None) -> None:
    """Copy PATHS into landing/<SOURCE>/ and ingest them into the raw lake, printing per-file counts.

    Without PATHS, ingests what landing/ already holds (all sources, or --source); with --from/--to,
    rewrites exactly those daily partitions.
    """
    from sfe import ingest, pipeline
    from sfe.sources import CONNECTORS

    if paths and not source_id:
        _fail("give --source ID for the files (one of: " + ", ".join(sorted(CONNECTORS)) + ")")
    if source_id and source_id not in CONNECTORS:
        _fail(f"unknown source {source_id!r}; sources with a connector: {', '.join(sorted(CONNECTORS))}")
    if bool(from_) != bool(to):
        _fail("--from and --to go together")
    try:
        start = date.fromisoformat(from_) if from_ else None
        end = date.fromisoformat(to) if to else None
    except ValueError as exc:
        _fail(f"bad date: {exc}")
    if start and end and start > end:
        _fail("--from is after --to")
    pipeline.prepare_environment()
    names: set[str] | None = None
    if paths:
        try:
            copies = ingest.ingest_files(list(paths), source_id)
        except FileNotFoundError as exc:
            _fail(str(exc))
        root = lake().landing_dir(source_id)
        names = {c.relative_to(root).as_posix() for c in copies}
    sources = [source_id] if source_id else list(CONNECTORS)
    try:
        done = pipeline.ingest_sources(sources, start=start, end=end, step=lambda s: click.echo(f"» {s}"))
    except pipeline.BuildFailed as exc:
        _fail(str(exc))
    if not paths:
        for record in ingest.unknown_landing_files():
            click.secho(
                f"  landing/{record.file_name}: QUARANTINED (whole file): {record.reason}", fg="yellow"
            )
    balanced = True
    for sid in sources:
        click.echo(f"{sid}: {len(done.get(sid, []))} daily partitions written")
        balanced = _print_report(sid, names) and balanced
    if not balanced:
        _fail("some files' counts do not add up (see above)")
    click.echo("run `sfe build` to rebuild and publish the warehouse")


@main.command()
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild the incremental facts (metering, dispatch, settlement) from every raw partition, "
    "not only the partitions that changed since the last build.",
)
def build(full_refresh: bool) -> None:
    """Ingest whatever the lake holds, build and test the warehouse, publish it. Never generates data."""
    from tqdm import tqdm

    from sfe import pipeline
    from sfe.sources import CONNECTORS

    pipeline.prepare_environment()
    started = time.monotonic()
    bar = tqdm(total=len(CONNECTORS) + 1, desc="build", unit="step", file=sys.stderr)

    steps_done = 0

    def advance(name: str) -> None:
        nonlocal steps_done
        if steps_done:
            bar.update(1)
        steps_done += 1
        bar.set_postfix_str(name)

    try:
        result = pipeline.build(step=advance, full_refresh=full_refresh)
    except pipeline.BuildFailed as exc:
        bar.close()
        _fail(str(exc))
    bar.update(1)
    bar.close()
    for source_id, days in result.sources.items():
        if days:
            click.echo(f"  {source_id:32s} {len(days):5d} days {days[0]} .. {days[-1]}")
    click.echo(f"published {lake().serving_db} in {time.monotonic() - started:.0f} s")
    for table, rows in sorted(result.table_rows.items()):
        click.echo(f"  {table:32s} {rows:12,d} rows")
    # Without the Dagster daemon (whose sensor does this after a publish) tell the parties here.
    from sfe import conflicts

    try:
        told = conflicts.notify_new_conflicts()
    except Exception as exc:  # the publish stands; notices follow with `sfe conflicts notify`
        click.echo(f"conflict notices not sent ({exc}); retry with `sfe conflicts notify`", err=True)
    else:
        click.echo(
            f"conflicts: {told.conflicts} published, {told.notices_created} new notices, "
            f"{told.emails_sent} emails sent"
        )
    # Likewise the rules judged on arrival (the Dagster asset rule_arrival_verdicts).
    from sfe.rules import arrivals

    try:
        judged = arrivals.judge_new_arrivals()
    except Exception as exc:  # the publish stands; the next build or the Dagster job judges them
        click.echo(f"arrivals not judged by the rules ({exc}); the next build judges them", err=True)
    else:
        click.echo(
            f"rules on arrival: {judged.arrivals} new commitments/dispatches judged, {judged.breaches} breaches, "
            f"{judged.notices_created} new notices"
        )


@main.command()
def sources() -> None:
    """List the source ids SFE knows and whether they have a connector."""
    from sfe.sources import CONNECTORS, KNOWN_SOURCES

    for source_id in KNOWN_SOURCES:
        state = CONNECTORS[source_id].title if source_id in CONNECTORS else "(generated; connector pending)"
        click.echo(f"{source_id:32s} {state}")


@main.group()
def taxonomy() -> None:
    """The harmonised taxonomy (taxonomy/*.csv)."""


@taxonomy.command(name="validate")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder to check (default: the project's taxonomy/).",
)
def taxonomy_validate(directory: Path | None) -> None:
    """Check the taxonomy files: schema, unique ids, references, bands, unambiguous mappings."""
    from sfe import taxonomy as tax

    problems = tax.validate(directory or tax.TAXONOMY_DIR)
    if problems:
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        _fail(f"the taxonomy has {len(problems)} problem(s)")
    click.echo("taxonomy is valid")


@taxonomy.command(name="export-overrides")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to this file (default: standard output).",
)
def taxonomy_export_overrides(output: Path | None) -> None:
    """Write the mapping overrides admins made in the app, in force, as rows of
    taxonomy/source_value_mappings.csv (header included) to merge into the file for a release."""
    import csv
    import io

    from sfe.registry import db
    from sfe.registry.taxonomy_admin import EXPORT_COLUMNS, export_rows

    with db.session() as s:
        rows = export_rows(s)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8")
        click.echo(f"wrote {len(rows)} override(s) to {output}", err=True)


@main.command()
@click.argument("query")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
def sql(query: str, fmt: str) -> None:
    """Run QUERY read-only against the published warehouse (sfe.duckdb)."""
    import duckdb

    path = lake().serving_db
    if not path.exists():
        _fail(f"the warehouse has not been published yet ({path}); run `make build` or `sfe build`")
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        relation = con.sql(query)
        if relation is None:
            click.echo("ok")
            return
        if fmt == "table":
            relation.show(max_rows=200, max_width=200)
        elif fmt == "csv":
            from sfe.csv_safe import to_csv

            click.echo(to_csv(relation.pl()), nl=False)
        else:
            click.echo(relation.pl().write_json())
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0])
    finally:
        con.close()


@main.group()
def registry() -> None:
    """The registry database (users, assets, products): $SFE_REGISTRY_URL or lake/registry.sqlite."""


@registry.command(name="migrate")
def registry_migrate() -> None:
    """Upgrade the registry schema to the latest migration (the apps also do this on start)."""
    from sfe.registry import db

    db.migrate()
    click.echo(f"registry at {db.registry_url()} is up to date")


@registry.command(name="prune")
def registry_prune() -> None:
    """Delete sessions, email tokens and login attempts that ended over 90 days ago (also run daily
    by Dagster's registry_housekeeping schedule)."""
    from sfe.registry import identity

    counts = identity.prune_security_records()
    click.echo(
        f"pruned {counts.sessions} ended session(s), {counts.tokens} used or expired email token(s), "
        f"{counts.login_attempts} login attempt(s) older than {identity.SECURITY_RECORD_RETENTION.days} days"
    )


def _reading_the_publish(step: Callable[[], T]) -> T:
    """Run a step that reads the published warehouse; without one, fail with what to run."""
    from sfe import queries
    from sfe.serving import WarehouseNotBuilt

    try:
        return step()
    except (WarehouseNotBuilt, queries.TableNotPublished) as exc:
        _fail(str(exc))


@main.group()
def conflicts() -> None:
    """Market conflicts (UC11): notices to the parties."""


@conflicts.command(name="notify")
def conflicts_notify() -> None:
    """Notify every party of every published conflict once (inbox + email); safe to run again."""
    from sfe import conflicts as conflict_notices

    result = _reading_the_publish(conflict_notices.notify_new_conflicts)
    click.echo(
        f"{result.conflicts} conflicts: {result.notices_created} new notices, {result.emails_sent} emails sent, "
        f"{result.email_failures} not sent, {result.without_party} conflicts with no registered party"
    )


@main.group()
def rules() -> None:
    """Product rules (UC5): judging what arrives in the warehouse."""


@rules.command(name="judge-arrivals")
def rules_judge_arrivals() -> None:
    """Judge the published commitments and dispatches of registered assets not judged before against
    their products' rules; notify each party of each breach once. Safe to run again."""
    from sfe.rules import arrivals

    judged = _reading_the_publish(arrivals.judge_new_arrivals)
    click.echo(
        f"{judged.arrivals} new commitments/dispatches judged: {judged.breaches} breaches, "
        f"{judged.notices_created} new notices, {judged.emails_sent} emails sent, {judged.email_failures} not sent"
    )


@main.group()
def admin() -> None:
    """SFE administrators."""


@admin.command(name="create")
@click.option("--email", required=True, help="The administrator's email address (their login).")
@click.option("--name", required=True, help="The administrator's name.")
def admin_create(email: str, name: str) -> None:
    """Create an SFE administrator; the password comes from $SFE_ADMIN_PASSWORD or is asked twice."""
    from sfe.registry import identity, passwords

    password = os.environ.get("SFE_ADMIN_PASSWORD") or click.prompt(
        f"Password for {email} ({passwords.POLICY_TEXT})", hide_input=True, confirmation_prompt=True
    )
    try:
        identity.create_admin(email, password, name)
    except passwords.PasswordRejected as exc:
        _fail(" ".join(exc.problems))
    except identity.IdentityError as exc:
        _fail(str(exc))
    click.echo(f"administrator {email.strip().lower()} created; sign in to the app and open Admin > Users")


@main.command(name="demo-accounts")
def demo_accounts() -> None:
    """Create one demo account per role (known passwords, for demos only) and print the logins."""
    from sfe.registry.demo import seed_demo_accounts

    accounts = seed_demo_accounts()
    click.echo("demo accounts (sign in at the app's Sign in page):")
    for a in accounts:
        note = "" if a.created else "  (existed already; password unchanged)"
        click.echo(f"  {a.role.value:16s} {a.email:24s} {a.password}  {a.organisation}{note}")


@main.command(name="seed-rules")
def seed_rules() -> None:
    """Load the reference product rules and the market rules library (safe to re-run)."""
    from sfe.registry import db
    from sfe.rules import library_seed, reference

    with db.session() as s:
        rules = reference.seed_reference_rules(s)
        documents = library_seed.seed_library(s)
    click.echo(f"reference rules added: {rules}; library documents added: {documents}")


@main.command(name="seed-demo")
@click.pass_context
def seed_demo(ctx: click.Context) -> None:
    """Demo registry: one account per role, the demo providers' share of the generated fleet
    (linking their ids across markets), reference rules and the rules library. Idempotent."""
    from sfe.registry.demo_assets import seed_demo_assets

    ctx.invoke(seed_rules)
    ctx.invoke(demo_accounts)
    if not lake().generated.joinpath("fleet.csv").exists():
        click.echo("no generated fleet (run `sfe generate`): no demo assets registered")
        return
    for p in seed_demo_assets():
        click.echo(
            f"demo assets of {p.organisation}: {len(p.registered)} registered now, {len(p.already)} before, "
            f"{len(p.refused)} refused; group {p.group!r} with {p.group_members} members"
        )


def _service_command(service: str, port: int) -> list[str]:
    py = sys.executable
    if service == "app":
        return [
            py,
            "-m",
            "streamlit",
            "run",
            str(PROJECT_DIR / "dashboards" / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ]
    if service == "api":
        return [py, "-m", "uvicorn", "sfe.api.app:app", "--host", "0.0.0.0", "--port", str(port)]
    if service == "dagster":
        return [
            py,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(PROJECT_DIR / "workspace.yaml"),
            "-h",
            "0.0.0.0",
            "-p",
            str(port),
        ]
    raise ValueError(service)


def _run_services(services: dict[str, int]) -> None:
    from sfe import pipeline

    pipeline.prepare_environment()
    procs: dict[str, subprocess.Popen] = {}
    for service, port in services.items():
        procs[service] = subprocess.Popen(
            _service_command(service, port), cwd=PROJECT_DIR, env=os.environ.copy()
        )
    names = {"app": "Streamlit app", "api": "HTTP API", "dagster": "Dagster UI"}
    click.echo("")
    for service, port in services.items():
        suffix = " (OpenAPI: /docs, /openapi.json)" if service == "api" else ""
        click.secho(f"  {names[service]:14s} http://localhost:{port}{suffix}", fg="green")
    click.echo(f"  lake           {lake().root}")
    click.echo("  Demo logins: none needed yet — the dashboards and API are open read-only.")
    click.echo("  Ctrl-C stops everything.\n")

    def stop(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        while True:
            for service, proc in procs.items():
                if proc.poll() is not None:
                    stop()
                    _fail(f"{names[service]} exited with code {proc.returncode}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping …")
        stop()


@main.command()
@click.option("--app-port", default=DEFAULT_PORTS["app"], show_default=True)
@click.option("--api-port", default=DEFAULT_PORTS["api"], show_default=True)
@click.option("--dagster-port", default=DEFAULT_PORTS["dagster"], show_default=True)
def serve(app_port: int, api_port: int, dagster_port: int) -> None:
    """Serve the Streamlit app, the HTTP API and the Dagster UI together."""
    if not lake().serving_db.exists():
        click.secho("note: no published warehouse yet; run `sfe build` (the apps say so too)", fg="yellow")
    _run_services({"app": app_port, "api": api_port, "dagster": dagster_port})


@main.command()
@click.option("--port", default=DEFAULT_PORTS["api"], show_default=True)
def api(port: int) -> None:
    """Serve only the HTTP API."""
    _run_services({"api": port})


@main.command()
@click.option("--port", default=DEFAULT_PORTS["app"], show_default=True)
def app(port: int) -> None:
    """Serve only the Streamlit app."""
    _run_services({"app": port})


@main.command()
@click.option("--port", default=DEFAULT_PORTS["dagster"], show_default=True)
def dagster(port: int) -> None:
    """Serve only the Dagster UI (with its daemon, for schedules and sensors)."""
    _run_services({"dagster": port})


if __name__ == "__main__":
    main()
