"""The app in a real browser: headless Chromium (Debian's package) driven by Playwright.

Builds a small demo lake, serves the Streamlit app on a free port, signs in as the demo flexibility
service provider through the sign-in form, opens every page of that user's menu, changes a filter on
Market trends and downloads a CSV. Screenshots go to a temporary directory, or to docs/screenshots/
(the README's pictures) when SFE_SCREENSHOTS=1.

Playwright cannot download its own browser here, so it drives Debian's chromium (`make setup-browser`);
without it the test skips.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Without the background-networking flags Chromium keeps calling Google services (slow on a closed network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_FSP = ("fsp@sfe.example", "flexible-demo-2025")
VIEWPORT = {"width": 1400, "height": 900}
MAX_SCREENSHOT_HEIGHT = 3200
TIMEOUT_MS = 120_000  # the machine may be busy; Streamlit pages query DuckDB on first open

pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    found = next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)
    return found or shutil.which("chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sfe(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sfe.cli", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"sfe {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A small built demo lake with the demo accounts, served by Streamlit on a free port."""
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium installed: the browser test drives Debian's chromium package "
            "(run `make setup-browser` as root, or `apt-get install chromium`)"
        )
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)")
    from sfe.cli import _service_command

    # SFE_BROWSER_LAKE: an already built and seeded lake to serve instead (quicker when working on this test).
    prebuilt = os.environ.get("SFE_BROWSER_LAKE")
    lake_dir = Path(prebuilt) if prebuilt else tmp_path_factory.mktemp("browser_lake")
    port = _free_port()
    env = {
        **os.environ,
        "SFE_LAKE_DIR": str(lake_dir),
        "SFE_APP_URL": f"http://localhost:{port}",
    }
    if not prebuilt:
        _sfe("generate", "--assets", "40", "--days", "20", env=env)
        _sfe("seed-demo", env=env)
        _sfe("build", env=env)

    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        _service_command("app", port), cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "streamlit exited:\n" + log_path.read_text()
            assert time.monotonic() < deadline, "streamlit did not become healthy within 90 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    if os.environ.get("SFE_SCREENSHOTS") == "1":
        target = PROJECT_DIR / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished running the script (its 'Running…' status widget is gone)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # a rerun starts a moment after the click that triggers it
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    page.wait_for_selector('[data-testid="stMain"] h1')


def _assert_no_exception(page, where: str) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, f"{where}: the page shows an exception:\n{errors.first.inner_text()}"


def _screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to its height."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": min(max(height, 900), MAX_SCREENSHOT_HEIGHT)}
    )
    page.wait_for_timeout(500)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


def _sidebar_links(page):
    view_more = page.locator('[data-testid="stSidebarNavViewButton"]')
    if view_more.count() and "more" in view_more.inner_text().lower():
        view_more.click()
    return page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')


def _open(page, title: str) -> None:
    """Follow the sidebar link (a reload would start a new, signed-out Streamlit session)."""
    link = _sidebar_links(page).filter(has=page.get_by_text(title, exact=True))
    before = page.url
    link.first.click()
    page.wait_for_url(lambda url: url != before)  # every page has its own path; the old one is gone
    _settle(page)


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_").replace("__", "_")


def _sign_in(page, app_url: str) -> None:
    page.goto(app_url)
    _settle(page)
    _open(page, "Sign in")
    form = page.locator('[data-testid="stForm"]').first
    form.get_by_role("textbox", name="Email").fill(DEMO_FSP[0])
    form.get_by_role("textbox", name="Password", exact=True).fill(DEMO_FSP[1])
    form.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").first.wait_for()
    _settle(page)
    _assert_no_exception(page, "sign in")


def test_fsp_visits_every_page_filters_and_downloads(page, app_url, screenshot_dir, tmp_path):
    _sign_in(page, app_url)
    links = _sidebar_links(page)
    titles = [t.split("\n")[-1].strip() for t in links.all_inner_texts()]  # after the icon's name
    # The FSP's menu: the public analytics, the FSP's own pages, the registry and the account.
    for expected in ("Home", "Market trends", "DER positions", "Assets", "Prequalification", "Account"):
        assert expected in titles, f"{expected!r} missing from the FSP's menu {titles}"
    assert "Sign in" not in titles and "Users" not in titles and "Product rules" not in titles

    for title in titles:
        _open(page, title)
        heading = page.locator('[data-testid="stMain"] h1').first
        assert heading.inner_text().strip(), f"{title}: no page title"
        _assert_no_exception(page, title)
        _screenshot(page, screenshot_dir / f"{_slug(title)}.png")
        # Still the signed-in session (a reload would have lost it).
        assert page.get_by_text("Signed in as").count() >= 1, f"{title}: no longer signed in"

    # Market trends: change the breakdown, then download the table behind the first chart.
    _open(page, "Market trends")
    main = page.locator('[data-testid="stMain"]')
    metric = main.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert metric, "Market trends shows no headline volume"
    main.get_by_text("by product (MWh)").first.wait_for()  # the default breakdown

    breakdown = main.locator('[data-testid="stSelectbox"]').filter(has_text="Break down by")
    breakdown.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name="Market", exact=True).click()
    # The charts follow: their headings now name the market breakdown.
    main.get_by_text("by market (MWh)").first.wait_for()
    _settle(page)
    _assert_no_exception(page, "Market trends after changing the breakdown")

    download_button = main.locator('[data-testid="stDownloadButton"]').first
    with page.expect_download() as download_info:
        download_button.locator("button, a").first.click()
    download = download_info.value
    assert "_by_market" in download.suggested_filename, download.suggested_filename
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert {"period_start", "market_id", "market", "volume_mwh"} <= set(rows[0]), rows[0]
    assert len(rows) > 1, "the downloaded CSV has no data rows"
    _screenshot(page, screenshot_dir / "market_trends_by_market.png")
