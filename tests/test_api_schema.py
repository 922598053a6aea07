"""The OpenAPI schema: it builds without warnings, its docs work offline, and the API keeps it.

Schemathesis reads the schema the site serves (``/api/schema/``) and calls every operation
in it in-process (WSGI) as an admin, with generated parameters and bodies: no answer may
be a 5xx, and every answer's status code and body must be the ones the schema documents.
New operations (the actions) are included as they appear in the schema.

Database: one small world is made per module (and per xdist worker) inside a transaction
that is rolled back when the module ends; each generated request runs in a savepoint that
is rolled back after it, so every example sees the same world, whatever the one before did.
"""

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cm_site.wsgi import application
from tests.page_world import build_world

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260301,
        "generation": {
            "max-examples": 6,
            "deterministic": True,  # the same requests on every run and every worker
            "database": "none",
            "with-security-parameters": False,  # the admin's token is sent with each call
        },
        "phases": {"stateful": {"enabled": False}},
        "warnings": False,
    }
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture(scope="module")
def api_world(django_db_setup, django_db_blocker):
    """A world and an admin's token, for every test of the module; rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = build_world(3)
        admin = get_user_model().objects.create_superuser("root", "root@example.org", "x")
        yield world, {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
        transaction.set_rollback(True)


@pytest.fixture
def in_process(db):
    """Requests made straight to the WSGI application, like Django's test client makes them:
    without closing the database connection, which holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call(case, headers) -> None:
    with transaction.atomic():
        case.call_and_validate(headers=headers, checks=CHECKS)
        transaction.set_rollback(True)


@schema.parametrize()
# The fixtures are the module's world and the test's transaction: every example shares them
# on purpose (each call runs in its own savepoint).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_operation_answers_as_documented(case, api_world, in_process):
    call(case, api_world[1])


LISTS = ["productions", "campaigns", "steps", "groups", "workflows", "jobs", "failed-quanta"]
LISTS += ["alarms", "history"]
READ_PATHS = {
    *(f"/api/v1/{name}/" for name in LISTS),
    *(f"/api/v1/{name}/{{id}}/" for name in LISTS),
    *(f"/api/v1/tables/{name}/" for name in ("campaigns", "steps", "groups", "alarms")),
}


def examples(world) -> dict[str, dict]:
    """Parameters that name objects of the world, per path: the answers with real rows."""
    return {
        "/api/v1/tables/steps/": {"query": {"campaign": world.campaign.pk}},
        "/api/v1/tables/groups/": {"query": {"step": world.step.pk}},
        "/api/v1/productions/{id}/": {"path_parameters": {"id": world.campaign.production_id}},
        "/api/v1/campaigns/{id}/": {"path_parameters": {"id": world.campaign.pk}},
        "/api/v1/steps/{id}/": {"path_parameters": {"id": world.step.pk}},
        "/api/v1/groups/{id}/": {"path_parameters": {"id": world.failed_group.pk}},
        "/api/v1/workflows/{id}/": {"path_parameters": {"id": world.failed_attempt.pk}},
        "/api/v1/jobs/{id}/": {"path_parameters": {"id": world.failed_attempt.jobs.first().pk}},
        "/api/v1/failed-quanta/{id}/": {
            "path_parameters": {"id": world.failed_attempt.failed_quanta.first().pk}
        },
        "/api/v1/alarms/{id}/": {"path_parameters": {"id": world.alarm.pk}},
        "/api/v1/history/{id}/": {"path_parameters": {"id": _history_id()}},
    }


def _history_id() -> int:
    from campaigns.models import StatusChange

    return StatusChange.objects.order_by("pk").values_list("pk", flat=True).first() or 0


def test_every_read_answers_with_real_rows_as_documented(api_world, in_process):
    """Each read with the world's objects (generated parameters rarely name one) is a 200
    whose rows the schema describes."""
    world, headers = api_world
    named = examples(world)
    reads = {
        operation.path: operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if operation.method.upper() == "GET" and operation.path in READ_PATHS
    }
    assert set(reads) == READ_PATHS
    for path, operation in reads.items():
        case = operation.Case(**named.get(path, {}))
        with transaction.atomic():
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
        assert response.status_code == 200, f"{operation.label}: {response.status_code}"
        assert b'"results":[]' not in response.content, f"{operation.label}: no rows"


def test_schema_builds_without_warnings_and_validates(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/tables/groups/:" in text and "/api/v1/history/{id}/:" in text


def test_docs_are_served_without_a_cdn(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    assert client.get("/api/schema/").status_code == 200  # anyone may read the schema
