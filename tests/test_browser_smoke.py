"""The pages in a real browser (Chromium through Playwright, see tests/browser.py): they load
without errors, their links and sort headers do what they say, the admin lets a superuser in."""

import re

from playwright.sync_api import Page, expect

from tests.builders import make_campaign, make_production

# A sortable header's name ends in the sort arrow its style sheet adds ("Campaign ▲").
CAMPAIGN = re.compile(r"^Campaign\b")


def in_order(*names: str) -> list[re.Pattern]:
    return [re.compile(rf"\bcamp-{name}\b") for name in names]


def campaign_table(page: Page):
    """The overview's campaign table (the one with a "Campaign" column)."""
    return page.get_by_role("table").filter(has=page.get_by_role("columnheader", name=CAMPAIGN))


def test_overview_lists_the_campaign_and_links_to_the_states_page(page):
    campaign = make_campaign()
    page.goto("/")
    expect(page.get_by_role("heading", name="Processing status", level=1)).to_be_visible()
    rows = campaign_table(page).locator("tbody tr")
    expect(rows.filter(has_text=campaign.name)).to_have_count(1)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="States").click()
    expect(page).to_have_url(re.compile(r"/states/$"))
    expect(page.get_by_role("heading", name="Statuses and transitions", level=1)).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(["Who may move", "Statuses"])


def test_sorting_the_overview_by_campaign_name_reorders_the_rows(page):
    # One production each, so the default order (production, then name) is not the name order.
    for production, name in (("p1", "camp-bravo"), ("p2", "camp-alpha"), ("p3", "camp-charlie")):
        make_campaign(make_production(name=production), name=name)
    page.goto("/")
    rows = campaign_table(page).locator("tbody tr")
    expect(rows).to_have_text(in_order("bravo", "alpha", "charlie"))

    # The default order counts as ascending by name, so the header's first click turns it round.
    header = campaign_table(page).get_by_role("link", name=CAMPAIGN)
    header.click()
    expect(page).to_have_url(re.compile(r"\?sort=-name$"))
    expect(rows).to_have_text(in_order("charlie", "bravo", "alpha"))

    header.click()
    expect(page).to_have_url(re.compile(r"\?sort=name$"))
    expect(rows).to_have_text(in_order("alpha", "bravo", "charlie"))


def test_a_superuser_logged_in_by_cookie_gets_the_admin(page, admin_user, log_in):
    log_in(admin_user)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/$"))  # not redirected to the login form
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text("ada")
    campaigns = page.locator("#campaigns-campaign").get_by_role("link", name="Campaigns")
    expect(campaigns).to_be_visible()


def test_a_visitor_without_a_session_is_sent_to_the_admin_login(page):
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.get_by_label("Password")).to_be_visible()
