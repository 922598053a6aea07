"""Benchmark (issue 7, item 2a): the WMS poll and rollup of N active workflows, three ways.

    python bench/poll.py [--workflows 10000] [--passes 3] [--modes bookkeeping,floor,panda]

- **bookkeeping**: ``polling.poll`` against a zero-latency WMS (``bench.fake_wms.InstantWms``),
  then what the periodic task does after it (``automation.advance``, ``rules.evaluate``),
  each timed and query-counted, with the poll split into its phases;
- **floor**: the same writes as hand-written bulk SQL (COPY into temporary tables, one
  ``UPDATE ... FROM`` / ``INSERT ... ON CONFLICT`` per table, rollups with one grouped
  statement per level): what the database needs at least;
- **panda**: ``polling.poll`` through the real PanDA client code against tests/fake_panda.py's
  server, in its own process, answering every call after ``--latency-ms``, at each
  ``--panda-concurrency``.

Every mode starts from the same data: a template database (``<prefix>_base``) with N running
workflows, one per group, in 3 campaigns x 8 steps, cloned for each run. The WMS's reports
follow ``bench.fake_wms.fate``: each pass advances every run's counts, finishes 6 in 100
(succeeded, failed quanta half with a retryable error, pipetaskInit failed), holds 2 in 100 and
releases those held before. Only databases named ``<prefix>*`` (default ``cm_bench_poll``) are
made and dropped. Prints JSON; ``--save`` also writes it under bench/results/.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402  (after the path set-up above)
from bench.model import COUNTS  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/"
CAMPAIGNS, STEPS = 3, 8


# -- databases, Django, the machine (shared with bench/launch.py) -------------------------------


def database_url(server_url: str, name: str) -> str:
    """``server_url`` naming database ``name`` instead."""
    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def admin(server_url: str, sql: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as connection:
        connection.execute(sql)


def create_database(server_url: str, name: str, template: str | None = None) -> None:
    drop_database(server_url, name)
    admin(server_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop_database(server_url: str, name: str) -> None:
    admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(name: str) -> None:
    """Point Django's connection at another database of the same server."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = name


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Queries:
    """Counts the SQL statements Django sends on this thread's connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    @contextmanager
    def counting(self) -> Iterator["Queries"]:
        from django.db import connection

        with connection.execute_wrapper(self):
            yield self


# -- the data: N running workflows, one per group -----------------------------------------------


def build(count: int, wms: str, wms_id) -> None:
    """A production of 3 campaigns x 8 steps whose ``count`` groups each run one workflow."""
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignType, Group, Production, Step, Workflow
    from campaigns.specs.schema import CollectionTemplates
    from campaigns.states import Status

    now, running = timezone.now(), Status.RUNNING
    common = {"status": running, "status_since": now, "started_at": now}
    production = Production.objects.create(
        name="bench",
        campaign_type=CampaignType.objects.get(name="DataProc"),
        output_collection="bench",
        **common,
    )
    campaigns = Campaign.objects.bulk_create(
        Campaign(
            production=production,
            name=f"c{c}",
            butler_repo="/nonexistent/cm-bench-butler",  # no RUN is registered (butler I/O)
            input_collections=["bench/raw"],
            pipeline="bench.yaml",
            lsst_version="w_2026_47",
            output_root=f"bench/c{c}",
            output_collection=f"bench/c{c}",
            collection_templates=CollectionTemplates().model_dump(),
            **common,
        )
        for c in range(CAMPAIGNS)
    )
    steps = Step.objects.bulk_create(
        Step(
            campaign=campaign,
            name=f"s{s}",
            order=s + 1,
            pipeline_subset=f"step{s}",
            input_collection=f"{campaign.output_root}/s{s}/input",
            output_collection=f"{campaign.output_root}/s{s}",
            wms=wms,
            **common,
        )
        for campaign in campaigns
        for s in range(STEPS)
    )
    groups = Group.objects.bulk_create(
        (
            Group(
                step=(step := steps[index % len(steps)]),
                name=f"g{index:06d}",
                input_collection=f"{step.output_collection}/g{index:06d}/input",
                output_collection=f"{step.output_collection}/g{index:06d}",
                **common,
            )
            for index in range(count)
        ),
        batch_size=2000,
    )
    Workflow.objects.bulk_create(
        (
            Workflow(
                group=group,
                attempt=1,
                wms=wms,
                wms_id=wms_id(index),
                output_run=f"{group.output_collection}/attempt_1",
                **common,
            )
            for index, group in enumerate(groups)
        ),
        batch_size=2000,
    )


@contextmanager
def database(args, mode: str) -> Iterator[str]:
    """A fresh copy of the template database for one run, dropped afterwards."""
    name = f"{args.prefix}_{mode}"
    use_database(name)  # closes the connection to the template, which must have none
    create_database(args.database_server, name, template=f"{args.prefix}_base")
    try:
        yield name
    finally:
        use_database(f"{args.prefix}_base")
        if not args.keep:
            drop_database(args.database_server, name)


def rate(workflows: int, seconds: float) -> float:
    return round(workflows / seconds, 1) if seconds else 0.0


# -- mode 1: cm's bookkeeping against a zero-latency WMS ----------------------------------------


class Phases:
    """Times (and query-counts) the poll's parts by wrapping them, in this process only."""

    PARTS = {
        "campaigns.services.polling": [
            "_record",
            "_store_counts",
            "_store_jobs",
            "_store_failed_quanta",
            "transition",
            "_register_runs",
            "_keep_files",
            "_retry_automatically",
            "_back_off",
        ],
        "campaigns.services.rollup": ["rollup"],
        "campaigns.services.progress": ["record_polled"],
    }

    def __init__(self, queries: Queries) -> None:
        self.queries, self.totals, self.saved = queries, {}, []

    def __enter__(self) -> "Phases":
        import importlib

        for module_name, names in self.PARTS.items():
            module = importlib.import_module(module_name)
            for name in names:
                original = getattr(module, name)
                self.saved.append((module, name, original))
                setattr(module, name, self._timed(name.lstrip("_"), original))
        return self

    def __exit__(self, *exc) -> None:
        for module, name, original in self.saved:
            setattr(module, name, original)

    def _timed(self, name: str, function):
        def timed(*args, **kwargs):
            started, queries = time.perf_counter(), self.queries.count
            try:
                return function(*args, **kwargs)
            finally:
                total = self.totals.setdefault(name, {"seconds": 0.0, "queries": 0})
                total["seconds"] += time.perf_counter() - started
                total["queries"] += self.queries.count - queries

        return timed

    def report(self) -> dict:
        return {
            name: {"seconds": round(t["seconds"], 3), "queries": t["queries"]}
            for name, t in self.totals.items()
        }


def timed(queries: Queries, call) -> tuple[object, dict]:
    started, before = time.perf_counter(), queries.count
    value = call()
    return value, {
        "seconds": round(time.perf_counter() - started, 3),
        "queries": queries.count - before,
    }


def due_indexes() -> list[int]:
    """The scenario's index of every workflow the next pass will ask about."""
    from campaigns.models import Workflow
    from campaigns.services.polling import POLLED

    ids = Workflow.objects.filter(status__in=POLLED).values_list("wms_id", flat=True)
    return [int(wms_id) for wms_id in ids]


def warm_up() -> None:
    """Import what a worker imports once in its life, at its first finished workflow (the
    butler, ~1.5 s): the passes measured are those of a worker that has been running."""
    import lsst.daf.butler  # noqa: F401


def run_bookkeeping(args) -> dict:
    """``polling.poll`` + ``automation.advance`` + ``rules.evaluate``, pass by pass."""
    from bench import fake_wms
    from campaigns.services import automation, polling
    from monitoring import rules

    fake_wms.register()
    warm_up()
    queries, passes = Queries(), []
    with database(args, "bookkeeping"), queries.counting():
        for pass_no in range(1, args.passes + 1):
            fake_wms.InstantWms.reports = {
                str(i): fake_wms.report(i, pass_no) for i in due_indexes()
            }
            with Phases(queries) as phases:
                run, poll = timed(queries, lambda: polling.poll(concurrency=args.concurrency))
            _, advance = timed(queries, automation.advance)
            verdict, alarms = timed(queries, rules.evaluate)
            passes.append(
                {
                    "pass": pass_no,
                    "workflows": run.checked,
                    "changed": run.changed,
                    "failed_lookups": run.failed,
                    **poll,
                    "updates_per_s": rate(run.checked, poll["seconds"]),
                    "phases": phases.report(),
                    "automation": advance,
                    "alarms": alarms | {"result": verdict},
                }
            )
    return summary(passes) | {"concurrency": args.concurrency, "passes": passes}


def summary(passes: list[dict], extra: tuple[str, ...] = ()) -> dict:
    workflows = sum(p["workflows"] for p in passes)
    seconds = sum(p["seconds"] for p in passes)
    result = {
        "workflows": workflows,
        "seconds": round(seconds, 3),
        "updates_per_s": rate(workflows, seconds),
        "queries": sum(p["queries"] for p in passes),
    }
    if passes and "alarms" in passes[0]:
        whole = seconds + sum(p[k]["seconds"] for p in passes for k in ("automation", "alarms"))
        result["seconds_with_automation_and_alarms"] = round(whole, 3)
        result["updates_per_s_with_automation_and_alarms"] = rate(workflows, whole)
    return result


# -- mode 2: the raw-SQL floor ---------------------------------------------------------------

Q = COUNTS  # the quanta counts of every level, in cm's order
OUT = "('rejected', 'superseded')"
FINISHING = "('failed', 'reviewable', 'succeeded')"


class Sql:
    """A cursor that counts its statements (COPY included) and knows cm's table names."""

    def __init__(self, cursor) -> None:
        from django.contrib.contenttypes.models import ContentType

        from campaigns import models

        self.cursor, self.count = cursor, 0
        names = [
            "Workflow",
            "Group",
            "Step",
            "Campaign",
            "Production",
            "Job",
            "TaskLabelCount",
            "FailedQuantum",
            "StatusChange",
            "ProgressSample",
        ]
        self.tables = {n: getattr(models, n)._meta.db_table for n in names}
        kinds = [getattr(models, n) for n in ("Workflow", "Group", "Step", "Campaign", "Job")]
        self.types = {
            m.__name__: t.pk for m, t in ContentType.objects.get_for_models(*kinds).items()
        }
        self.types["Production"] = ContentType.objects.get_for_model(models.Production).pk

    def run(self, statement: str, params: dict | None = None) -> list:
        self.count += 1
        self.cursor.execute(statement.format(**self.tables), params or {})
        return self.cursor.fetchall() if self.cursor.description else []

    def copy(self, table: str, columns: tuple[str, ...], rows) -> None:
        self.count += 1
        target = self.tables.get(table, table)
        with self.cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def floor_rows(due: list[tuple], reports: dict) -> dict[str, list]:
    """What the pass writes, as rows for COPY (cm's own mappings: status, job status, rules)."""
    from campaigns.services import classify, polling

    rows: dict[str, list] = {"wf": [], "tc": [], "job": [], "fq": [], "retry": []}
    for pk, wms_id, status, group_id in due:
        report = reports[wms_id]
        target = polling.target_status(report)
        counts = [sum(getattr(t, f.removeprefix("quanta_")) for t in report.tasks) for f in Q]
        reason = polling._why(target, report) if target != status else ""
        rows["wf"].append((pk, group_id, status, target.value, reason[:500], *counts))
        for t in report.tasks:
            rows["tc"].append(
                (pk, t.label, t.expected, t.succeeded, t.failed, t.running, t.pending, t.held)
            )
        for j in report.jobs:
            rows["job"].append(
                (
                    pk,
                    j.name,
                    j.wms_job_id,
                    json.dumps(j.task_labels),
                    j.attempts,
                    j.error,
                    j.wall_seconds,
                    j.max_rss_mb,
                    polling.JOB_STATUS[j.state].value,
                )
            )
        matched = []
        for q in report.failed_quanta:
            rule = classify.classify(q.error_type, q.message)
            matched.append(rule)
            rows["fq"].append(
                (
                    pk,
                    q.task_label,
                    json.dumps(q.data_id),
                    q.error_type[:200],
                    q.message,
                    rule.name if rule else "",
                    rule.flavor if rule else "",
                    rule.action if rule else "",
                )
            )
        if matched and target != status and all(r and r.action == "retry" for r in matched):
            strictest = min(matched, key=lambda r: r.max_retries)
            rows["retry"].append((pk, group_id, strictest.name, strictest.max_retries))
    return rows


def floor_pass(pass_no: int) -> dict:
    """One pass of the floor: every write of a poll pass, as bulk SQL in one transaction."""
    from django.db import connection, transaction

    from bench import fake_wms

    reports = {str(i): fake_wms.report(i, pass_no) for i in due_indexes()}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        sql = Sql(cursor.cursor)
        now = datetime.now(UTC)
        due = sql.run(
            "SELECT id, wms_id, status, group_id FROM {Workflow} WHERE status IN "
            "('running', 'blocked') AND (next_check_at IS NULL OR next_check_at <= %(now)s) "
            "ORDER BY last_checked_at, id",
            {"now": now},
        )
        rows = floor_rows(due, reports)
        steps = {"read_and_map": time.perf_counter() - started}
        for name, step in [("workflows", _floor_workflows), ("jobs", _floor_jobs),
                           ("rollup", _floor_rollup), ("progress", _floor_progress),
                           ("retries", _floor_retries)]:  # fmt: skip
            begun = time.perf_counter()
            step(sql, rows, now)
            steps[name] = time.perf_counter() - begun
        changed = sum(1 for row in rows["wf"] if row[2] != row[3])
    seconds = time.perf_counter() - started
    steps["commit"] = seconds - sum(steps.values())
    return {
        "pass": pass_no,
        "workflows": len(due),
        "changed": changed,
        "seconds": round(seconds, 3),
        "updates_per_s": rate(len(due), seconds),
        "queries": sql.count,
        "steps": {name: round(value, 3) for name, value in steps.items()},
    }


def _history(sql: Sql, kind: str, select: str, params: dict) -> None:
    """Status history rows from ``select``: (object id, from, to, reason) per change."""
    sql.run(
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types[kind]}, h.a, h.b, h.c, h.d, NULL, h.e "
        f"FROM ({select}) h (a, b, c, d, e)",
        params,
    )


def _floor_workflows(sql: Sql, rows: dict, now) -> None:
    counts = ", ".join(f"{f} integer" for f in Q)
    sql.run(
        "CREATE TEMP TABLE bench_wf (id bigint PRIMARY KEY, group_id bigint, old varchar(24), "
        f"new varchar(24), reason varchar(500), {counts}) ON COMMIT DROP"
    )
    sql.copy("bench_wf", ("id", "group_id", "old", "new", "reason", *Q), rows["wf"])
    finished = (
        f"CASE WHEN t.new = t.old THEN w.finished_at WHEN t.new IN {FINISHING} THEN %(now)s END"
    )
    sql.run(
        "UPDATE {Workflow} w SET "
        + ", ".join(f"{f} = t.{f}" for f in Q)
        + ", last_checked_at = %(now)s, poll_failures = 0, next_check_at = NULL, status = t.new, "
        "status_since = CASE WHEN t.new <> t.old THEN %(now)s ELSE w.status_since END, "
        "status_reason = CASE WHEN t.new <> t.old THEN t.reason ELSE w.status_reason END, "
        f"finished_at = {finished} FROM bench_wf t WHERE w.id = t.id",
        {"now": now},
    )
    _history(
        sql,
        "Workflow",
        "SELECT id, old, new, %(now)s, reason FROM bench_wf WHERE new <> old",
        {"now": now},
    )
    sql.run(
        f"CREATE TEMP TABLE bench_tc (workflow_id bigint, task_label varchar(200), {counts}) "
        "ON COMMIT DROP"
    )
    sql.copy("bench_tc", ("workflow_id", "task_label", *Q), rows["tc"])
    sql.run(
        f"INSERT INTO {{TaskLabelCount}} (workflow_id, task_label, {', '.join(Q)}) "
        f"SELECT workflow_id, task_label, {', '.join(Q)} FROM bench_tc "
        "ON CONFLICT (workflow_id, task_label) DO UPDATE SET "
        + ", ".join(f"{f} = EXCLUDED.{f}" for f in Q)
    )
    sql.run("DELETE FROM {FailedQuantum} WHERE workflow_id IN (SELECT id FROM bench_wf)")
    columns = (
        "workflow_id",
        "task_label",
        "data_id",
        "error_type",
        "message",
        "rule",
        "flavor",
        "action",
    )
    sql.copy("FailedQuantum", columns, rows["fq"])


JOB_COLUMNS = (
    "workflow_id",
    "name",
    "wms_job_id",
    "task_labels",
    "attempts",
    "error",
    "wall_seconds",
    "max_rss_mb",
    "status",
)


def via_running() -> str:
    """The (from, to) moves cm makes by way of running (``rollup.move_where_legal``), as SQL."""
    from campaigns.services.rollup import _system_path
    from campaigns.states import Status

    pairs = [(a, b) for a in Status for b in Status if len(_system_path(a, b)) == 2]
    return ", ".join(f"('{a.value}', '{b.value}')" for a, b in pairs)


def _floor_jobs(sql: Sql, rows: dict, now) -> None:
    """Jobs: insert the new, update the known, history for the new and the moved."""
    sql.run(
        "CREATE TEMP TABLE bench_job (workflow_id bigint, name varchar(200), wms_job_id "
        "varchar(200), task_labels jsonb, attempts integer, error text, wall_seconds float8, "
        "max_rss_mb float8, status varchar(24)) ON COMMIT DROP"
    )
    sql.copy("bench_job", JOB_COLUMNS, rows["job"])
    columns = ", ".join(JOB_COLUMNS)
    kept = ", ".join(f"{c} = EXCLUDED.{c}" for c in JOB_COLUMNS[2:])
    sql.run(
        "WITH old AS (SELECT j.id, j.status FROM {Job} j JOIN bench_job t "
        "  ON j.workflow_id = t.workflow_id AND j.name = t.name), "
        f"up AS (INSERT INTO {{Job}} AS j ({columns}, status_since, status_reason, created_at) "
        f"  SELECT {columns}, %(now)s, '', %(now)s FROM bench_job "
        f"  ON CONFLICT (workflow_id, name) DO UPDATE SET {kept}, "
        "  status_since = CASE WHEN j.status <> EXCLUDED.status THEN %(now)s "
        "    ELSE j.status_since END RETURNING j.id, j.status), "
        "moved AS (SELECT up.id, old.status AS old, up.status AS new, "
        f"  (old.status, up.status) IN ({via_running()}) AS via FROM up LEFT JOIN old "
        "  ON old.id = up.id WHERE old.id IS NULL OR old.status <> up.status) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"  user_id, reason) SELECT {sql.types['Job']}, id, CASE WHEN via THEN 'running' "
        "  ELSE COALESCE(old, '') END, new, %(now)s, "
        "  NULL::integer, CASE WHEN old IS NULL THEN 'reported by the WMS' "
        "  ELSE 'the WMS reports it' END "
        "FROM moved UNION ALL "  # e.g. ready -> succeeded is two moves, by way of running
        f"SELECT {sql.types['Job']}, id, old, 'running', %(now)s, NULL::integer, "
        "  'the WMS reports it' "
        "FROM moved WHERE via",
        {"now": now},
    )


def _set_status(alias: str) -> str:
    """SET clauses moving ``alias`` to ``new.status`` the way ``transition`` does."""
    moved = f"new.status <> {alias}.status"
    return (
        f"status = new.status, status_since = CASE WHEN {moved} THEN %(now)s "
        f"ELSE {alias}.status_since END, status_reason = CASE WHEN {moved} THEN new.reason "
        f"ELSE {alias}.status_reason END, finished_at = CASE WHEN NOT ({moved}) THEN "
        f"{alias}.finished_at WHEN new.status IN {FINISHING} THEN %(now)s "
        f"WHEN new.status = 'running' THEN NULL ELSE {alias}.finished_at END"
    )


def _floor_rollup(sql: Sql, rows: dict, now) -> None:
    """Groups follow their current attempt; steps, campaigns, productions their children."""
    sql.run(
        "CREATE TEMP TABLE bench_group ON COMMIT DROP AS SELECT DISTINCT group_id AS id "
        "FROM bench_wf"
    )
    counts = ", ".join(f"cur.{f}" for f in Q)
    sql.run(
        "WITH cur AS (SELECT DISTINCT ON (group_id) * FROM {Workflow} WHERE group_id IN "
        "  (SELECT id FROM bench_group) AND status <> 'superseded' "
        "  ORDER BY group_id, attempt DESC), "
        "new AS (SELECT g.id, g.status AS old, CASE WHEN cur.status IN ('waiting', 'ready') "
        "  THEN g.status ELSE cur.status END AS status, 'rollup: its current attempt ' || "
        f"  cur.status AS reason, {counts} FROM {{Group}} g JOIN cur ON cur.group_id = g.id), "
        "up AS (UPDATE {Group} g SET "
        + ", ".join(f"{f} = new.{f}" for f in Q)
        + f", {_set_status('g')} FROM new WHERE g.id = new.id) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types['Group']}, id, old, status, %(now)s, NULL, reason "
        "FROM new WHERE status <> old",
        {"now": now},
    )
    levels = [
        ("Step", "Group", "step_id", "bench_group", "bench_step"),
        ("Campaign", "Step", "campaign_id", "bench_step", "bench_campaign"),
        ("Production", "Campaign", "production_id", "bench_campaign", "bench_production"),
    ]
    for parent, child, key, children, parents in levels:
        sql.run(
            f"CREATE TEMP TABLE {parents} ON COMMIT DROP AS SELECT DISTINCT {key} AS id "
            f"FROM {{{child}}} WHERE id IN (SELECT id FROM {children})"
        )
        _floor_parents(sql, parent, child, key, parents, now)


def _floor_parents(sql: Sql, parent: str, child: str, key: str, parents: str, now) -> None:
    sums = ", ".join(
        f"COALESCE(SUM(c.{f}) FILTER (WHERE c.status NOT IN {OUT}), 0) AS {f}" for f in Q
    )
    derived = (
        f"CASE WHEN NOT bool_or(c.status NOT IN {OUT}) THEN NULL "
        "WHEN bool_or(c.status IN ('launch_requested', 'prepared', 'running')) THEN 'running' "
        "WHEN bool_or(c.status = 'blocked') THEN 'blocked' "
        "WHEN bool_or(c.status IN ('waiting', 'ready', 'paused')) THEN CASE WHEN "
        "  bool_or(c.status IN ('succeeded', 'accepted', 'failed', 'reviewable')) "
        "  THEN 'running' END "
        "WHEN bool_and(c.status IN ('succeeded', 'accepted', 'rejected', 'superseded')) "
        "  THEN 'succeeded' "
        "WHEN bool_and(c.status IN ('failed', 'rejected', 'superseded')) THEN 'failed' "
        "ELSE 'reviewable' END"
    )
    sql.run(
        f"WITH agg AS (SELECT c.{key} AS id, {sums}, {derived} AS target FROM {{{child}}} c "
        f"  WHERE c.{key} IN (SELECT id FROM {parents}) GROUP BY c.{key}), "
        "new AS (SELECT p.id, p.status AS old, COALESCE(agg.target, p.status) AS status, "
        "  'rollup: its children ' || COALESCE(agg.target, p.status) AS reason, "
        + ", ".join(f"agg.{f}" for f in Q)
        + f"  FROM {{{parent}}} p JOIN agg ON agg.id = p.id), "
        f"up AS (UPDATE {{{parent}}} p SET "
        + ", ".join(f"{f} = new.{f}" for f in Q)
        + f", {_set_status('p')} FROM new WHERE p.id = new.id) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types[parent]}, id, old, status, %(now)s, NULL, reason "
        "FROM new WHERE status <> old",
        {"now": now},
    )


def _floor_progress(sql: Sql, rows: dict, now) -> None:
    """A progress sample for each polled element whose counts differ from its latest."""
    scopes = [
        ("workflow", "Workflow", "bench_wf"),
        ("group", "Group", "bench_group"),
        ("step", "Step", "bench_step"),
        ("campaign", "Campaign", "bench_campaign"),
    ]
    for scope, table, ids in scopes:
        latest = ", ".join(f"COALESCE(s.{f}, 0)" for f in Q)
        sql.run(
            f"INSERT INTO {{ProgressSample}} (scope, object_id, at, {', '.join(Q)}) "
            f"SELECT %(scope)s, e.id, %(now)s, {', '.join(f'e.{f}' for f in Q)} FROM {{{table}}} e "
            f"LEFT JOIN LATERAL (SELECT {', '.join(Q)} FROM {{ProgressSample}} p "
            "  WHERE p.scope = %(scope)s AND p.object_id = e.id ORDER BY p.at DESC, p.id DESC "
            "  LIMIT 1) s ON true "
            f"WHERE e.id IN (SELECT id FROM {ids}) "
            f"AND ({', '.join(f'e.{f}' for f in Q)}) IS DISTINCT FROM ({latest})",
            {"scope": scope, "now": now},
        )


def _floor_retries(sql: Sql, rows: dict, now) -> None:
    """Automatic retries: a new attempt per due group, the failed one superseded."""
    if not rows["retry"]:
        return
    groups = [row[1] for row in rows["retry"]]
    done = dict(
        sql.run(
            "SELECT group_id || ':' || auto_retry_rule, count(*) FROM {Workflow} WHERE group_id = "
            "ANY(%(groups)s) AND auto_retry_rule <> '' GROUP BY group_id, auto_retry_rule",
            {"groups": groups},
        )
    )
    due = [
        (pk, group, rule)
        for pk, group, rule, limit in rows["retry"]
        if done.get(f"{group}:{rule}", 0) < limit
    ]
    sql.run(
        "CREATE TEMP TABLE bench_retry (id bigint, group_id bigint, rule varchar(100)) "
        "ON COMMIT DROP"
    )
    sql.copy("bench_retry", ("id", "group_id", "rule"), due)
    params = {"now": now, "why": "automatic retry: error rule"}
    sql.run(
        "WITH old AS (SELECT g.id, g.status FROM {Group} g "
        "  JOIN bench_retry r ON r.group_id = g.id), "
        "up AS (UPDATE {Group} g SET status = 'launch_requested', status_since = %(now)s, "
        "  status_reason = %(why)s FROM bench_retry r WHERE g.id = r.group_id) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types['Group']}, id, status, 'launch_requested', %(now)s, "
        "NULL, %(why)s FROM old",
        params,
    )
    sql.run(
        "WITH old AS (SELECT w.id, w.status FROM {Workflow} w JOIN bench_retry r ON r.id = w.id), "
        "up AS (UPDATE {Workflow} w SET status = 'superseded', status_since = %(now)s, "
        "  status_reason = %(why)s, finished_at = COALESCE(w.finished_at, %(now)s) "
        "  FROM bench_retry r WHERE w.id = r.id) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types['Workflow']}, id, status, 'superseded', %(now)s, "
        "NULL, %(why)s FROM old",
        params,
    )
    zeros = ", ".join("0" for _ in Q)
    sql.run(
        "WITH new AS (INSERT INTO {Workflow} (group_id, attempt, wms, wms_id, output_run, "
        "  submit_dir, overrides, poll_failures, auto_retry_rule, archived_files, spec, status, "
        f"  status_since, status_reason, created_at, {', '.join(Q)}) "
        "  SELECT w.group_id, w.attempt + 1, w.wms, '', regexp_replace(w.output_run, '[0-9]+$', "
        "  (w.attempt + 1)::text), '', '{{}}', 0, r.rule, '[]', '{{}}', 'launch_requested', "
        f"  %(now)s, '', %(now)s, {zeros} FROM {{Workflow}} w JOIN bench_retry r ON r.id = w.id "
        "  RETURNING id) "
        "INSERT INTO {StatusChange} (content_type_id, object_id, from_status, to_status, at, "
        f"user_id, reason) SELECT {sql.types['Workflow']}, id, '', 'launch_requested', %(now)s, "
        "NULL, %(why)s FROM new",
        params,
    )


def run_floor(args) -> dict:
    """The floor, pass by pass, each pass one transaction."""
    passes = []
    with database(args, "floor"):
        for pass_no in range(1, args.passes + 1):
            passes.append(floor_pass(pass_no))
    return summary(passes) | {"passes": passes}


# -- mode 3: through the real PanDA client, with latency ------------------------------------------


@contextmanager
def panda_server(count: int, latency_ms: float) -> Iterator[subprocess.Popen]:
    """The slow fake PanDA server in its own process, with ``count`` requests; the PanDA
    settings in this process's environment point at it."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fake_wms",
            "serve",
            str(count),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        words = (server.stdout.readline() if server.stdout else "").split()
        if words[:1] != ["ready"]:
            raise RuntimeError("the fake PanDA server did not start")
        config_root = tempfile.mkdtemp(prefix="cm-bench-pathena-")
        os.environ.update(
            {
                "PANDA_URL": words[1],
                "PANDA_URL_SSL": words[1],
                "PANDACACHE_URL": words[1],
                "PANDA_AUTH": "oidc",
                "PANDA_AUTH_VO": "Rubin",
                "PANDA_AUTH_ID_TOKEN": "cm-test-token",  # tests/fake_panda.py's TOKEN
                "PANDA_VERIFY_HOST": "off",
                "PANDA_CONFIG_ROOT": config_root,
            }
        )
        yield server
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


def panda_pass(server: subprocess.Popen, pass_no: int) -> None:
    assert server.stdin and server.stdout
    server.stdin.write(f"pass {pass_no}\n")
    server.stdin.flush()
    if server.stdout.readline().strip() != "ok":
        raise RuntimeError("the fake PanDA server did not take the pass")


@contextmanager
def failures() -> Iterator[Counter]:
    """Why the poll's failed look-ups failed (the WMS's messages, counted)."""
    from campaigns.services import polling

    seen: Counter = Counter()
    original = polling._back_off

    def back_off(failed, why, now):
        seen.update(message[:160] for message in why.values())
        return original(failed, why, now)

    polling._back_off = back_off
    try:
        yield seen
    finally:
        polling._back_off = original


def run_panda(args) -> dict:
    """``polling.poll`` through PandaWms at each concurrency, ``--panda-passes`` passes each."""
    from django.db import connection

    from bench.fake_wms import FIRST_REQUEST
    from campaigns.services import polling

    count = args.panda_workflows or args.workflows
    warm_up()
    runs = []
    with panda_server(args.workflows, args.latency_ms) as server:
        for concurrency in args.panda_concurrency:
            queries, passes = Queries(), []
            with database(args, f"panda_{concurrency}"), queries.counting():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE campaigns_workflow SET wms = 'panda', "
                        "wms_id = (wms_id::integer + %s)::text",
                        [FIRST_REQUEST],
                    )
                for pass_no in range(1, args.panda_passes + 1):
                    panda_pass(server, pass_no)
                    with Phases(queries) as phases, failures() as why:
                        run, poll = timed(
                            queries, lambda c=concurrency: polling.poll(concurrency=c, limit=count)
                        )
                    recorded = phases.totals.get("record", {}).get("seconds", 0.0)
                    passes.append(
                        {
                            "pass": pass_no,
                            "workflows": run.checked,
                            "changed": run.changed,
                            "failed_lookups": run.failed,
                            **poll,
                            "asking_seconds": round(poll["seconds"] - recorded, 3),
                            "failures": dict(why.most_common(5)),
                            "updates_per_s": rate(run.checked, poll["seconds"]),
                            "phases": phases.report(),
                        }
                    )
            runs.append({"concurrency": concurrency, **summary(passes), "passes": passes})
    return {"latency_ms": args.latency_ms, "runs": runs}


# -- the whole benchmark ----------------------------------------------------------------------

RUNNERS = {"bookkeeping": run_bookkeeping, "floor": run_floor, "panda": run_panda}
TARGETS = {"bookkeeping_updates_per_s": 2000, "share_of_floor": 1 / 3, "panda_pass_seconds": 60}


def verdicts(modes: dict) -> dict:
    """Each target of issue 7 that this run measured, with the number and whether it is met."""
    found = {}
    if "bookkeeping" in modes:
        value = modes["bookkeeping"]["updates_per_s"]
        found["bookkeeping_updates_per_s"] = {
            "value": value,
            "target": ">= 2000",
            "met": value >= 2000,
        }
    if "bookkeeping" in modes and "floor" in modes and modes["floor"]["updates_per_s"]:
        share = modes["bookkeeping"]["updates_per_s"] / modes["floor"]["updates_per_s"]
        found["share_of_floor"] = {
            "value": round(share, 3),
            "target": ">= 0.333",
            "met": share >= 1 / 3,
        }
    for run in modes.get("panda", {}).get("runs", []):
        worst = max(p["seconds"] for p in run["passes"])
        full = run["passes"][0]["workflows"] >= 10000
        found[f"panda_pass_seconds_at_concurrency_{run['concurrency']}"] = {
            "value": worst,
            "workflows_per_pass": run["passes"][0]["workflows"],
            "target": "<= 60 for 10,000 workflows",
            "met": (worst <= 60) if full else None,
        }
    return found


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10000, help="active workflows")
    parser.add_argument("--passes", type=int, default=3, help="poll passes per mode")
    parser.add_argument("--modes", default="bookkeeping,floor,panda")
    parser.add_argument("--concurrency", type=int, default=8, help="the bookkeeping poll's")
    parser.add_argument("--panda-concurrency", default="32", help="comma-separated list")
    parser.add_argument("--panda-workflows", type=int, help="workflows per PanDA pass")
    parser.add_argument("--panda-passes", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--database-server",
        default=os.environ.get("CM_BENCH_SERVER", DEFAULT_URL),
        help="PostgreSQL server URL (its database part is ignored)",
    )
    parser.add_argument("--prefix", default="cm_bench_poll", help="database names start so")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--save", action="store_true", help="keep it in bench/results/")
    args = parser.parse_args(argv)
    if not args.prefix.startswith("cm_bench_poll"):
        parser.error("--prefix must start with cm_bench_poll")
    args.modes = [m for m in args.modes.split(",") if m]
    args.panda_concurrency = [int(c) for c in args.panda_concurrency.split(",")]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = arguments(argv)
    base = f"{args.prefix}_base"
    url = database_url(args.database_server, base)
    create_database(args.database_server, base)
    os.environ.setdefault("CM_LOG_LEVEL", "WARNING")
    common.setup_django(url)
    try:
        migrate()
        started = time.perf_counter()
        build(args.workflows, "bench", str)
        built = round(time.perf_counter() - started, 1)
        modes = {mode: RUNNERS[mode](args) for mode in args.modes}
        measurements = {
            "active_workflows": args.workflows,
            "passes": args.passes,
            "build_seconds": built,
            "modes": modes,
            "targets": verdicts(modes),
        }
        use_database(base)
        result = common.envelope("poll", f"{args.workflows}-active", url, measurements)
    finally:
        use_database(base)
        if not args.keep:
            drop_database(args.database_server, base)
    common.write_result(result, save=args.save)
    return result


if __name__ == "__main__":
    main()
