"""The admin: pages render, lists stay cheap, actions use the services, archives stay put."""

from itertools import count

import pytest
from django.contrib import messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.admin.badges import status_badge
from campaigns.models import (
    ArchivedConfig,
    CampaignType,
    Group,
    ImmutableError,
    Job,
    StatusChange,
    TaskLabelCount,
    Workflow,
)
from campaigns.services.status import transition
from campaigns.states import Status
from tests.builders import (
    make_campaign,
    make_group,
    make_job,
    make_production,
    make_step,
    make_task_count,
    make_workflow,
)

_serial = count(1)


def make_campaign_type():
    return CampaignType.objects.create(name=f"Kind{next(_serial)}")


def make_archived_config(content="a: 1"):
    n = next(_serial)
    return ArchivedConfig.objects.create(
        sha256=f"{n:064x}", kind="production", source_name="x.yaml", size=3, content=content
    )


def make_status_change():
    make_group()
    return StatusChange.objects.latest("id")


BUILDERS = {
    "campaigntype": make_campaign_type,
    "production": make_production,
    "campaign": make_campaign,
    "step": make_step,
    "group": make_group,
    "workflow": make_workflow,
    "job": make_job,
    "tasklabelcount": make_task_count,
    "archivedconfig": make_archived_config,
    "statuschange": make_status_change,
}


def changelist(model_name: str) -> str:
    return reverse(f"admin:campaigns_{model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:campaigns_{obj._meta.model_name}_change", args=[obj.pk])


def system_moves(element, *statuses):
    """Move an element as cm itself would (the WMS poll, the rollup)."""
    for status in statuses:
        transition(element, status, user=None, reason="moved by a test")


def queries_for(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def shown(response) -> set:
    return set(response.context["cl"].result_list)


# --- Every page -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", BUILDERS)
def test_changelist_and_change_page_render(admin_client, model_name):
    obj = BUILDERS[model_name]()

    assert admin_client.get(changelist(model_name)).status_code == 200
    assert admin_client.get(change(obj)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model_name", BUILDERS)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, model_name):
    for _ in range(2):
        BUILDERS[model_name]()
    admin_client.get(changelist(model_name))  # warm the content-type and session caches
    few = queries_for(admin_client, changelist(model_name))
    for _ in range(10):
        BUILDERS[model_name]()

    many = queries_for(admin_client, changelist(model_name))

    assert len(many) == len(few), "\n".join(many)


CHILDREN = {
    "production": (make_production, lambda p: make_campaign(p)),
    "campaign": (make_campaign, lambda c: make_step(c)),
    "step": (make_step, lambda s: make_group(s)),
    "group": (make_group, lambda g: make_workflow(g)),
    "workflow": (make_workflow, lambda w: make_task_count(w)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("level", CHILDREN)
def test_change_page_query_count_does_not_grow_with_children(admin_client, level):
    make_parent, make_child = CHILDREN[level]
    parent = make_parent()
    for _ in range(2):
        make_child(parent)
    admin_client.get(change(parent))
    few = queries_for(admin_client, change(parent))
    for _ in range(10):
        make_child(parent)

    many = queries_for(admin_client, change(parent))

    assert len(many) == len(few), "\n".join(many)


# --- Badges, links, search and filters -----------------------------------------


def test_status_badge_carries_the_status_colour_class():
    html = status_badge(Status.FAILED)

    assert 'class="badge text-bg-danger"' in html
    assert "Failed" in html
    assert status_badge("") == "—"


@pytest.mark.django_db
def test_changelist_shows_status_badges(admin_client):
    system_moves(make_group(), Status.READY, Status.RUNNING)
    make_group()

    content = admin_client.get(changelist("group")).content.decode()

    assert "text-bg-primary" in content  # running
    assert "text-bg-secondary" in content  # waiting


@pytest.mark.django_db
def test_group_search_finds_by_name_and_campaign(admin_client):
    wanted = make_group(name="wanted")
    other = make_group(name="other")

    by_name = admin_client.get(changelist("group"), {"q": "wanted"})
    by_campaign = admin_client.get(changelist("group"), {"q": other.step.campaign.name})

    assert shown(by_name) == {wanted}
    assert shown(by_campaign) == {other}


@pytest.mark.django_db
def test_group_filters_by_status_step_and_campaign(admin_client):
    step = make_step()
    running, waiting = make_group(step), make_group(step)
    elsewhere = make_group()
    system_moves(running, Status.READY, Status.RUNNING)

    by_status = admin_client.get(changelist("group"), {"status__exact": "running"})
    by_step = admin_client.get(changelist("group"), {"step__id__exact": step.pk})
    by_campaign = admin_client.get(
        changelist("group"), {"step__campaign__id__exact": elsewhere.step.campaign_id}
    )

    assert shown(by_status) == {running}
    assert shown(by_step) == {running, waiting}
    assert step.path in by_step.content.decode()  # the parent filter names its choice
    assert shown(by_campaign) == {elsewhere}


@pytest.mark.django_db
def test_workflow_page_links_to_its_jobs_not_an_inline(admin_client):
    workflow = make_workflow()
    job = make_job(workflow)
    make_job()  # another workflow's

    page = admin_client.get(change(workflow)).content.decode()
    jobs = admin_client.get(changelist("job"), {"workflow__id__exact": workflow.pk})

    assert f"{changelist('job')}?workflow__id__exact={workflow.pk}" in page
    assert job.name not in page
    assert shown(jobs) == {job}


@pytest.mark.django_db
def test_element_page_shows_status_history_newest_first(admin_client, admin_user):
    group = make_group()
    system_moves(group, Status.READY)
    transition(group, Status.PAUSED, user=admin_user, reason="looking into it")

    response = admin_client.get(change(group))
    history = next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is StatusChange
    )

    assert [form.instance.to_status for form in history.forms] == ["paused", "ready", "waiting"]
    assert "looking into it" in response.content.decode()


@pytest.mark.django_db
def test_saving_a_change_form_edits_fields_not_the_status_name_or_collections(admin_client):
    group = make_group()
    system_moves(group, Status.READY)
    response = admin_client.get(change(group))
    data = {
        "step": make_step().pk,
        "name": "renamed",
        "data_query": "detector = 3",
        "input_collection": "elsewhere/input",
        "output_collection": "elsewhere",
    }
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data |= {f"{management.prefix}-{k}": v for k, v in management.initial.items()}

    response = admin_client.post(change(group), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    before = (group.step_id, group.name, group.input_collection, group.output_collection)
    group.refresh_from_db()
    assert (group.data_query, group.status) == ("detector = 3", Status.READY)
    assert (group.step_id, group.name, group.input_collection, group.output_collection) == before


# --- Actions ----------------------------------------------------------------------


def act(client, model_name, action, elements):
    return client.post(
        changelist(model_name),
        {"action": action, "_selected_action": [e.pk for e in elements], "index": 0},
        follow=True,
    )


def sent_messages(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


@pytest.mark.django_db
def test_validate_action_accepts_succeeded_groups_and_records_who(admin_client, admin_user):
    groups = [make_group(), make_group()]
    for group in groups:
        system_moves(group, Status.READY, Status.RUNNING, Status.SUCCEEDED)

    response = act(admin_client, "group", "validate", groups)

    assert sent_messages(response) == [(messages.SUCCESS, "Validated 2 groups.")]
    assert set(Group.objects.values_list("status", flat=True)) == {Status.ACCEPTED}
    history = StatusChange.objects.filter(to_status=Status.ACCEPTED)
    assert history.count() == 2
    assert {(c.user, c.reason) for c in history} == {(admin_user, "admin action by ada")}


@pytest.mark.django_db
def test_validate_action_refuses_a_waiting_group_and_changes_nothing(admin_client):
    group = make_group()
    before = StatusChange.objects.count()

    response = act(admin_client, "group", "validate", [group])

    [(level, text)] = sent_messages(response)
    assert level == messages.ERROR
    assert "cannot go from waiting to accepted" in text
    group.refresh_from_db()
    assert group.status == Status.WAITING
    assert StatusChange.objects.count() == before


@pytest.mark.django_db
def test_pause_then_resume_returns_groups_where_they_were(admin_client):
    groups = [make_group(), make_group()]
    for group in groups:
        system_moves(group, Status.READY)

    act(admin_client, "group", "pause", groups)
    assert set(Group.objects.values_list("status", flat=True)) == {Status.PAUSED}
    response = act(admin_client, "group", "resume", groups)

    assert sent_messages(response) == [(messages.SUCCESS, "Resumed 2 groups.")]
    assert set(Group.objects.values_list("status", flat=True)) == {Status.READY}


@pytest.mark.django_db
def test_jobs_have_no_status_actions(admin_client):
    response = admin_client.get(changelist("job"))

    assert response.context["action_form"] is None


# --- Read-only models ------------------------------------------------------------


@pytest.mark.django_db
def test_archived_config_page_is_read_only(admin_client):
    config = make_archived_config("a: 1")

    response = admin_client.get(change(config))

    content = response.content.decode()
    assert "<pre" in content and "a: 1" in content
    assert 'name="content"' not in content
    assert not response.context["has_change_permission"]
    assert not response.context["has_delete_permission"]
    assert admin_client.get(reverse("admin:campaigns_archivedconfig_add")).status_code == 403


@pytest.mark.django_db
def test_posting_a_changed_archived_config_does_not_modify_it(admin_client):
    config = make_archived_config("a: 1")
    data = {"sha256": config.sha256, "kind": "production", "source_name": "x.yaml", "size": 3}

    response = admin_client.post(change(config), data | {"content": "a: 2"})

    assert response.status_code == 403
    config.refresh_from_db()
    assert config.content == "a: 1"
    config.content = "a: 2"
    with pytest.raises(ImmutableError):
        config.save()


@pytest.mark.django_db
def test_status_history_list_is_read_only_and_filters_by_level(admin_client):
    job = make_job()
    system_moves(job, Status.READY)

    jobs_only = admin_client.get(changelist("statuschange"), {"level": "job"})
    page = admin_client.get(change(StatusChange.objects.latest("id")))

    assert {c.object_id for c in shown(jobs_only)} == {job.pk}
    assert len(shown(jobs_only)) == 2  # created, then ready
    assert not page.context["has_change_permission"]
    assert change(job) in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Group, Workflow, Job, TaskLabelCount, StatusChange])
def test_rows_made_by_specs_or_the_wms_are_not_added_or_deleted_here(admin_client, model):
    name = model._meta.model_name

    assert admin_client.get(reverse(f"admin:campaigns_{name}_add")).status_code == 403


# --- Alarms ---------------------------------------------------------------------------


def test_alarms_list_without_a_query_per_row_and_can_be_acknowledged(admin_client, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Alarm
    from campaigns.services.alarms import raise_alarm

    def listed() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(changelist("alarm")).status_code == 200
        return len(captured)

    raise_alarm(make_workflow(), "wms-unreachable", "error", "down")
    listed()  # warm the caches (content types, session) so only the page's own queries count
    few = listed()
    for _ in range(5):
        raise_alarm(make_workflow(), "wms-unreachable", "error", "down")
    assert listed() == few
    response = act(admin_client, "alarm", "acknowledge", Alarm.objects.all())
    assert sent_messages(response) == [(messages.SUCCESS, "Acknowledged 6 alarm(s).")]
    assert set(Alarm.objects.values_list("acknowledged_by", flat=True)) == {admin_user.pk}
