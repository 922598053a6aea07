"""campaigns.bulk: many rows' fields in one statement, with what Django itself would write.

Run on both databases: PostgreSQL takes the unnest path, SQLite Django's own bulk methods;
the rows must come out the same either way.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.bulk import bulk_update, insert
from campaigns.models import Job, TaskLabelCount, Workflow
from campaigns.states import Status
from tests.builders import make_workflow

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def workflow():
    return make_workflow()


def test_bulk_update_writes_each_rows_own_values_nulls_and_json_in_one_statement(workflow):
    jobs = [Job.objects.create(workflow=workflow, name=f"job{n}") for n in range(3)]
    jobs[0].task_labels, jobs[0].wall_seconds, jobs[0].error = {"isr": [1, 2]}, 1.5, 'it\'s "bad"'
    jobs[1].task_labels, jobs[1].wall_seconds, jobs[1].error = ["calibrate"], None, ""
    jobs[2].task_labels, jobs[2].wall_seconds, jobs[2].error = [], 7.0, "\\n{}"
    for job in jobs:
        job.finished_at = None  # a column of nulls only
    with CaptureQueriesContext(connection) as queries:
        bulk_update(jobs, ["task_labels", "wall_seconds", "error", "finished_at"])
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1
    stored = {
        name: (labels, seconds, error)
        for name, labels, seconds, error in Job.objects.values_list(
            "name", "task_labels", "wall_seconds", "error"
        )
    }
    assert stored == {
        "job0": ({"isr": [1, 2]}, 1.5, 'it\'s "bad"'),
        "job1": (["calibrate"], None, ""),
        "job2": ([], 7.0, "\\n{}"),
    }


def test_insert_fills_defaults_and_returns_ids_in_order(workflow):
    rows = [(workflow.pk, f"job{n}", Status.RUNNING, ["isr"] if n else {"a": n}) for n in range(5)]
    ids = insert(Job, ["workflow_id", "name", "status", "task_labels"], rows, returning=True)
    assert [Job.objects.get(pk=pk).name for pk in ids] == [f"job{n}" for n in range(5)]
    job = Job.objects.get(pk=ids[1])
    assert (job.status, job.task_labels, job.attempts, job.error, job.wall_seconds) == (
        "running",
        ["isr"],
        0,
        "",
        None,
    )
    assert job.created_at is not None and job.status_since is not None  # auto_now_add
    assert insert(Job, ["workflow_id", "name"], []) == []


def test_insert_with_unique_fields_updates_what_is_there(workflow):
    fields = ["workflow_id", "task_label", "quanta_expected", "quanta_succeeded"]
    insert(TaskLabelCount, fields, [(workflow.pk, "isr", 10, 1), (workflow.pk, "calibrate", 5, 0)])
    insert(
        TaskLabelCount,
        fields,
        [(workflow.pk, "isr", 10, 4), (workflow.pk, "makeWarp", 2, 2)],
        unique=["workflow", "task_label"],
    )
    counts = TaskLabelCount.objects.filter(workflow=workflow).order_by("task_label")
    assert list(counts.values_list("task_label", "quanta_expected", "quanta_succeeded")) == [
        ("calibrate", 5, 0),
        ("isr", 10, 4),
        ("makeWarp", 2, 2),
    ]


def test_insert_refuses_a_field_that_is_not_a_column(workflow):
    with pytest.raises(ValueError, match="not a column"):
        insert(Workflow, ["jobs"], [(1,)])
