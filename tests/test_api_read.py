"""The read API and the gen{X}Table endpoints: what they return, how they filter, sort and
page (as the pages do), who may read, where their links lead, and what they cost."""

import csv
import io
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group as Role
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.api.pagination import Pagination
from campaigns.models import Alarm, CampaignType, FailedQuantum, StatusChange
from campaigns.services import alarms
from campaigns.states import Status
from tests.builders import (
    make_campaign,
    make_group,
    make_job,
    make_production,
    make_step,
    make_workflow,
)
from tests.page_world import build_world, set_status

pytestmark = pytest.mark.django_db

LISTS = [
    "productions",
    "campaigns",
    "steps",
    "groups",
    "workflows",
    "jobs",
    "failed-quanta",
    "alarms",
    "history",
]


@pytest.fixture
def world():
    return build_world(3)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def shifter(django_user_model):
    user = django_user_model.objects.create_user("sam", password="shifter-pass-123")
    user.groups.add(Role.objects.get(name="shifter"))
    return user


@pytest.fixture
def api(shifter) -> APIClient:
    """A shifter's token: the least a reader needs."""
    return client_for(shifter)


def get(client, url: str, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.json() if response["Content-Type"].startswith("application/json") else response


def names(data) -> list[str]:
    return [row["name"] for row in data["results"]]


def local(url: str) -> str:
    """A link as the test client asks for it: path and query, without the host."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- Who may read --------------------------------------------------------------------------

ENDPOINTS = [f"/api/v1/{name}/" for name in LISTS] + [
    "/api/v1/tables/campaigns/",
    "/api/v1/tables/steps/?campaign={campaign}",
    "/api/v1/tables/groups/?step={step}",
    "/api/v1/tables/alarms/",
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_reading_needs_a_login_and_the_shifter_role(url, world, operator, shifter):
    url = url.format(campaign=world.campaign.pk, step=world.step.pk)
    assert client_for(None).get(url).status_code == 401
    assert client_for(operator).get(url).status_code == 403  # logged in, but no role
    assert client_for(shifter).get(url).status_code == 200


def test_operators_and_admins_read_too(operator, admin_user):
    operator.groups.add(Role.objects.get(name="operator"))
    for user in (operator, admin_user):
        assert client_for(user).get("/api/v1/groups/").status_code == 200


def test_the_browser_session_of_a_shifter_reads_the_api(client, shifter):
    client.force_login(shifter)
    assert client.get("/api/v1/campaigns/").status_code == 200


# --- Every level: fields and links ---------------------------------------------------------


def test_group_detail_has_status_counts_its_own_fields_and_links(api, world):
    group = world.failed_group
    data = get(api, f"/api/v1/groups/{group.pk}/")
    assert data["path"] == group.path and data["name"] == "group000"
    assert data["status"] == "reviewable" and data["status_reason"] == group.status_reason
    assert data["status_since"] and data["created_at"] and data["last_checked_at"] is None
    assert (data["quanta_expected"], data["quanta_succeeded"], data["quanta_failed"]) == (27, 21, 3)
    assert data["data_query"] == "detector IN (0, 1)" and data["data_id_count"] == 16
    assert data["output_collection"] == group.output_collection
    assert data["url"] == f"http://testserver/api/v1/groups/{group.pk}/"
    assert data["page"] == f"http://testserver/groups/{group.pk}/"
    assert data["step"] == f"http://testserver/api/v1/steps/{world.step.pk}/"
    assert data["workflows"] == f"http://testserver/api/v1/workflows/?group={group.pk}"
    assert local(data["history"]) == f"/api/v1/history/?level=group&id={group.pk}"


def test_every_level_has_its_own_fields(api, world):
    campaign = get(api, f"/api/v1/campaigns/{world.campaign.pk}/")
    assert campaign["input_collections"] == ["demo/raw"] and campaign["lsst_version"]
    assert campaign["data_query"] == "instrument = 'DemoCam'" and campaign["campaign_type"]
    production = get(api, local(campaign["production"]))
    assert production["campaign_type"] == "DataProc" and production["path"] == production["name"]
    step = get(api, f"/api/v1/steps/{world.step.pk}/")
    assert step["order"] == 1 and step["pipeline_subset"] == "step1" and step["wms"] == "local"
    workflow = get(api, f"/api/v1/workflows/{world.failed_attempt.pk}/")
    assert workflow["attempt"] == 1 and workflow["name"] == "attempt_1"
    assert workflow["wms"] == "local" and workflow["wms_id"] == f"run-{world.failed_group.pk}"
    assert workflow["output_run"] == world.failed_attempt.output_run
    assert workflow["path"] == f"{world.failed_group.path}/attempt_1"
    job = get(api, local(workflow["jobs"]))["results"][0]
    assert job["task_labels"] == ["isr"] and job["wall_seconds"] == 30.0
    assert job["path"] == f"{workflow['path']}/isr_0" and job["page"].endswith("#jobs")
    quantum = get(api, local(workflow["failed_quanta"]))["results"][0]
    assert quantum["task_label"] == "calibrate" and quantum["data_id"]["detector"] == 3
    assert quantum["flavor"] == "science" and quantum["rule"] == "mock-failure"


def test_step_lists_its_prerequisites(api, world):
    later = make_step(world.campaign, name="step2")
    later.prerequisites.add(world.step)
    data = get(api, f"/api/v1/steps/{later.pk}/")
    assert data["prerequisites"] == [f"http://testserver/api/v1/steps/{world.step.pk}/"]


def test_alarm_says_what_it_is_about_and_what_was_measured(api, world, shifter):
    alarms.acknowledge([world.alarm], user=shifter)
    data = get(api, f"/api/v1/alarms/{world.alarm.pk}/")
    assert data["severity"] == "warning" and data["kind"] == "workflow-failure-fraction"
    assert data["element"] == {
        "level": "workflow",
        "id": world.failed_attempt.pk,
        "path": world.failed_attempt.path,
        "url": f"http://testserver/api/v1/workflows/{world.failed_attempt.pk}/",
        "page": f"http://testserver/workflows/{world.failed_attempt.pk}/",
    }
    assert (data["variable"], data["algorithm"], data["value"]) == (
        "failure_fraction",
        "upper_limit",
        0.125,
    )
    assert (data["warning_limit"], data["error_limit"]) == (0.05, 0.2)
    assert data["details"]["plot"] == "bar" and data["opened_at"] and data["updated_at"]
    assert data["open"] is True and data["cleared_at"] is None
    assert data["acknowledged_by"] == "sam" and data["acknowledged_at"]
    assert data["page"] == f"http://testserver/alarms/{world.alarm.pk}/"


def test_history_lists_an_elements_changes_newest_first(api, world):
    group = world.failed_group
    data = get(api, "/api/v1/history/", level="group", id=group.pk)
    assert data["count"] == 1  # set_status writes no history; the creation does
    change = data["results"][0]
    assert change["from_status"] is None and change["to_status"] == "waiting"
    assert change["actor"] == "cm" and change["user"] is None
    assert change["reason"] == "created by a test"
    assert change["element"]["path"] == group.path and change["element"]["level"] == "group"


def test_history_of_a_person_s_move(api, world, admin_user):
    from campaigns.services.status import transition

    transition(world.failed_group, Status.ACCEPTED, user=admin_user, reason="looks fine")
    data = get(api, "/api/v1/history/", level="group", id=world.failed_group.pk, actor="person")
    change = data["results"][0]
    assert (change["from_status"], change["to_status"]) == ("reviewable", "accepted")
    assert change["user"] == change["actor"] == "ada" and change["reason"] == "looks fine"


def test_history_id_needs_a_level(api, world):
    response = api.get("/api/v1/history/", {"id": world.failed_group.pk})
    assert response.status_code == 400 and "level" in response.json()


def test_a_missing_object_is_not_found(api):
    assert api.get("/api/v1/groups/987654/").status_code == 404


def test_links_lead_from_the_production_down_to_the_failed_quanta_and_back(api, client, world):
    """Follow children links from the top; every link, parent and page resolves."""
    production = get(api, "/api/v1/productions/")["results"][0]
    campaign = get(api, local(production["campaigns"]))["results"][0]
    step = get(api, local(campaign["steps"]))["results"][0]
    group = next(g for g in get(api, local(step["groups"]))["results"] if g["name"] == "group000")
    workflow = get(api, local(group["workflows"]))["results"][0]
    for element, field, parent in [
        (campaign, "production", production),
        (step, "campaign", campaign),
        (group, "step", step),
        (workflow, "group", group),
    ]:
        assert get(api, local(element["url"]))["id"] == element["id"]
        assert element[field] == parent["url"]
        assert element["path"] == f"{parent['path']}/{element['name']}"
    for element in (production, campaign, step, group, workflow):
        assert client.get(local(element["page"])).status_code == 200, element["page"]
        assert get(api, local(element["history"]))["count"] >= 1
    for link in (workflow["jobs"], workflow["failed_quanta"], group["alarms"], campaign["alarms"]):
        assert get(api, local(link))["count"] >= 1, link
    alarm = get(api, local(group["alarms"]))["results"][0]
    assert client.get(local(alarm["page"])).status_code == 200
    assert client.get(local(alarm["plot"])).status_code == 200
    assert get(api, local(alarm["element"]["url"]))["id"] == workflow["id"]
    quantum = get(api, local(workflow["failed_quanta"]))["results"][0]
    assert client.get(local(quantum["page"])).status_code == 200
    assert get(api, local(quantum["url"]))["workflow"] == workflow["url"]


# --- Filters, ordering, pagination ---------------------------------------------------------


def page_rows(client, url: str, column: str, **params) -> list[str]:
    """The page's own answer, from its CSV export."""
    response = client.get(url, {"_export": "csv", **params})
    assert response.status_code == 200
    return [row[column] for row in csv.DictReader(io.StringIO(response.content.decode()))]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "reviewable"},
        {"status": ["running", "reviewable"]},
        {"search": "group002"},
        {"has_alarms": "true"},
        {"has_alarms": "false"},
        {"active": "true"},
    ],
)
def test_group_filters_mean_what_they_mean_on_the_step_page(api, client, world, params):
    step_page = reverse("monitoring:step", args=[world.step.pk])
    expected = page_rows(client, step_page, "Group", **params)
    assert names(get(api, "/api/v1/groups/", step=world.step.pk, **params)) == expected


def test_campaign_filters_mean_what_they_mean_on_the_overview(api, client, world):
    sim = make_campaign(make_production(campaign_type=CampaignType.objects.get(name="SimProc")))
    for params in (
        {"campaign_type": "SimProc"},
        {"campaign_type": "DataProc"},
        {"production": sim.production.name},
        {"since": "2020-01-01T00:00"},
        {"until": "2020-01-01T00:00"},
    ):
        expected = page_rows(client, "/", "Campaign", **params)
        assert names(get(api, "/api/v1/campaigns/", **params)) == expected, params


def test_filters_by_parent_id_on_every_level(api, world):
    other = build_world(1)
    assert names(get(api, "/api/v1/campaigns/", production_id=other.campaign.production_id)) == [
        other.campaign.name
    ]
    assert names(get(api, "/api/v1/steps/", campaign=other.campaign.pk)) == ["step1"]
    assert get(api, "/api/v1/workflows/", step=other.step.pk)["count"] == 1
    assert get(api, "/api/v1/workflows/", group=world.failed_group.pk)["count"] == 1
    assert get(api, "/api/v1/jobs/", workflow=world.failed_attempt.pk)["count"] == 3
    assert get(api, "/api/v1/failed-quanta/", workflow=other.failed_attempt.pk)["count"] == 3
    assert get(api, "/api/v1/alarms/", campaign=other.campaign.pk)["count"] == 1
    assert get(api, "/api/v1/alarms/", group=world.failed_group.pk)["count"] == 1


def test_job_failed_quantum_alarm_and_history_filters(api, world):
    workflow = world.failed_attempt
    make_job(workflow, name="calibrate_0", task_labels=["calibrate"], status=Status.FAILED)
    assert names(get(api, "/api/v1/jobs/", workflow=workflow.pk, task_label="calibrate")) == [
        "calibrate_0"
    ]
    assert names(get(api, "/api/v1/jobs/", workflow=workflow.pk, status="failed")) == [
        "calibrate_0"
    ]
    assert get(api, "/api/v1/failed-quanta/", flavor="science")["count"] == 3
    assert get(api, "/api/v1/failed-quanta/", error_type="MockAlgorithm")["count"] == 3
    assert get(api, "/api/v1/failed-quanta/", flavor="infrastructure")["count"] == 0
    Alarm.objects.filter(pk=world.alarm.pk).update(cleared_at="2026-01-01T00:00Z")
    assert get(api, "/api/v1/alarms/")["count"] == 1  # the API lists cleared alarms too
    assert get(api, "/api/v1/alarms/", open="true")["count"] == 0
    assert get(api, "/api/v1/alarms/", severity="warning", open="false")["count"] == 1
    assert get(api, "/api/v1/history/", level="job", to_status="waiting")["count"] == 9
    assert get(api, "/api/v1/history/", level="job", to_status="failed")["count"] == 1


def test_bad_filter_values_are_a_bad_request_naming_the_parameter(api, world):
    response = api.get("/api/v1/groups/", {"status": "sleeping"})
    assert response.status_code == 400 and list(response.json()) == ["status"]
    response = api.get("/api/v1/campaigns/", {"campaign_type": "NoSuchProc"})
    assert response.status_code == 400 and "campaign_type" in response.json()


def test_interval_times_are_taken_in_any_zone_and_refused_when_they_have_no_utc_value(api, world):
    # PostgreSQL refuses offsets past 15:59, which ISO 8601 allows: converted to UTC first.
    assert len(get(api, "/api/v1/campaigns/", until="9759-05-19T09:51:36-18:35")["results"]) == 1
    assert get(api, "/api/v1/campaigns/", since="9759-05-19T09:51:36+18:35")["count"] == 1
    response = api.get("/api/v1/campaigns/", {"until": "9999-12-31T23:00:00-05:00"})
    assert response.status_code == 400 and list(response.json()) == ["until"]


def test_ordering_on_a_few_fields(api, world):
    assert names(get(api, "/api/v1/groups/", ordering="-name")) == [
        "group002",
        "group001",
        "group000",
    ]
    by_status = names(get(api, "/api/v1/groups/", ordering="status"))
    assert by_status == ["group000", "group001", "group002"]  # reviewable < running, then id
    assert names(get(api, "/api/v1/groups/", ordering="data_query")) == by_status  # ignored


def test_lists_page_with_limit_and_offset(api, world):
    first = get(api, "/api/v1/jobs/", limit=4)
    assert first["count"] == 9 and len(first["results"]) == 4 and first["previous"] is None
    second = get(api, local(first["next"]))
    third = get(api, local(second["next"]))
    assert third["next"] is None and len(third["results"]) == 1
    seen = [j["id"] for page in (first, second, third) for j in page["results"]]
    assert len(set(seen)) == 9
    assert len(get(api, "/api/v1/jobs/", limit=100_000)["results"]) == 9  # at most 1000


def test_a_list_longer_than_the_count_limit_is_not_counted_but_still_pages(api, world, monkeypatch):
    monkeypatch.setattr(Pagination, "count_limit", 5)
    first = get(api, "/api/v1/jobs/", limit=4)
    assert first["count"] is None and len(first["results"]) == 4 and first["next"]
    filtered = get(api, "/api/v1/jobs/", workflow=world.failed_attempt.pk, limit=2)
    assert filtered["count"] == 3  # narrowed by a filter, it is counted again
    last = get(api, "/api/v1/jobs/", limit=4, offset=8)
    assert last["count"] is None and last["next"] is None and len(last["results"]) == 1
    response = api.get("/api/v1/tables/groups/", {"step": world.step.pk, "format": "csv"})
    assert response["X-Total-Count"] == "3"


def test_a_walk_in_id_order_reaches_every_row_whatever_its_depth(api, world):
    seen, page = [], get(api, "/api/v1/jobs/", after=0, limit=4)
    while True:
        assert page["previous"] is None and page["count"] == 9
        seen += [job["id"] for job in page["results"]]
        if not page["next"]:
            break
        assert "after=" in page["next"] and "offset=" not in page["next"]
        page = get(api, local(page["next"]))
    assert seen == sorted(seen) and len(set(seen)) == 9
    some = sorted(seen)[3]
    assert [j["id"] for j in get(api, "/api/v1/jobs/", after=some)["results"]] == sorted(seen)[4:]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"offset": 50_001}, "offset"),
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"after": "0", "ordering": "-name"}, "after"),
    ],
)
def test_paging_beyond_its_limits_is_a_400_that_says_what_to_do(api, world, params, field):
    response = api.get("/api/v1/jobs/", params)
    assert response.status_code == 400 and list(response.json()) == [field]
    if field == "offset":
        assert "?after=" in response.json()["offset"][0]


# --- gen{X}Table ---------------------------------------------------------------------------


def table(client, name: str, **params) -> list[dict]:
    return get(client, f"/api/v1/tables/{name}/", **params)["results"]


def table_csv(client, name: str, **params) -> list[dict]:
    response = client.get(f"/api/v1/tables/{name}/", {"format": "csv", **params})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def page_csv(client, url: str, **params) -> list[dict]:
    response = client.get(url, {"_export": "csv", **params})
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def as_text(rows: list[dict]) -> list[dict]:
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


#: Columns the pages' exports leave unfilled (see test_page_exports_fill_the_counted_columns).
COUNTED = {
    "Groups",
    "Data IDs done / total",
    "Alarms",
    "Current attempt",
    "Started (UTC)",
    "Last update (UTC)",
    "Datasets produced",
}


def tables_and_pages(world) -> list[tuple[str, dict, str]]:
    return [
        ("campaigns", {}, "/"),
        ("steps", {"campaign": world.campaign.pk}, f"/campaigns/{world.campaign.pk}/"),
        ("groups", {"step": world.step.pk}, f"/steps/{world.step.pk}/"),
        ("alarms", {}, "/alarms/"),
    ]


def without(rows: list[dict], columns: set[str]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def test_tables_have_the_pages_rows_and_columns_in_json_and_csv(api, client, world):
    build_world(2)  # more rows around, which the parent filters leave out
    for name, params, page in tables_and_pages(world):
        expected = page_csv(client, page)
        rows = table_csv(api, name, **params)
        assert list(rows[0]) == list(expected[0]), name  # the same columns, in order
        assert without(rows, COUNTED) == without(expected, COUNTED), name
        assert as_text(table(api, name, **params)) == rows, name


def test_tables_fill_the_counted_columns_for_every_row(api, world):
    (campaign,) = [r for r in table(api, "campaigns") if r["Campaign"] == world.campaign.name]
    assert campaign["Groups"] == "2 running, 1 reviewable" and campaign["Alarms"] == 1
    assert campaign["Data IDs done / total"] == "0 / 48" and campaign["Steps"] == 1
    (step,) = table(api, "steps", campaign=world.campaign.pk)
    assert step["Groups"] == "2 running, 1 reviewable" and step["Data IDs done / total"] == "0 / 48"
    group = table(api, "groups", step=world.step.pk)[0]
    assert group["Group"] == "group000" and group["Current attempt"] == 1
    assert group["Datasets produced"] == 13 and group["Alarms"] == 1
    assert group["Quanta done / failed / total"] == "21/3/27" and group["Status"] == "reviewable"


def test_page_exports_fill_the_counted_columns(api, client, world):
    for name, params, page in tables_and_pages(world):
        assert table_csv(api, name, **params) == page_csv(client, page), name


def test_group_table_takes_the_step_pages_filters_and_sort(api, client, world):
    step_page = f"/steps/{world.step.pk}/"
    for params in ({"status": "running"}, {"has_alarms": "true"}, {"sort": "-name"}):
        expected = [r["Group"] for r in page_csv(client, step_page, **params)]
        assert [r["Group"] for r in table(api, "groups", step=world.step.pk, **params)] == expected


def test_campaign_table_takes_the_overviews_filters(api, client, world):
    make_campaign(make_production(campaign_type=CampaignType.objects.get(name="SimProc")))
    for params in ({"campaign_type": "SimProc"}, {"campaign_type": "DataProc"}, {}):
        expected = [r["Campaign"] for r in page_csv(client, "/", **params)]
        assert [r["Campaign"] for r in table(api, "campaigns", **params)] == expected


def test_alarm_table_shows_open_alarms_unless_asked(api, world):
    Alarm.objects.filter(pk=world.alarm.pk).update(cleared_at="2026-01-01T00:00Z")
    assert table(api, "alarms") == []
    assert [r["Alarm"] for r in table(api, "alarms", open="")] == ["workflow-failure-fraction"]
    assert len(table(api, "alarms", open="false")) == 1


def test_table_pages_in_json_and_slices_in_csv(api, world):
    data = get(api, "/api/v1/tables/groups/", step=world.step.pk, limit=2)
    assert data["count"] == 3 and len(data["results"]) == 2 and data["next"]
    assert [r["Group"] for r in get(api, local(data["next"]))["results"]] == ["group002"]
    response = api.get("/api/v1/tables/groups/", {"step": world.step.pk, "format": "csv"})
    assert response["X-Total-Count"] == "3" and response.content.decode().count("\r\n") == 4
    response = api.get(
        "/api/v1/tables/groups/", {"step": world.step.pk, "format": "csv", "limit": 1, "offset": 2}
    )
    assert response["X-Total-Count"] == "3" and "group002" in response.content.decode()
    assert "group000" not in response.content.decode()


def test_tables_answer_csv_to_an_accept_header(api, world):
    response = api.get("/api/v1/tables/campaigns/", HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().startswith("Production,Type,Campaign,Status")
    assert 'filename="campaigns.csv"' in response["Content-Disposition"]


@pytest.mark.parametrize("name, parameter", [("steps", "campaign"), ("groups", "step")])
def test_a_table_needs_its_parent(api, world, name, parameter):
    for params in ({}, {"format": "csv"}):
        response = api.get(f"/api/v1/tables/{name}/", params)
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        assert response.json() == {parameter: ["This parameter is required."]}
    assert api.get(f"/api/v1/tables/{name}/", {parameter: "x"}).status_code == 400
    assert api.get(f"/api/v1/tables/{name}/", {parameter: 987654}).status_code == 404


# --- Cost: the same queries for 5 rows as for 50 -------------------------------------------


def grow(rows: int, *, campaign=None, step=None):
    """``rows`` more of everything: productions (each with a campaign), steps in one
    campaign, groups in one step, each group with an attempt, a job, a failed quantum and an
    open alarm; one more step waits for the first."""
    for _ in range(rows):
        make_campaign()
        group = make_group(step, data_id_count=4)
        workflow = make_workflow(group, wms_id=f"run-{group.pk}")
        make_job(workflow)
        FailedQuantum.objects.create(workflow=workflow, task_label="isr", data_id={"n": group.pk})
        alarms.raise_alarm(workflow, "workflow-failure-fraction", "error", "too many", value=0.5)
    for _ in range(rows):
        make_step(campaign).prerequisites.add(step.campaign.steps.first())


LIST_URLS = [
    *(f"/api/v1/{name}/?limit=100" for name in LISTS if name != "history"),
    "/api/v1/history/?level=workflow&limit=100",
    "/api/v1/tables/campaigns/?limit=100",
    "/api/v1/tables/steps/?campaign={campaign}&limit=100",
    "/api/v1/tables/groups/?step={step}&limit=100",
    "/api/v1/tables/alarms/?limit=100",
    "/api/v1/tables/groups/?step={step}&format=csv",  # every row
]


def queries_for(client, url: str) -> tuple[int, int]:
    client.get(url)  # warm caches (content types) so only the request's own queries count
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    rows = response.json()["results"] if "csv" not in url else response.content.count(b"\n") - 1
    return len(captured), len(rows) if isinstance(rows, list) else rows


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_queries_stay_the_same_for_5_and_50_rows(api, url):
    campaign = make_campaign()
    step = make_step(campaign)
    set_status(step, Status.RUNNING)
    url = url.format(campaign=campaign.pk, step=step.pk)
    grow(5, campaign=campaign, step=step)
    small, small_rows = queries_for(api, url)
    grow(45, campaign=campaign, step=step)
    large, large_rows = queries_for(api, url)
    assert 5 <= small_rows <= 7 and 50 <= large_rows <= 52  # parents made along the way
    assert large == small, f"{url}: {small} queries for {small_rows} rows, {large} for {large_rows}"


def test_history_is_recorded_for_every_level(world):
    # The query-count test reads history per level; each level has its own rows.
    levels = set(StatusChange.objects.values_list("content_type__model", flat=True))
    assert levels == {"production", "campaign", "step", "group", "workflow", "job"}
