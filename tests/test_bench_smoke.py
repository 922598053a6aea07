"""The benchmarks (bench/) run end to end at a tiny size: the generator's rows are what cm itself
would write, and each benchmark prints its JSON. Benchmarks are not timed tests: no timing is
asserted here, only shapes, query counts and consistency (bench/README.md has the numbers).

The generator COPYs into PostgreSQL from its own connection and the memory benchmark starts a
server process, so these tests commit their rows (``transaction=True``) and need PostgreSQL.
"""

from collections import Counter

import pytest
from django.db import connection

from bench import generate, memory, pages
from bench.common import envelope
from bench.synth import SIZES, derived_status
from tests.celery_helpers import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def bench_url():
    if connection.vendor != "postgresql":
        pytest.skip(
            "the bench generator loads with PostgreSQL's COPY; run with DATABASE_URL=postgres://..."
        )
    return database_url(connection.settings_dict)


@pytest.fixture
def tiny(bench_url):
    summary = generate.load("tiny", database_url=bench_url, analyze=False)
    return bench_url, summary


def test_generator_loads_the_size_it_names_and_reuses_an_identical_load(tiny):
    url, summary = tiny
    size = SIZES["tiny"]
    counts = summary["counts"]
    assert set(counts) == set(generate.COUNTED)
    assert (
        counts["campaigns_campaign"],
        counts["campaigns_step"],
        counts["campaigns_group"],
        counts["campaigns_workflow"],
        counts["campaigns_job"],
        counts["campaigns_failedquantum"],
    ) == (
        size.campaigns,
        size.campaigns * size.steps,
        size.groups,
        size.workflows,
        size.jobs,
        size.failed_quanta,
    )
    assert summary["reused"] is False and summary["seconds"]["total"] >= 0
    assert generate.load("tiny", database_url=url)["reused"] is True


def test_generated_rows_are_what_cm_would_have_written(tiny):
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    from campaigns.models import Campaign, FailedQuantum, Group, Production, StatusChange, Step
    from campaigns.services import classify, rollup
    from campaigns.specs.schema import CollectionTemplates
    from campaigns.states import allowed_moves

    assert Campaign.objects.first().collection_templates == CollectionTemplates().model_dump()
    moves = StatusChange.objects.exclude(from_status="").values_list("from_status", "to_status")
    assert {m for m in moves.distinct() if m[1] not in allowed_moves(m[0])} == set()
    for error_type, message, rule in FailedQuantum.objects.values_list(
        "error_type", "message", "rule"
    ).distinct():
        assert classify.classify(error_type, message).name == rule
    job_type = ContentType.objects.get(app_label="campaigns", model="job")
    assert StatusChange.objects.filter(content_type=job_type, from_status="").count() == (
        SIZES["tiny"].jobs
    )

    def snapshot():
        levels = (Group, Step, Campaign, Production)
        return [
            list(m.objects.order_by("pk").values_list("status", *rollup.COUNTS)) for m in levels
        ]

    before = snapshot()
    with transaction.atomic():
        rollup.rollup(
            Group.objects.values_list("pk", flat=True)
        )  # cm's own rollup finds nothing to change
        assert snapshot() == before
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    "children",
    [
        ["running", "accepted"],
        ["succeeded", "accepted"],
        ["failed"],
        ["waiting"],
        ["superseded"],
        ["reviewable", "succeeded"],
        ["blocked", "accepted"],
        ["waiting", "failed"],
    ],
)
def test_generator_derives_parent_statuses_as_the_rollup_does(children):
    from campaigns.services.rollup import derived_status as cms

    assert derived_status(children) == cms(children)


def test_pages_benchmark_counts_the_same_queries_at_two_sizes(tiny):
    url, _ = tiny
    by_size = {"tiny": pages.run("tiny", iterations=1)}
    generate.load("mini", database_url=url, analyze=False, replace=True)
    by_size["mini"] = pages.run("mini", iterations=1)
    for result in by_size.values():
        assert set(result) == {"yardsticks", "targets", "iterations", "results", "checks"}
        assert result["yardsticks"]["tables2_100x5"]["median_ms"] > 0
        assert {r["status"] for r in result["results"].values()} == {200}
        some = result["results"]["shifter:step"]
        assert {"url", "queries", "median_ms", "p95_ms", "n", "slowest_sql"} <= set(some)
        assert any(name.startswith("shifter:api_") for name in result["results"])
    assert pages.flatness(by_size)["varies"] == {}
    printed = envelope("pages", "tiny", url, by_size["tiny"])
    assert {"benchmark", "size", "revision", "machine", "timestamp"} <= set(printed)
    assert set(printed["revision"]) == {"commit", "dirty"}
    assert {"cores", "memory_mb", "cpu", "python", "postgresql"} <= set(printed["machine"])


def test_memory_benchmark_reads_the_peak_of_a_real_server_and_of_worker_passes(tiny):
    url, _ = tiny
    result = memory.run(url, rounds=1)
    web = result["web"]
    assert web["peak_rss_mb"] > 0 and set(web["memory_mb"]) == {
        "after_start",
        "after_first_round",
        "rss_after_each_round",
        "at_end",
    }
    assert Counter(h["status"] for h in web["http"].values()) == Counter({200: len(web["http"])})
    assert set(result["workers"]) == set(memory.WORKERS)
    assert all(w["peak_rss_mb"] > 0 for w in result["workers"].values())
