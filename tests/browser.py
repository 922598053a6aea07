"""Real-browser tests: Playwright's sync API driving Debian's Chromium against the live server.

Fixtures (a test that uses ``page`` is marked ``browser``: ``pytest -m browser`` runs only these):

- ``page``: a fresh tab in a fresh browser context (its own cookies and storage) on pytest-django's
  ``live_server``, so ``page.goto("/states/")`` works; actions and ``expect()`` wait up to 10 s.
  The database is transactional (the server runs in a thread), and the data migrations' rows
  (campaign types, roles) are restored before each test.
- ``log_in``: ``log_in(user)`` logs the page's browser in as ``user``, without the login form.
- ``browser_problems``: what went wrong in the browser: console errors, uncaught JavaScript
  errors, failed requests, pages answered with an error status. A test that passes with any
  left fails, listing them; a test that expects some asserts on ``browser_problems.take()``.

One Chromium per pytest process (per xdist worker), started when the first browser test needs it:
``$CM_CHROMIUM``, else ``/usr/bin/chromium`` (``scripts/browser.sh`` installs it). Playwright's own
browser download is never used.
"""

import asyncio
import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    WebError,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("CM_CHROMIUM", "/usr/bin/chromium")
# Known to work as root on machines without internet access: without the background-networking
# flags, Chromium's own connections out are refused. Playwright gives each launch a fresh, empty
# profile (--user-data-dir) and adds --headless.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


class _Driver:
    """Playwright and its Chromium, shared by the browser tests of this process.

    Between its calls, Playwright's sync API leaves its event loop marked as running in this
    thread, and Django then refuses the ORM here (SynchronousOnlyOperation), also in the tests
    that come after on this worker. So the mark is kept only during a browser test (``resume``)
    and taken away after it (``pause``); Playwright is only ever called in between.
    """

    def __init__(self) -> None:
        self.playwright: Playwright = sync_playwright().start()
        self._loop = asyncio.get_running_loop()  # marked running by start()
        try:
            self.browser: Browser = self.playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
            )
        except BaseException:
            self.playwright.stop()
            raise
        self.pause()

    def pause(self) -> None:
        asyncio._set_running_loop(None)

    def resume(self) -> None:
        asyncio._set_running_loop(self._loop)

    def stop(self) -> None:
        self.resume()
        try:
            self.browser.close()
        finally:
            self.playwright.stop()
            self.pause()


@dataclass
class BrowserProblems:
    """What went wrong in a browser context, as lines of text, in the order seen."""

    context: BrowserContext
    problems: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.context.on("console", self._console)
        self.context.on("weberror", self._web_error)
        self.context.on("requestfailed", self._request_failed)
        self.context.on("response", self._response)

    def take(self) -> list[str]:
        """The problems so far, which are then no longer held against the test."""
        self._catch_up()
        taken, self.problems = self.problems, []
        return taken

    def assert_none(self) -> None:
        self._catch_up()
        if self.problems:
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            pytest.fail(f"the browser reported problems:\n{lines}", pytrace=False)

    def _catch_up(self) -> None:
        # Events arrive while Playwright is called: a round trip through each page's renderer
        # delivers what it reported before.
        for page in self.context.pages:
            # A page closed or navigating away has reported its problems, or never will.
            with contextlib.suppress(PlaywrightError):
                page.evaluate("0")

    def _console(self, message: ConsoleMessage) -> None:
        # "Failed to load resource" repeats a failed request or an error status, reported below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            where = message.location.get("url")
            text = f"console error: {message.text}"
            self.problems.append(f"{text} ({where})" if where else text)

    def _web_error(self, error: WebError) -> None:
        url = error.page.url if error.page else "?"
        self.problems.append(f"uncaught JavaScript error on {url}: {error.error}")

    def _request_failed(self, request: Request) -> None:
        # ERR_ABORTED is the browser's own doing: a navigation replaced by another, a download.
        if request.failure and "ERR_ABORTED" not in request.failure:
            self.problems.append(f"{request.method} {request.url} failed: {request.failure}")

    def _response(self, response: Response) -> None:
        # Browsers ask for /favicon.ico by themselves; cm has none, and no page is the worse.
        if response.status >= 400 and urlsplit(response.url).path != "/favicon.ico":
            request = response.request
            self.problems.append(f"{request.method} {response.url} answered {response.status}")


_problems_key = pytest.StashKey[BrowserProblems]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use the browser (before ``-m`` selects)."""
    for item in items:
        if "browser_problems" in getattr(item, "fixturenames", ()):  # also behind page
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A browser test that passed fails if the browser reported problems it did not take; one
    that failed keeps its own failure, and shows them too."""
    problems = item.stash.get(_problems_key, None)
    try:
        result = yield
    except BaseException:
        if problems is not None and problems.problems:
            item.add_report_section("call", "browser problems", "\n".join(problems.problems))
        raise
    if problems is not None:
        problems.assert_none()
    return result


@pytest.fixture(scope="session")
def _browser_driver() -> Iterator[_Driver]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM} (CM_CHROMIUM): scripts/test installs "
            "Debian's chromium (or run: bash scripts/browser.sh)",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    driver = _Driver()
    yield driver
    driver.stop()


@pytest.fixture
def browser_problems(
    _browser_driver: _Driver,
    live_server,
    django_db_serialized_rollback,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[BrowserProblems]:
    """A fresh browser context on the live server, watched for problems (see the module)."""
    # Playwright's loop is marked running while the test runs (see _Driver); the ORM in this
    # thread is still synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _browser_driver.resume()
    try:
        context = _browser_driver.browser.new_context(
            base_url=live_server.url, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        problems = BrowserProblems(context)
        problems.watch()
        request.node.stash[_problems_key] = problems
        yield problems
        context.close()
    finally:
        _browser_driver.pause()


@pytest.fixture
def page(browser_problems: BrowserProblems) -> Page:
    """A fresh tab on the live server: ``page.goto("/")``."""
    return browser_problems.context.new_page()


@pytest.fixture
def log_in(page: Page, live_server) -> Callable[..., None]:
    """``log_in(user)``: the page's browser gets a session of ``user``, as Django's login makes."""

    def log_in(user) -> None:
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}
        page.context.add_cookies([cookie])

    return log_in
