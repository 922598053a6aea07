"""Who may call what: anonymous, a user without a role, a shifter, an operator and an admin,
against every endpoint and method of the API.

The endpoints are read from the OpenAPI schema, so one added later is covered without
touching this file: a read (GET) needs the shifter role, acknowledging an alarm too, any
other write the operator role, and purging data the admin. "ok" means the role got past
the door (not 401/403); what the element's state then makes of it (200, 202, 400, 409) is
the other tests' business, except that a shifter's read must answer 200.
"""

import re

import pytest
from django.contrib.auth.models import Group as Role
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import FailedQuantum, Job, StatusChange
from tests.page_world import build_world

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "no role", "shifter", "operator", "admin")
RANK = {role: index for index, role in enumerate(ROLES)}
METHODS = ("get", "post", "put", "patch", "delete")


def endpoints() -> dict[tuple[str, str], list[str]]:
    """(path, METHOD) of every operation in the schema, with its required query parameters."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return {
        (path, method.upper()): [
            p["name"]
            for p in operation.get("parameters", [])
            if p["in"] == "query" and p.get("required")
        ]
        for path, item in sorted(paths.items())
        for method, operation in item.items()
        if method in METHODS
    }


REQUIRED = endpoints()
ENDPOINTS = list(REQUIRED)


def needs(path: str, method: str) -> str:
    """The least role an endpoint should need."""
    if method == "GET" or path.endswith("/acknowledge/"):
        return "shifter"
    return "operator"


@pytest.fixture
def people(django_user_model) -> dict[str, APIClient]:
    clients = {"anonymous": APIClient()}
    for role in ROLES[1:]:
        if role == "admin":
            user = django_user_model.objects.create_superuser(role, "a@example.org", "pass-123-x")
        else:
            user = django_user_model.objects.create_user(role.replace(" ", "_"))
        if role in ("shifter", "operator"):
            user.groups.add(Role.objects.get(name=role))
        clients[role] = APIClient()
        token = Token.objects.create(user=user)
        clients[role].credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return clients


@pytest.fixture
def objects() -> dict[str, object]:
    """One object per collection of the API, to fill its paths' ids."""
    world = build_world(2)
    return {
        "productions": world.campaign.production,
        "campaigns": world.campaign,
        "steps": world.step,
        "groups": world.failed_group,
        "workflows": world.failed_attempt,
        "jobs": Job.objects.filter(workflow=world.failed_attempt).first(),
        "failed-quanta": FailedQuantum.objects.filter(workflow=world.failed_attempt).first(),
        "alarms": world.alarm,
        "history": StatusChange.objects.first(),
    }


def concrete(path: str, method: str, objects: dict) -> str:
    """The path with each ``{param}``, and each required query parameter, the id of an object
    of its collection (``{id}`` after ``groups/``, ``?step=`` for ``steps``)."""

    def pk_of(collection: str) -> int:
        if collection not in objects:
            pytest.fail(f"{path}: add an object of {collection!r} to this test's objects()")
        return objects[collection].pk

    filled = re.sub(r"([\w-]+)/\{\w+\}", lambda m: f"{m[1]}/{pk_of(m[1])}", path)
    if "{" in filled:
        pytest.fail(f"{path}: a path parameter this test cannot fill")
    query = [f"{name}={pk_of(name + 's')}" for name in REQUIRED[(path, method)]]
    if "/bulk/" in filled:
        query.append("status=running")  # a selection each bulk endpoint accepts
    return filled + ("?" + "&".join(query) if query else "")


def call(client: APIClient, method: str, path: str, body: dict):
    return getattr(client, method.lower())(path, body if method != "GET" else None, format="json")


def test_the_schema_lists_the_reads_and_the_actions():
    paths = {path for path, _ in ENDPOINTS}
    assert "/api/v1/groups/{id}/retry/" in paths and "/api/v1/groups/bulk/retry/" in paths
    assert "/api/v1/alarms/{id}/acknowledge/" in paths and "/api/v1/groups/" in paths


@pytest.mark.parametrize("path, method", ENDPOINTS, ids=[f"{m} {p}" for p, m in ENDPOINTS])
def test_each_role_gets_what_it_may(people, objects, path, method):
    target = concrete(path, method, objects)
    body = {} if path.endswith("/acknowledge/") else {"reason": "authorization matrix"}
    required = needs(path, method)
    for role in ROLES:
        status = call(people[role], method, target, body).status_code
        if role == "anonymous":
            assert status == 401, f"{role}: {method} {target} -> {status}"
        elif RANK[role] < RANK[required]:
            assert status == 403, f"{role}: {method} {target} -> {status}"
        elif method == "GET":
            assert status == 200, f"{role}: {method} {target} -> {status}"
        else:
            assert status not in (401, 403), f"{role}: {method} {target} -> {status}"


INVALIDATIONS = [(p, m) for p, m in ENDPOINTS if p.endswith("/invalidate/")]


@pytest.mark.parametrize("path, method", INVALIDATIONS, ids=[p for p, _ in INVALIDATIONS])
def test_purging_data_is_for_admins_only(people, objects, path, method):
    target = concrete(path, method, objects)
    body = {"reason": "authorization matrix", "purge": True}
    expected = {"anonymous": 401, "no role": 403, "shifter": 403, "operator": 403}
    for role, status in expected.items():
        assert call(people[role], method, target, body).status_code == status, role
    assert call(people["admin"], method, target, body).status_code not in (401, 403)
