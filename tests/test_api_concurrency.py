"""Twenty retries of one reviewable group at the same moment make exactly one new attempt.

Real HTTP against the live server, twenty threads released together by a barrier, on
PostgreSQL: SQLite lets one writer in at a time, so there the test would prove nothing and
is skipped. Without a shared Idempotency-Key (none, or one each) one request wins (202) and
nineteen are refused (409, never a 500); with one key shared by all, every answer is the
winner's, replayed.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth.models import Group as Role
from django.db import connection
from rest_framework.authtoken.models import Token

from campaigns.models import AuditEntry, Workflow
from campaigns.states import Status
from tests.page_world import build_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CALLERS = 20


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip(
            f"concurrency is tested on PostgreSQL, and this run's database is {connection.vendor} "
            "(one writer at a time): run with DATABASE_URL=postgres://..."
        )


@pytest.fixture
def token(postgres, operator) -> str:
    operator.groups.add(Role.objects.get(name="operator"))
    return Token.objects.create(user=operator).key


def retry_at_once(live_server, token: str, group, keys: list[str | None]) -> list:
    """POST a retry of ``group`` from one thread per key, all released at the same moment."""
    barrier = threading.Barrier(len(keys))
    url = f"{live_server.url}/api/v1/groups/{group.pk}/retry/"

    def one(key: str | None) -> requests.Response:
        headers = {"Authorization": f"Token {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        barrier.wait()
        return requests.post(
            url, json={"reason": "retried by everyone"}, headers=headers, timeout=60
        )

    with ThreadPoolExecutor(len(keys)) as pool:
        return list(pool.map(one, keys))


@pytest.mark.parametrize(
    "keys",
    [[None] * CALLERS, [f"caller-{n}" for n in range(CALLERS)]],
    ids=["no keys", "a key each"],
)
def test_twenty_concurrent_retries_make_one_attempt(live_server, token, keys):
    world = build_world(1)
    answers = retry_at_once(live_server, token, world.failed_group, keys)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [202] + [409] * (CALLERS - 1), [a.text[:200] for a in answers]
    assert Workflow.objects.filter(group=world.failed_group).count() == 2
    refusals = [a.json() for a in answers if a.status_code == 409]
    assert {r["current_status"] for r in refusals} == {Status.LAUNCH_REQUESTED}
    results = sorted(AuditEntry.objects.filter(action="retry").values_list("result", flat=True))
    assert results == ["ok"] + ["refused"] * (CALLERS - 1)


def test_twenty_concurrent_retries_with_one_key_all_get_the_one_attempt(live_server, token):
    world = build_world(1)
    answers = retry_at_once(live_server, token, world.failed_group, ["one-key"] * CALLERS)
    assert [a.status_code for a in answers] == [202] * CALLERS, [a.text[:200] for a in answers]
    attempt = Workflow.objects.get(group=world.failed_group, attempt=2)
    assert {a.json()["workflow"] for a in answers} == {a.headers["Location"] for a in answers}
    assert all(a.json()["workflow"].endswith(f"/workflows/{attempt.pk}/") for a in answers)
    replayed = [a for a in answers if a.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == CALLERS - 1
    assert AuditEntry.objects.filter(action="retry").count() == 1
