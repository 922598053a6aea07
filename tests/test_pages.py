"""The shifter pages: what they show, how they filter, sort and export, and what they cost."""

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Alarm, CampaignType, Workflow
from campaigns.states import Status
from tests.builders import make_campaign, make_group, make_production
from tests.page_world import build_world, set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cm_dirs, settings):
    return build_world(3, archive_dir=settings.CM_PANDA_ARCHIVE_DIR)


def get(client, url: str, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def queries_for(client, url: str) -> int:
    client.get(url)  # warm caches (content types, sessions) so only the page's own queries count
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# --- The top-level status ------------------------------------------------------------------


def test_overview_counts_campaigns_groups_data_ids_and_quanta(client, world):
    page = get(client, "/")
    assert world.campaign.name in page and world.campaign.production.name in page
    assert "1 reviewable" in page and "2 running" in page
    assert "0 / 48" in page  # data IDs done / total: 3 groups of 16, none finished
    assert reverse("monitoring:campaign", args=[world.campaign.pk]) in page


def test_overview_filters_by_campaign_type(client, world):
    other = make_production(campaign_type=CampaignType.objects.get(name="SimProc"))
    sim = make_campaign(other)
    page = get(client, "/", campaign_type="SimProc")
    assert sim.name in page and world.campaign.name not in page


def test_overview_time_interval_selects_campaigns_active_in_it(client, world):
    finished = make_campaign()
    type(finished).objects.filter(pk=finished.pk).update(
        status=Status.ACCEPTED, finished_at="2026-01-02T00:00Z", created_at="2026-01-01T00:00Z"
    )
    page = get(client, "/", since="2026-06-01T00:00")
    assert world.campaign.name in page and finished.name not in page
    page = get(client, "/", since="2025-12-31T00:00", until="2026-01-01T12:00")
    assert finished.name in page and world.campaign.name not in page


def test_overview_says_how_to_start_when_empty(client):
    assert "cm create production" in get(client, "/")


# --- Drill-downs ---------------------------------------------------------------------------


def test_campaign_page_lists_steps_with_progress_and_open_alarms(client, world):
    page = get(client, reverse("monitoring:campaign", args=[world.campaign.pk]))
    assert reverse("monitoring:step", args=[world.step.pk]) in page
    assert "1 reviewable" in page and "failure-fraction" in page
    assert (
        reverse("monitoring:plot", args=["progress", "campaign", world.campaign.pk, "svg"]) in page
    )


def test_step_page_shows_each_group_with_current_attempt_and_alarms(client, world):
    page = get(client, reverse("monitoring:step", args=[world.step.pk]))
    workflow_url = reverse("monitoring:workflow", args=[world.failed_attempt.pk])
    assert workflow_url in page and "attempt_1" in page
    assert "21 / 3 / 27" in page  # quanta done / failed / total
    assert "1 warning" in page  # the open alarm, linking to the group's alarm page
    assert "13" in page  # datasets produced
    assert "detector IN (0, 1)" in page  # the data query


def test_step_page_filters_with_the_shared_filterset(client, world):
    url = reverse("monitoring:step", args=[world.step.pk])
    page = get(client, url, status="reviewable")
    assert "group000" in page and "group001" not in page
    page = get(client, url, search="group002")
    assert "group002" in page and "group000" not in page
    page = get(client, url, has_alarms="true")
    assert "group000" in page and "group001" not in page


def test_step_page_sorts(client, world):
    page = get(client, reverse("monitoring:step", args=[world.step.pk]), sort="-name")
    assert page.index("group002") < page.index("group000")


def test_step_table_exports_the_same_rows_as_csv_and_json(client, world):
    url = reverse("monitoring:step", args=[world.step.pk])
    response = client.get(url, {"_export": "csv", "status": "running"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["Group"] for r in rows] == ["group001", "group002"]
    assert rows[0]["Status"] == "running" and "<" not in response.content.decode()
    data = json.loads(client.get(url, {"_export": "json"}).content)
    assert {row["Group"] for row in data} == {"group000", "group001", "group002"}


def test_tables_refresh_in_place_from_a_partial_response(client, world):
    url = reverse("monitoring:step", args=[world.step.pk])
    partial = client.get(url, headers={"X-CM-Partial": "1"}).content.decode()
    assert "<table" in partial and "group000" in partial and "<nav" not in partial


def test_group_page_lists_attempts_and_alarm_counts(client, world):
    page = get(client, reverse("monitoring:group", args=[world.failed_group.pk]))
    assert "attempt_1" in page and reverse("monitoring:failures", args=[world.failed_attempt.pk])
    assert "1 warning" in page
    assert "for <strong>2" in page  # how long in its state ...
    assert "attempt_1 finished with failures" in page  # ... and why


def test_workflow_page_is_a_details_for_run_page(client, world):
    page = get(client, reverse("monitoring:workflow", args=[world.failed_attempt.pk]))
    assert f"run-{world.failed_group.pk}" in page  # WMS id
    assert "w_2026_47" in page  # lsst version
    assert "calexp" in page and "ExposureF" in page and "26.0" in page  # data products, size
    assert "calibrate_3.log" in page  # logs from the PanDA archive
    assert "MockAlgorithmError" in page  # failed quanta summarised by error type
    assert "not yet validated" in page


def test_failures_page_lists_every_failed_quantum_with_its_error(client, world):
    page = get(client, reverse("monitoring:failures", args=[world.failed_attempt.pk]))
    for detector in (3, 7, 11):
        assert f"detector={detector}" in page
    assert page.count("Simulated failure") == 3 and "science" in page


def test_workflow_file_serves_only_listed_archive_files(client, world):
    url = reverse(
        "monitoring:workflow-file",
        args=[world.failed_attempt.pk, world.failed_attempt.archived_files[0]],
    )
    response = client.get(url)
    assert response.status_code == 200 and b"Simulated failure" in b"".join(
        response.streaming_content
    )
    other = reverse("monitoring:workflow-file", args=[world.failed_attempt.pk, "../../etc/passwd"])
    assert client.get(other).status_code == 404


def test_every_non_final_element_shows_how_long_and_why(client, world):
    for route, element in (
        ("monitoring:campaign", world.campaign),
        ("monitoring:step", world.step),
        ("monitoring:group", world.failed_group),
        ("monitoring:workflow", world.failed_attempt),
    ):
        page = get(client, reverse(route, args=[element.pk]))
        assert "for <strong>2" in page and element.status_reason in page


# --- Alarms --------------------------------------------------------------------------------


def test_group_alarm_page_counts_checks_by_severity(client, world):
    page = get(client, reverse("monitoring:group-alarms", args=[world.failed_group.pk]))
    assert "failure-fraction" in page and "0.125" in page and "0.05 / 0.2" in page
    assert 'class="cm-sev-warning">1<' in page


def test_alarm_page_shows_measurement_plot_and_downloads(client, world):
    page = get(client, reverse("monitoring:alarm", args=[world.alarm.pk]))
    assert "upper_limit" in page and "failure_fraction" in page
    for fmt in ("png", "svg", "pdf", "json"):
        assert reverse("monitoring:alarm-plot", args=[world.alarm.pk, fmt]) in page


def test_alarm_list_defaults_to_open_alarms(client, world):
    Alarm.objects.filter(pk=world.alarm.pk).update(cleared_at="2026-01-01T00:00Z")
    assert "failure-fraction" not in get(client, reverse("monitoring:alarms"))
    assert "failure-fraction" in get(client, reverse("monitoring:alarms"), open="")


def test_acknowledge_needs_the_shifter_role_and_records_who(client, world, operator, shifter):
    url = reverse("monitoring:alarm-acknowledge", args=[world.alarm.pk])
    client.force_login(operator)  # a user without a role
    assert "Acknowledge" not in get(client, reverse("monitoring:alarm", args=[world.alarm.pk]))
    assert client.post(url).status_code == 403
    client.force_login(shifter)
    assert "Acknowledge" in get(client, reverse("monitoring:alarm", args=[world.alarm.pk]))
    assert client.post(url).status_code == 302
    world.alarm.refresh_from_db()
    assert world.alarm.acknowledged_by == shifter and world.alarm.acknowledged_at
    assert client.get(url).status_code == 405


# --- Actions -------------------------------------------------------------------------------


def act_url(level, element, action):
    return reverse("monitoring:act", args=[level, element.pk, action])


def test_people_without_the_operator_role_see_no_buttons_and_cannot_act(client, world, shifter):
    group_url = reverse("monitoring:group", args=[world.failed_group.pk])
    assert "Retry…" not in get(client, group_url)
    client.force_login(shifter)
    assert "Retry…" not in get(client, group_url)
    url = act_url("group", world.failed_group, "retry")
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "x"}).status_code == 403
    assert world.failed_group.workflows.count() == 1


def test_operator_retries_a_reviewable_group_after_confirming(client, world, operator_role):
    client.force_login(operator_role)
    assert "Retry…" in get(client, reverse("monitoring:group", args=[world.failed_group.pk]))
    url = act_url("group", world.failed_group, "retry")
    assert "Why (kept in the history)" in get(client, url)
    response = client.post(url, {"reason": "transient NFS error"})
    assert response.status_code == 302
    assert world.failed_group.workflows.count() == 2
    world.failed_group.refresh_from_db()
    assert world.failed_group.status == Status.LAUNCH_REQUESTED
    assert Workflow.objects.get(pk=world.failed_attempt.pk).status == Status.SUPERSEDED


def test_an_action_needs_a_reason(client, world, operator_role):
    client.force_login(operator_role)
    client.post(act_url("group", world.failed_group, "retry"), {"reason": " "})
    assert world.failed_group.workflows.count() == 1


def test_an_illegal_action_changes_nothing_and_says_why(client, world, operator_role):
    client.force_login(operator_role)
    running = world.step.groups.get(name="group001")
    response = client.post(act_url("group", running, "retry"), {"reason": "x"}, follow=True)
    assert "Retry refused" in response.content.decode()
    assert running.workflows.count() == 1


def test_operator_validates_a_reviewable_group(client, world, operator_role):
    client.force_login(operator_role)
    client.post(act_url("group", world.failed_group, "validate"), {"reason": "3 failures accepted"})
    world.failed_group.refresh_from_db()
    assert world.failed_group.status == Status.ACCEPTED


def test_invalidate_confirmation_shows_the_dry_run(client, world, operator_role):
    client.force_login(operator_role)
    page = get(client, act_url("group", world.failed_group, "invalidate"))
    assert f"would reject group {world.failed_group.path} (was reviewable)" in page
    world.failed_group.refresh_from_db()
    assert world.failed_group.status == Status.REVIEWABLE


def test_launch_on_a_ready_group(client, operator_role):
    group = make_group()
    set_status(group, Status.READY)
    client.force_login(operator_role)
    assert "Launch…" in get(client, reverse("monitoring:group", args=[group.pk]))
    client.post(act_url("group", group, "launch"), {"reason": "go"})
    assert group.workflows.get().attempt == 1


def test_unknown_actions_and_levels_are_not_found(client, world, operator_role):
    client.force_login(operator_role)
    assert client.get(act_url("group", world.failed_group, "explode")).status_code == 404
    assert client.get(act_url("step", world.step, "retry")).status_code == 404


# --- Cost: the same queries whatever the size of the data ----------------------------------


PAGES = [
    ("overview", lambda w: reverse("monitoring:overview")),
    ("overview, type filter", lambda w: reverse("monitoring:overview") + "?campaign_type=DataProc"),
    ("campaign", lambda w: reverse("monitoring:campaign", args=[w.campaign.pk])),
    ("step", lambda w: reverse("monitoring:step", args=[w.step.pk])),
    ("step, filtered", lambda w: reverse("monitoring:step", args=[w.step.pk]) + "?status=running"),
    ("group", lambda w: reverse("monitoring:group", args=[w.failed_group.pk])),
    ("workflow", lambda w: reverse("monitoring:workflow", args=[w.failed_attempt.pk])),
    ("failures", lambda w: reverse("monitoring:failures", args=[w.failed_attempt.pk])),
    ("alarms", lambda w: reverse("monitoring:alarms")),
    ("group alarms", lambda w: reverse("monitoring:group-alarms", args=[w.failed_group.pk])),
    ("alarm", lambda w: reverse("monitoring:alarm", args=[w.alarm.pk])),
]


@pytest.mark.parametrize("name, url_of", PAGES, ids=[p[0] for p in PAGES])
def test_page_queries_stay_the_same_as_the_data_grows_tenfold(client, cm_dirs, name, url_of):
    small = build_world(2)
    before = queries_for(client, url_of(small))
    # Ten times the data: more groups in the same step, and more campaigns around it.
    for index in range(18):
        make_group(small.step, name=f"more{index:03d}", data_id_count=4)
    for _ in range(9):
        build_world(2)
    assert queries_for(client, url_of(small)) == before


def test_buttons_offer_only_the_moves_the_status_allows(client, world, operator_role):
    client.force_login(operator_role)
    reviewable = get(client, reverse("monitoring:group", args=[world.failed_group.pk]))
    assert all(f"{a}…" in reviewable for a in ("Retry", "Validate", "Invalidate"))
    assert "Launch…" not in reviewable
    running = world.step.groups.get(name="group001")
    page = get(client, reverse("monitoring:group", args=[running.pk]))
    assert not any(f"{a}…" in page for a in ("Retry", "Validate", "Invalidate", "Launch"))


def test_workflow_page_links_its_archived_submit_config(client, world):
    from campaigns.archive import archive

    raw = b"pipelineYaml: demo.yaml\n"
    config, _ = archive(raw, kind="bps_submit", source_name="submit/g.yaml")
    Workflow.objects.filter(pk=world.failed_attempt.pk).update(submit_config=config)
    page = get(client, reverse("monitoring:workflow", args=[world.failed_attempt.pk]))
    url = reverse("monitoring:archived-config", args=[config.pk])
    assert url in page
    assert client.get(url).content == raw


def test_the_pages_styles_and_script_are_served_without_debug(client, settings):
    settings.DEBUG = False  # as in production and in scripts/demo's runserver
    for path in ("/static/monitoring/cm.css", "/static/monitoring/cm.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)


def test_only_admins_may_purge_from_a_page(client, world, operator_role, admin_user):
    url = act_url("group", world.failed_group, "invalidate")
    client.force_login(operator_role)
    assert 'name="purge"' not in get(client, url)
    assert client.post(url, {"reason": "bad", "purge": "on"}).status_code == 403
    world.failed_group.refresh_from_db()
    assert world.failed_group.status == Status.REVIEWABLE
    client.force_login(admin_user)
    assert 'name="purge"' in get(client, url)
