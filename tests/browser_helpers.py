"""Real-browser tests of the web dashboard: Playwright driving the Chromium that Debian ships.

Fixtures (available to every test module through `pytest_plugins` in conftest.py):

- `chromium` (session): the launched browser. Without `/usr/bin/chromium` (or the `playwright` package)
  browser tests are skipped, except when `CI` is set: there they fail, so CI never skips them silently.
- `browser_locale`: the locale of `browser_page`, `"en-US"`; parametrize it to change it.
- `browser_page`: a fresh context (1366×768, downloads accepted) and its page. Console errors and uncaught
  page errors collect in `page.memskill_errors` (also `page_errors(page)`); a failing test leaves a
  screenshot of the page in `.ci/screenshots/`.
- `demo_server` (module): `memskill serve` on a data directory holding the demo conversations, with the
  hashing embedder and the key `DEMO_KEY`.

Functions: `screenshot(page, name)`, `timed_goto(page, url)` (its load times are listed at the end of
the run under "page load times"), `navigation_status(page)`.

Install: `apt-get install --no-install-recommends chromium chromium-driver fonts-wqy-microhei` and
`pip install playwright`; `playwright install` is never needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from paths import ROOT
from serve_helpers import Server, running_server, server_env

from memskill.config import Settings
from memskill.demo import send_demo
from memskill.engine import Memory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}
SCREENSHOTS = ROOT / ".ci" / "screenshots"
DEMO_KEY = "msk_browser-test-key"
NAVIGATION = "performance.getEntriesByType('navigation')[0]"
"""The Navigation Timing entry of the page's document, in JavaScript."""

LOAD_TIMES: list[tuple[str, float]] = []
"""`(url, milliseconds)` for every `timed_goto` of this run, in order."""

_FAILED = pytest.StashKey[bool]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


# -- the browser and its pages ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once per run."""
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} is missing: apt-get install --no-install-recommends chromium fonts-wqy-microhei"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_locale() -> str:
    """The locale `browser_page` gets; override with `@pytest.mark.parametrize("browser_locale", [...])`."""
    return "en-US"


@pytest.fixture
def browser_page(chromium: Browser, browser_locale: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in its own context; what it logs as an error or throws uncaught is in `page.memskill_errors`."""
    context = chromium.new_context(viewport=VIEWPORT, locale=browser_locale, accept_downloads=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.memskill_errors = errors  # type: ignore[attr-defined]

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location
                errors.append(f"console: {message.text} ({where.get('url')}:{where.get('lineNumber')})")

        def on_page_error(error: Error) -> None:
            errors.append(f"uncaught: {error.name}: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        yield page
        if request.node.stash.get(_FAILED, False) and not page.is_closed():
            screenshot(page, "FAILED-" + request.node.name)
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed call so `browser_page` can keep a screenshot of the page it failed on."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def page_errors(page: Page) -> list[str]:
    """The console errors and uncaught exceptions of a `browser_page` so far."""
    errors: list[str] = page.memskill_errors  # type: ignore[attr-defined]
    return errors


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG as `.ci/screenshots/<name>.png` (name reduced to safe characters)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.removesuffix(".png")).strip("-.") or "page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{stem[:120]}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def timed_goto(page: Page, url: str) -> float:
    """Open `url`, wait for its load event, and return the load time in ms (Navigation Timing)."""
    page.goto(url, wait_until="load")
    page.wait_for_function(f"() => {{ const n = {NAVIGATION}; return !!n && n.loadEventEnd > 0; }}")
    ms = float(page.evaluate(f"() => {{ const n = {NAVIGATION}; return n.loadEventEnd - n.startTime; }}"))
    LOAD_TIMES.append((url, ms))
    return ms


def navigation_status(page: Page) -> int:
    """The HTTP status of the page's document (Navigation Timing `responseStatus`)."""
    status: int = page.evaluate(f"() => {NAVIGATION}.responseStatus")
    return status


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LOAD_TIMES:
        return
    terminalreporter.section("page load times")
    for url, ms in LOAD_TIMES:
        terminalreporter.write_line(f"{ms:8.1f} ms  {url}")


# -- a server holding the demo conversations ----------------------------------------------------------


@dataclass(frozen=True)
class DemoServer:
    """A running `memskill serve` whose data directory holds the demo conversations."""

    root: str
    """`http://127.0.0.1:<port>`, where the dashboard is."""
    api: str
    """The API base, `<root>/api/openmem/v1`."""
    key: str
    """The API key the server accepts."""
    data_dir: Path
    server: Server


def add_demo_conversations(data_dir: Path) -> None:
    """Send the demo conversations into `data_dir` one turn per call, as `memskill demo` does."""
    memory = Memory(settings=Settings(data_dir=data_dir, workers=0, embedder="hashing"))
    try:
        send_demo(memory)
    finally:
        memory.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data_dir = tmp_path_factory.mktemp("browser-demo") / "data"
    data_dir.mkdir()
    add_demo_conversations(data_dir)
    env = server_env(MEMSKILL_API_KEY=DEMO_KEY, MEMSKILL_EMBEDDER="hashing")
    with running_server(data_dir, env) as server:
        yield DemoServer(server.root, server.api, DEMO_KEY, data_dir, server)
        assert "Traceback" not in server.stderr(), server.stderr()
