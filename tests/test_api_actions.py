"""The API's actions: launch, retry, validate, invalidate, acknowledge, one at a time and in bulk;
what they answer when refused or given bad input; the audit trail every door writes; repeats
made safe by an Idempotency-Key; and ``cm api-token``."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group as Role
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.api import actions as api_actions
from campaigns.api import idempotency
from campaigns.api.actions import bulk as bulk_actions
from campaigns.models import AuditEntry, Group, IdempotentRequest, Step, Workflow
from campaigns.services import launch
from campaigns.states import Status
from campaigns.tasks import purge_idempotency_keys
from tests.builders import make_group
from tests.page_world import build_world, set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world(3)


def with_role(user, role: str):
    user.groups.add(Role.objects.get(name=role))
    return user


@pytest.fixture
def shifter(django_user_model):
    return with_role(
        django_user_model.objects.create_user("sam", password="pass-123-sam"), "shifter"
    )


@pytest.fixture
def operator_role(operator):
    return with_role(operator, "operator")


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(operator_role) -> APIClient:
    return client_for(operator_role)


def url(name: str, element=None, **query) -> str:
    path = reverse(f"api:{name}", args=[element.pk] if element is not None else [])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def running_group(world) -> Group:
    return world.step.groups.get(name="group001")


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


# --- Launch and retry ------------------------------------------------------------------------


def test_retry_requests_a_new_attempt_and_answers_202_with_a_link(api, world, operator_role):
    group = world.failed_group
    body = {"reason": "transient NFS error", "overrides": {"requestMemory": 8192}}
    response = api.post(url("groups-retry", group), body, format="json")
    assert response.status_code == 202, response.json()
    attempt = group.workflows.get(attempt=2)
    assert response.json()["status"] == Status.LAUNCH_REQUESTED
    assert response["Location"] == response.json()["workflow"]
    assert response["Location"].endswith(f"/api/v1/workflows/{attempt.pk}/")
    assert response.json()["page"].endswith(reverse("monitoring:workflow", args=[attempt.pk]))
    assert attempt.overrides == {"requestMemory": 8192}
    assert Workflow.objects.get(pk=world.failed_attempt.pk).status == Status.SUPERSEDED
    (entry,) = entries(action="retry")
    assert (entry.result, entry.via, entry.http_status) == ("ok", "api", 202)
    assert entry.user == operator_role
    assert entry.element == group and entry.element_path == group.path
    assert entry.parameters["workflow"] == attempt.pk


def test_the_location_of_a_launch_is_the_new_attempt_in_the_read_api(api, world):
    response = api.post(url("groups-retry", world.failed_group), {"reason": "x"}, format="json")
    followed = api.get(response["Location"])
    assert followed.status_code == 200
    assert followed.json()["id"] == world.failed_group.workflows.get(attempt=2).pk


def test_launch_a_ready_group(api):
    group = make_group()
    set_status(group, Status.READY)
    response = api.post(url("groups-launch", group), {"reason": "go"}, format="json")
    assert response.status_code == 202
    assert group.workflows.get().attempt == 1 and response.json()["attempt"] == 1


def test_retry_refuses_a_running_group_with_its_status_and_allowed_moves(api, world):
    group = running_group(world)
    response = api.post(url("groups-retry", group), {"reason": "x"}, format="json")
    assert response.status_code == 409
    answer = response.json()
    assert answer["current_status"] == Status.RUNNING and answer["allowed"] == ["paused"]
    assert "only failed or reviewable groups are retried" in answer["detail"]
    assert group.workflows.count() == 1
    (entry,) = entries(action="retry")
    assert (entry.result, entry.http_status) == ("refused", 409)


def test_launch_refuses_a_group_that_already_ran(api, world):
    response = api.post(url("groups-launch", world.failed_group), {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["current_status"] == Status.REVIEWABLE


def test_a_move_refused_by_the_transition_table_lists_each_refusal(api, world):
    response = api.post(url("steps-invalidate", world.step), {"reason": "bad"}, format="json")
    assert response.status_code == 409
    refused = {r["path"]: r for r in response.json()["refused"]}
    assert refused[running_group(world).path]["current_status"] == Status.RUNNING
    assert refused[running_group(world).path]["target"] == Status.REJECTED


# --- Validate, invalidate, acknowledge ----------------------------------------------------------


def test_validate_accepts_a_reviewable_group(api, world):
    group = world.failed_group
    response = api.post(url("groups-validate", group), {"reason": "3 failures ok"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"id": group.pk, "path": group.path, "status": "accepted"}
    group.refresh_from_db()
    assert group.status == Status.ACCEPTED
    assert entries(action="validate", result="ok")[0].http_status == 200


def test_validate_refuses_a_step_whose_groups_are_not_settled(api, world):
    response = api.post(url("steps-validate", world.step), {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert "validate the children first" in response.json()["detail"]
    assert response.json()["current_status"] == Status.RUNNING


def test_invalidate_dry_run_reports_and_changes_nothing(api, world):
    group = world.failed_group
    body = {"reason": "bad calibration", "dry_run": True}
    response = api.post(url("groups-invalidate", group), body, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert f"would reject group {group.path} (was reviewable)" in answer["lines"]
    assert answer["status"] == Status.REVIEWABLE and answer["dry_run"] is True
    group.refresh_from_db()
    assert group.status == Status.REVIEWABLE
    (entry,) = entries(action="invalidate")
    assert entry.result == "dry_run" and "would reject" in entry.message


def test_invalidate_rejects_the_group_and_its_attempts(api, world):
    group = world.failed_group
    response = api.post(url("groups-invalidate", group), {"reason": "bad"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == Status.REJECTED
    assert f"reject group {group.path} (was reviewable)" in response.json()["lines"]
    assert Workflow.objects.get(pk=world.failed_attempt.pk).status == Status.REJECTED


def test_purging_data_needs_the_admin_role_but_its_dry_run_does_not(api, world, admin_user):
    group = world.failed_group
    purge = {"reason": "bad", "purge": True}
    response = api.post(url("groups-invalidate", group), purge, format="json")
    assert response.status_code == 403
    assert entries(action="invalidate")[0].http_status == 403
    dry = api.post(url("groups-invalidate", group), purge | {"dry_run": True}, format="json")
    assert dry.status_code == 200
    done = client_for(admin_user).post(url("groups-invalidate", group), purge, format="json")
    assert done.status_code == 200 and done.json()["status"] == Status.REJECTED


def test_acknowledge_records_who_once(world, shifter):
    api = client_for(shifter)
    first = api.post(url("alarms-acknowledge", world.alarm), {}, format="json")
    assert first.status_code == 200
    assert first.json()["acknowledged_by"] == "sam" and first.json()["newly_acknowledged"]
    again = api.post(url("alarms-acknowledge", world.alarm), format="json")
    assert again.status_code == 200 and not again.json()["newly_acknowledged"]
    entry = entries(action="acknowledge")[0]
    assert entry.element == world.failed_attempt and entry.parameters["alarm"] == world.alarm.pk


# --- Bad input, unknown ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x", "overrides": ["requestMemory=8192"]}, "overrides"),
        ({"reason": "x", "overrides": {" ": 1}}, "overrides"),
        ({"reason": "x", "colour": "red"}, "colour"),
        ({"reason": "x\x00"}, "reason"),
    ],
    ids=["missing reason", "blank reason", "overrides a list", "blank key", "unknown", "NUL"],
)
def test_bad_input_answers_400_with_field_errors(api, world, body, field):
    response = api.post(url("groups-retry", world.failed_group), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert world.failed_group.workflows.count() == 1
    (entry,) = entries(action="retry")
    assert (entry.result, entry.http_status) == ("refused", 400)


def test_malformed_json_and_other_formats_are_refused(api, world):
    path = url("groups-validate", world.failed_group)
    response = api.post(path, "{not json", content_type="application/json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    assert api.post(path, {"reason": "x"}, format="multipart").status_code == 415


def test_unknown_ids_are_not_found(api):
    assert api.post("/api/v1/groups/999999/retry/", {"reason": "x"}).status_code == 404
    assert api.post("/api/v1/alarms/999999/acknowledge/", {}).status_code == 404


# --- Bulk ----------------------------------------------------------------------------------


def test_bulk_dry_run_says_what_would_happen_and_changes_nothing(api, world):
    path = url("groups-bulk-retry", step=world.step.pk)
    response = api.post(path, {"reason": "x", "dry_run": True}, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert answer["count"] == 3 and answer["done"] == 0 and answer["dry_run"]
    legal = {item["path"]: item["legal"] for item in answer["elements"]}
    assert legal[world.failed_group.path] and not legal[running_group(world).path]
    assert Workflow.objects.filter(group__step=world.step).count() == 3
    assert sorted(e.result for e in entries(action="retry")) == ["dry_run"] * 3


def test_bulk_retry_reports_each_group(api, world):
    response = api.post(
        url("groups-bulk-retry", step=world.step.pk), {"reason": "x"}, format="json"
    )
    assert response.status_code == 202
    answer = response.json()
    assert answer["done"] == 1
    items = {item["path"]: item for item in answer["elements"]}
    assert items[world.failed_group.path]["workflow"].endswith("/")
    assert "only failed or reviewable" in items[running_group(world).path]["detail"]
    assert {e.result for e in entries(action="retry")} == {"ok", "refused"}


def test_bulk_retry_with_nothing_to_retry_answers_409(api, world):
    path = url("groups-bulk-retry", step=world.step.pk, status="running")
    assert api.post(path, {"reason": "x"}, format="json").status_code == 409


def test_bulk_validate_with_a_filter_is_one_call(api, world):
    other = make_group(world.step, name="other")
    set_status(other, Status.SUCCEEDED)
    path = url("groups-bulk-validate", step=world.step.pk) + "&status=reviewable&status=succeeded"
    response = api.post(path, {"reason": "reviewed"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["done"] == 2
    assert set(world.step.groups.filter(status=Status.ACCEPTED)) == {world.failed_group, other}
    assert len(entries(action="validate", result="ok")) == 2


def test_bulk_validate_is_all_or_nothing(api, world):
    path = url("groups-bulk-validate", step=world.step.pk)
    response = api.post(path, {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert {r["path"] for r in response.json()["refused"]} == {
        g.path for g in world.step.groups.filter(status=Status.RUNNING)
    }
    assert world.step.groups.filter(status=Status.ACCEPTED).count() == 0


def test_bulk_invalidate_dry_run_of_steps_marks_what_blocks_them(api, world):
    set_status(world.step, Status.REVIEWABLE)  # the step may be rejected; its running groups not
    path = url("steps-bulk-invalidate", campaign=world.campaign.pk)
    response = api.post(path, {"reason": "x", "dry_run": True}, format="json")
    assert response.status_code == 200
    (item,) = response.json()["elements"]
    assert not item["legal"] and item["detail"].endswith("is running: it cannot be rejected")
    assert f"{running_group(world).path} is running" in item["detail"]
    assert Step.objects.get(pk=world.step.pk).status == Status.REVIEWABLE


def test_bulk_invalidate_dry_run_lists_the_report(api, world):
    path = url("groups-bulk-invalidate", step=world.step.pk, status="reviewable")
    response = api.post(path, {"reason": "x", "dry_run": True}, format="json")
    assert response.status_code == 200
    assert (
        f"would reject group {world.failed_group.path} (was reviewable)" in response.json()["lines"]
    )


@pytest.mark.parametrize(
    "query, key",
    [
        ("", "filters"),
        ("?status=sleeping", "status"),
        ("?stauts=failed", "stauts"),
        ("?step=999999", "filters"),
    ],
    ids=["no filter", "bad value", "unknown filter", "no match"],
)
def test_bulk_selections_that_are_not_clear_answer_400(api, world, query, key):
    response = api.post(url("groups-bulk-validate") + query, {"reason": "x"}, format="json")
    assert response.status_code == 400
    assert key in response.json()
    assert entries(action="validate")[0].http_status == 400


def test_bulk_refuses_more_than_the_cap(api, world, monkeypatch):
    monkeypatch.setattr(bulk_actions, "BULK_LIMIT", 2)  # where the bulk views read it
    response = api.post(
        url("groups-bulk-validate", step=world.step.pk), {"reason": "x"}, format="json"
    )
    assert response.status_code == 400 and "more than 2 groups" in response.json()["filters"][0]


def test_bulk_actions_exist_only_where_they_make_sense():
    names = {p.name for p in api_actions.urlpatterns}
    assert "steps-bulk-validate" in names and "campaigns-bulk-invalidate" in names
    assert "steps-bulk-retry" not in names and "productions-bulk-validate" not in names


# --- The audit trail from the pages, the admin and the element pages ------------------------------


def test_page_actions_are_audited_ok_and_refused(client, world, operator_role):
    client.force_login(operator_role)
    act = reverse("monitoring:act", args=["group", world.failed_group.pk, "retry"])
    client.post(act, {"reason": "from the page"})
    running = running_group(world)
    client.post(reverse("monitoring:act", args=["group", running.pk, "retry"]), {"reason": "x"})
    ok, refused = entries(action="retry")
    assert (ok.via, ok.result, ok.element) == ("page", "ok", world.failed_group)
    assert ok.parameters["reason"] == "from the page" and "attempt 2" in ok.message
    assert (refused.result, refused.element, refused.http_status) == ("refused", running, None)


def test_page_acknowledge_is_audited(client, world, shifter):
    client.force_login(shifter)
    client.post(reverse("monitoring:alarm-acknowledge", args=[world.alarm.pk]))
    (entry,) = entries(action="acknowledge")
    assert (entry.via, entry.user, entry.element) == ("page", shifter, world.failed_attempt)


def test_a_refused_action_is_recorded_after_its_rollback(world, operator_role):
    from campaigns.errors import CampaignError
    from campaigns.services import audit

    with (
        pytest.raises(CampaignError),
        audit.audited("retry", world.failed_group, user=operator_role, via=audit.Via.CLI),
    ):
        launch.request_launch(world.failed_group, user=operator_role, reason="first")
        raise CampaignError("refused after the change")
    assert world.failed_group.workflows.count() == 1  # the attempt was rolled back
    (entry,) = entries(action="retry")
    assert (entry.result, entry.message) == ("refused", "refused after the change")


def test_an_unexpected_error_is_recorded_and_frees_the_idempotency_key(api, world, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(launch, "request_launch", broken)
    with pytest.raises(RuntimeError):
        api.post(
            url("groups-retry", world.failed_group),
            {"reason": "x"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-500",
        )
    (entry,) = entries(action="retry")
    assert (entry.result, entry.http_status, entry.idempotency_key) == ("error", 500, "k-500")
    assert not IdempotentRequest.objects.exists()


def test_element_pages_list_their_latest_actions(client, api, world):
    api.post(url("groups-validate", world.failed_group), {"reason": "looks fine"}, format="json")
    page = client.get(reverse("monitoring:group", args=[world.failed_group.pk])).content.decode()
    assert "Actions (1 latest" in page and "looks fine" in page
    for name, element in (("campaign", world.campaign), ("step", world.step)):
        other = client.get(reverse(f"monitoring:{name}", args=[element.pk])).content.decode()
        assert "Actions (0 latest" in other


def test_the_admin_lists_and_searches_the_audit_trail(client, api, world, admin_user):
    api.post(url("groups-validate", world.failed_group), {"reason": "x"}, format="json")
    client.force_login(admin_user)
    changelist = reverse("admin:campaigns_auditentry_changelist")
    page = client.get(changelist, {"q": world.failed_group.path, "result": "ok"})
    assert page.status_code == 200 and world.failed_group.path in page.content.decode()
    entry = AuditEntry.objects.get()
    assert (
        client.get(reverse("admin:campaigns_auditentry_change", args=[entry.pk])).status_code == 200
    )
    assert (
        client.post(reverse("admin:campaigns_auditentry_delete", args=[entry.pk])).status_code
        == 403
    )


# --- Idempotency ---------------------------------------------------------------------------


def post_keyed(api, path, body, key):
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeated_request_with_the_same_key_is_replayed(api, world):
    path = url("groups-retry", world.failed_group)
    first = post_keyed(api, path, {"reason": "x"}, "key-1")
    again = post_keyed(api, path, {"reason": "x"}, "key-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert world.failed_group.workflows.count() == 2
    assert len(entries(action="retry")) == 1  # a replay is not an action


def test_a_refusal_is_replayed_too(api, world):
    path = url("groups-retry", running_group(world))
    assert post_keyed(api, path, {"reason": "x"}, "key-r").status_code == 409
    again = post_keyed(api, path, {"reason": "x"}, "key-r")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"


def test_the_same_key_for_another_request_is_422(api, world):
    path = url("groups-retry", world.failed_group)
    post_keyed(api, path, {"reason": "x"}, "key-2")
    assert post_keyed(api, path, {"reason": "y"}, "key-2").status_code == 422
    other = url("groups-validate", world.failed_group)
    assert post_keyed(api, other, {"reason": "x"}, "key-2").status_code == 422


def test_keys_are_per_user(api, world, admin_user):
    path = url("alarms-acknowledge", world.alarm)
    assert "Idempotent-Replayed" not in post_keyed(api, path, {}, "mine")
    assert "Idempotent-Replayed" not in post_keyed(client_for(admin_user), path, {}, "mine")


def test_the_same_key_while_the_first_runs_is_409_in_progress(api, world, monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.1)
    path = url("groups-retry", world.failed_group)
    post_keyed(api, path, {"reason": "x"}, "key-3")
    # As if the first request had not finished yet.
    IdempotentRequest.objects.update(completed_at=None, response_status=None)
    response = post_keyed(api, path, {"reason": "x"}, "key-3")
    assert response.status_code == 409 and "in progress" in response.json()["detail"]
    assert response["Retry-After"] == "1"


def test_expired_keys_are_ignored_and_purged(world, shifter, settings):
    api = client_for(shifter)
    path = url("alarms-acknowledge", world.alarm)
    post_keyed(api, path, {}, "old")
    IdempotentRequest.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.CM_IDEMPOTENCY_HOURS + 1)
    )
    again = post_keyed(api, path, {}, "old")
    assert "Idempotent-Replayed" not in again and not again.json()["newly_acknowledged"]
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(days=30))
    post_keyed(api, path, {}, "fresh")
    assert purge_idempotency_keys() == 1  # the beat's hourly task
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]


def test_a_bad_key_is_400(api, world):
    path = url("groups-retry", world.failed_group)
    assert post_keyed(api, path, {"reason": "x"}, "x" * 300).status_code == 400
    assert post_keyed(api, path, {"reason": "x"}, "  ").status_code == 400


# --- cm api-token ----------------------------------------------------------------------------


def cm(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("cm", *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_api_token_prints_makes_and_rotates_the_users_token(operator_role, world):
    key = cm("api-token", operator_role.username)
    assert Token.objects.get(user=operator_role).key == key
    assert cm("api-token", operator_role.username) == key
    rotated = cm("api-token", operator_role.username, "--rotate")
    assert rotated != key and not Token.objects.filter(key=key).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {rotated}")
    response = api.post(url("groups-validate", world.failed_group), {"reason": "x"}, format="json")
    assert response.status_code == 200


def test_api_token_of_an_unknown_user_fails():
    with pytest.raises(CommandError, match="no cm user 'nobody'"):
        cm("api-token", "nobody")


def test_garbage_in_a_filter_is_a_400_and_still_audited(api, world):
    # PostgreSQL stores no NUL in text or JSON: neither the audit entry nor the key may fail.
    path = url("groups-bulk-validate") + "?status=%00&step=1"
    response = post_keyed(api, path, {"reason": "x"}, "garbage")
    assert response.status_code == 400 and "status" in response.json()
    assert entries(action="validate")[0].http_status == 400


def test_a_failure_after_the_change_was_committed_is_an_error_not_a_refusal(
    api, world, monkeypatch
):
    from campaigns.errors import CampaignError
    from campaigns.services import collections

    def butler_down(campaigns, done):
        raise CampaignError(f"{done}, but updating the butler failed: repository unreachable")

    monkeypatch.setattr(collections, "sync_after", butler_down)
    response = api.post(url("groups-validate", world.failed_group), {"reason": "x"}, format="json")
    assert response.status_code == 409 and "butler failed" in response.json()["detail"]
    assert response.json()["current_status"] == Status.ACCEPTED
    (entry,) = entries(action="validate")
    assert (entry.result, entry.http_status) == ("error", 409)
