"""The shifter pages in a real browser (Chromium through Playwright, see tests/browser.py):
what a shifter and an operator do with them, click by click, on the world of tests/page_world.py
(one step of three groups; group000's attempt_1 is reviewable with three failed quanta and an
open warning alarm)."""

import csv
import io
import json
import re

import pytest
from playwright.sync_api import Download, Locator, Page, expect

from campaigns.models import Alarm, Group
from campaigns.states import Status
from monitoring import rules
from tests.page_world import build_world, set_status

PLOT_FORMATS = ("png", "svg", "pdf", "json")
# The "in its state for how long" part of an element's status line (build_world: 2 hours ago).
FOR_TWO_HOURS = re.compile(r"\bfor 2\s+hours\b")
# Template syntax that reached the reader: a tag, variable or comment Django did not take as one.
TEMPLATE_SYNTAX = re.compile(r"\{[#%{]|[#%}]\}")


@pytest.fixture
def world(page, settings):
    # After ``page``: its live server makes the database transactional, shared with the server.
    return build_world(3, archive_dir=settings.CM_PANDA_ARCHIVE_DIR)


def group_names(page: Page) -> Locator:
    """The first cell (the group's name) of each row of the step page's group table."""
    return page.locator(".cm-refresh-body tr[data-group] > td:first-child")


def group_row(page: Page, name: str) -> Locator:
    return page.locator(f'.cm-refresh-body tr[data-group="{name}"]')


def expect_state_line(page: Page, reason: str) -> None:
    """The element's status line says for how long it has been in its status, and why (and
    the page around it shows no stray template syntax)."""
    expect(page.locator("main")).not_to_contain_text(TEMPLATE_SYNTAX)
    state = page.locator(".cm-state")
    expect(state).to_be_visible()
    expect(state).to_contain_text(FOR_TWO_HOURS)
    expect(state).to_contain_text(reason)


def download(page: Page, link: Locator) -> tuple[Download, bytes]:
    with page.expect_download() as info:
        link.click()
    got = info.value
    assert got.failure() is None
    with open(got.path(), "rb") as file:
        return got, file.read()


def check_plot_downloads(page: Page, figure: Locator, stem: str) -> dict:
    """Download the figure's plot in every format; check each file; return the JSON twin."""
    files = {}
    for fmt in PLOT_FORMATS:
        got, files[fmt] = download(page, figure.get_by_role("link", name=fmt.upper(), exact=True))
        assert got.suggested_filename == f"{stem}.{fmt}"
    assert files["png"].startswith(b"\x89PNG\r\n\x1a\n")
    assert files["pdf"].startswith(b"%PDF")
    assert b"<svg" in files["svg"]
    data = json.loads(files["json"])
    assert data["series"]
    return data


# --- 1. From the top down ------------------------------------------------------------------


def test_a_shifter_clicks_from_the_top_down_to_the_failed_quanta(page, world):
    page.goto("/")
    page.get_by_role("link", name=world.campaign.name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/campaigns/{world.campaign.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Campaign {world.campaign.name}")
    expect_state_line(page, world.campaign.status_reason)

    steps = page.locator(".cm-refresh-body")
    steps.get_by_role("link", name=world.step.name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/steps/{world.step.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Step {world.step.name}")
    expect_state_line(page, world.step.status_reason)

    group_row(page, "group000").get_by_role("link", name="group000", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/groups/{world.failed_group.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Group group000")
    expect_state_line(page, "attempt_1 finished with failures")

    attempts = page.locator(".cm-refresh-body")
    attempts.get_by_role("link", name="attempt_1", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/workflows/{world.failed_attempt.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Details for group000 attempt_1")
    expect_state_line(page, "3 quanta failed")

    page.get_by_role("link", name="All failed quanta with their messages").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{world.failed_attempt.pk}/failures/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Failed quanta of group000 attempt_1")
    expect_state_line(page, "3 quanta failed")
    quanta = page.locator("tr.cm-failed-quantum")
    expect(quanta).to_have_count(3)
    for detector in (3, 7, 11):
        row = quanta.filter(has_text=re.compile(rf"\bdetector={detector}\b"))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("calibrate")
        expect(row).to_contain_text("MockAlgorithmError")
        expect(row).to_contain_text(
            f"Simulated failure: task=calibrate dataId={{detector: {detector}}}"
        )


# --- 2. Sort, filter, export ---------------------------------------------------------------


def test_the_step_table_sorts_filters_and_exports_what_it_shows(page, world):
    page.goto(f"/steps/{world.step.pk}/")
    names = group_names(page)
    expect(names).to_have_text(["group000", "group001", "group002"])

    # The default order counts as ascending by name: the header's first click turns it round.
    header = page.locator(".cm-refresh-body thead").get_by_role("link", name=re.compile("^Group"))
    header.click()
    expect(page).to_have_url(re.compile(r"\?sort=-name$"))
    expect(names).to_have_text(["group002", "group001", "group000"])

    filters = page.get_by_role("form", name="Filter groups")
    filters.get_by_label("Reviewable", exact=True).check()
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]status=reviewable(&|$)"))
    expect(names).to_have_text(["group000"])

    filters.get_by_label("Reviewable", exact=True).uncheck()
    filters.get_by_label("Running", exact=True).check()
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]status=running(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]sort=-name(&|$)"))  # filtering keeps the sort
    expect(names).to_have_text(["group002", "group001"])

    # The export holds the rows the filter leaves, in the page's order, without markup.
    got, content = download(page, page.get_by_role("link", name="CSV", exact=True))
    assert got.suggested_filename == f"{world.campaign.name}-step1-groups.csv"
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [(row["Group"], row["Status"]) for row in rows] == [
        ("group002", "running"),
        ("group001", "running"),
    ]

    # The form shows the filter it applied, so a search narrows it further.
    expect(filters.get_by_label("Running", exact=True)).to_be_checked()
    filters.get_by_label("Name or data query contains").fill("group002")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]search=group002(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]status=running(&|$)"))
    expect(names).to_have_text(["group002"])

    got, content = download(page, page.get_by_role("link", name="CSV", exact=True))
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert [row["Group"] for row in rows] == ["group002"]


# --- 3. Refresh in place -------------------------------------------------------------------


def test_refresh_now_updates_the_table_in_place_keeping_the_sort(page, world):
    page.goto(f"/steps/{world.step.pk}/?sort=-name")
    names = group_names(page)
    expect(names).to_have_text(["group002", "group001", "group000"])
    page.evaluate("window.__marker = 1")
    stamp = page.locator(".cm-refreshed")
    before = stamp.get_attribute("datetime")

    Group.objects.filter(step=world.step, name="group001").update(name="group001-renamed")
    set_status(world.step.groups.get(name="group002"), Status.FAILED, reason="disk full")

    page.get_by_role("button", name="Refresh now").click()
    expect(names).to_have_text(["group002", "group001-renamed", "group000"])
    expect(group_row(page, "group002")).to_contain_text("Failed")
    expect(stamp).not_to_have_attribute("datetime", before)
    # The same page, not a new one: the script's variable survived, and the answer was the
    # table alone (the page has still one heading and one filter form).
    assert page.evaluate("window.__marker") == 1
    expect(page).to_have_url(re.compile(rf"/steps/{world.step.pk}/\?sort=-name$"))
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.get_by_role("form", name="Filter groups")).to_have_count(1)
    expect(page.locator(".cm-refresh")).not_to_have_class(re.compile(r"\bcm-stale\b"))

    # Leaving and coming back shows the whole page again, not the table the refresh fetched
    # from the same URL (the browser's cache must tell the two answers apart).
    group_row(page, "group000").get_by_role("link", name="group000", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/groups/{world.failed_group.pk}/$"))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/steps/{world.step.pk}/\?sort=-name$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Step {world.step.name}")
    expect(names).to_have_text(["group002", "group001-renamed", "group000"])


# --- 4. Acknowledge an alarm ---------------------------------------------------------------


def test_a_shifter_acknowledges_an_alarm_after_looking_at_its_plot(page, log_in, world, shifter):
    checks = rules.check_counts(world.failed_group)
    assert checks["error"] == 0 and checks["warning"] == 1
    counts = [str(checks[k]) for k in ("error", "warning", "undefined", "clean")]

    log_in(shifter)
    page.goto(f"/groups/{world.failed_group.pk}/")
    summary = "{} error, {} warning, {} undefined, {} clean".format(*counts)
    page.get_by_role("link", name=summary, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/groups/{world.failed_group.pk}/alarms/$"))
    expect(page.locator("table.cm-checks tbody td")).to_have_text(counts)

    page.get_by_role("link", name="workflow-failure-fraction", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/alarms/{world.alarm.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Alarm workflow-failure-fraction")
    plot = page.get_by_role("img", name="Plot behind alarm workflow-failure-fraction")
    expect(plot).to_have_js_property("complete", True)
    expect(plot).not_to_have_js_property("naturalWidth", 0)
    reviewed = page.locator(".cm-reviewed")
    expect(reviewed).to_have_text("not yet")

    button = page.get_by_role("button", name="Acknowledge (reviewed)")
    asked = []

    def answer(accept: bool):
        def handle(dialog):
            asked.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    # Thinking better of it changes nothing ...
    page.once("dialog", answer(accept=False))
    button.click()
    assert asked == ["Mark this alarm reviewed?"]
    expect(reviewed).to_have_text("not yet")
    # ... saying yes records who.
    page.once("dialog", answer(accept=True))
    button.click()
    expect(reviewed).to_contain_text(f"by {shifter.username} at ")
    expect(page.locator(".cm-message-success")).to_have_text(
        "Alarm workflow-failure-fraction acknowledged."
    )
    expect(button).to_have_count(0)
    assert len(asked) == 2
    alarm = Alarm.objects.get(pk=world.alarm.pk)
    assert alarm.acknowledged_by == shifter and alarm.acknowledged_at is not None


# --- 5. Download plots ---------------------------------------------------------------------


def test_the_alarm_plot_downloads_in_four_formats(page, world):
    page.goto(f"/alarms/{world.alarm.pk}/")
    figure = page.locator("figure.cm-plot")
    data = check_plot_downloads(page, figure, f"alarm-{world.alarm.pk}-workflow-failure-fraction")
    assert data["alarm"]["kind"] == "workflow-failure-fraction"
    assert data["alarm"]["value"] == 0.125


def test_the_step_progress_plot_downloads_in_four_formats(page, world):
    page.goto(f"/steps/{world.step.pk}/")
    figure = page.locator("figure.cm-plot").filter(has_text="Progress over time")
    data = check_plot_downloads(page, figure, f"step-{world.step.pk}-progress")
    assert data["kind"] == "progress"
    assert data["element"] == {"scope": "step", "id": world.step.pk, "path": world.step.path}


# --- 6. Act from a page --------------------------------------------------------------------


def test_an_operator_retries_a_group_after_confirming(page, log_in, world, operator_role):
    group = world.failed_group
    log_in(operator_role)
    page.goto(f"/groups/{group.pk}/")
    page.get_by_role("group", name="Actions").get_by_role("link", name="Retry…").click()

    expect(page).to_have_url(re.compile(rf"/act/group/{group.pk}/retry/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Retry group {group.path}?")
    expect(page.get_by_text("redoes only the failed quanta")).to_be_visible()
    page.get_by_label("Why (kept in the history)").fill("transient NFS error")
    page.get_by_role("button", name="Retry", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/groups/{group.pk}/$"))
    expect(page.locator(".cm-message-success")).to_have_text(
        f"{group.path}: attempt 2 requested; a worker submits it."
    )
    expect(page.locator(".cm-refresh-body").get_by_role("link", name="attempt_2")).to_be_visible()
    assert sorted(group.workflows.values_list("attempt", flat=True)) == [1, 2]
    group.refresh_from_db()
    assert group.status == Status.LAUNCH_REQUESTED


def test_people_without_the_operator_role_see_no_retry_button(
    page, log_in, world, operator, browser_problems
):
    group = world.failed_group
    page.goto(f"/groups/{group.pk}/")  # not logged in
    expect(page.get_by_role("heading", level=1)).to_contain_text("Group group000")
    expect(page.get_by_role("link", name="Retry…")).to_have_count(0)

    log_in(operator)  # a user, but without the role
    page.reload()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text(operator.username)
    expect(page.get_by_role("link", name="Retry…")).to_have_count(0)
    expect(page.get_by_role("group", name="Actions")).to_have_count(0)

    # Asking for the confirmation page anyway is refused.
    response = page.goto(f"/act/group/{group.pk}/retry/")
    assert response is not None and response.status == 403
    assert browser_problems.take() == [
        f"GET {page.url} answered 403",
    ]
    assert group.workflows.count() == 1
