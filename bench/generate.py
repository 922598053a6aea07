"""Load a synthetic production into a bench PostgreSQL database, fast and deterministic.

    python -m bench.generate --size large [--database-url URL] [--seed 7] [--force]

or, from another benchmark, ``load("large", database_url=url)``. The database must be migrated
(``python manage.py migrate``). Every table is written with ``COPY ... FROM STDIN`` in one
transaction: cm's tables are emptied first (only in a ``cm_bench*`` database, or an empty one),
the rows keep every constraint and index, and the identity sequences are moved past them. The
load's size, seed, row counts and generator version are kept as the database's comment, so an
identical load is skipped (``reused``) unless ``force``. What the data looks like: bench/synth.py
and bench/README.md.
"""

import argparse
import json
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg

from bench import rows as R
from bench import rows_jobs as J
from bench import rows_monitoring as M
from bench.common import RESULTS, database_name, database_url, envelope, write_result
from bench.synth import COUNTS, SIZES, plan

VERSION = 1
DEFAULT_SEED = 7
# Emptied before a load, children first (RESTART IDENTITY CASCADE handles the order anyway).
TABLES = (
    "campaigns_alarm",
    "campaigns_auditentry",
    "campaigns_idempotentrequest",
    "campaigns_dataproduct",
    "campaigns_failedquantum",
    "campaigns_tasklabelcount",
    "campaigns_job",
    "campaigns_progresssample",
    "campaigns_statuschange",
    "campaigns_pollrun",
    "campaigns_workflow",
    "campaigns_group",
    "campaigns_step_prerequisites",
    "campaigns_step",
    "campaigns_campaign",
    "campaigns_production",
)
COUNTED = (
    "campaigns_production",
    "campaigns_campaign",
    "campaigns_step",
    "campaigns_group",
    "campaigns_workflow",
    "campaigns_job",
    "campaigns_tasklabelcount",
    "campaigns_failedquantum",
    "campaigns_progresssample",
    "campaigns_dataproduct",
    "campaigns_alarm",
    "campaigns_statuschange",
    "campaigns_auditentry",
)
OPERATOR = "bench-operator"


def _result_file(size: str):
    return RESULTS / f"generate-{size}.json"


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, R.Stamp):
        return R.iso(value)
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":")).translate(_ESCAPES)
    return str(value)


def _copy(cur: psycopg.Cursor, table: str, columns: Iterable[str], rows: Iterable[tuple]) -> int:
    """COPY the rows in; returns how many."""
    names = ", ".join(f'"{c}"' for c in columns)
    n, chunk = 0, []
    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            chunk.append("\t".join(map(_text, row)))
            n += 1
            if len(chunk) == 5000:
                copy.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            copy.write("\n".join(chunk) + "\n")
    return n


def current_counts(url: str) -> dict[str, int]:
    """Row counts of the benchmarked tables."""
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def recorded(url: str) -> dict | None:
    """What the last load recorded in the database's comment, if any."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        ).fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else None
    except json.JSONDecodeError:
        return None


def is_loaded(size: str, url: str, seed: int = DEFAULT_SEED) -> bool:
    """True when the database holds exactly this size's load (same generator, seed, counts)."""
    meta = recorded(url)
    if not meta or (meta.get("size"), meta.get("seed"), meta.get("version")) != (
        size,
        seed,
        VERSION,
    ):
        return False
    return current_counts(url) == meta.get("counts")


def _guard(cur: psycopg.Cursor, url: str, replace: bool) -> None:
    """Only a cm_bench* database is emptied (or any, with ``replace``); others must be empty."""
    if replace or database_name(url).startswith("cm_bench"):
        return
    if cur.execute("SELECT EXISTS (SELECT 1 FROM campaigns_production)").fetchone()[0]:
        raise SystemExit(
            f"refusing to empty {database_name(url)!r}: not a cm_bench* database and not empty"
        )


def _lookups(cur: psycopg.Cursor) -> tuple[dict[str, int], int, int]:
    ct = dict(
        cur.execute(
            "SELECT model, id FROM django_content_type WHERE app_label = 'campaigns'"
        ).fetchall()
    )
    if "job" not in ct:
        raise SystemExit("the database has no content types: run `python manage.py migrate`")
    (campaign_type,) = cur.execute(
        "SELECT id FROM campaigns_campaigntype WHERE name = 'DataProc'"
    ).fetchone()
    operator = _operator(cur)
    return ct, campaign_type, operator


def _operator(cur: psycopg.Cursor) -> int:
    """The person in the history and audit trail: a user with the operator role, no password."""
    row = cur.execute("SELECT id FROM auth_user WHERE username = %s", [OPERATOR]).fetchone()
    if row is None:
        row = cur.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "VALUES ('!bench', false, %s, 'Bench', 'Operator', '', false, true, now()) "
            "RETURNING id",
            [OPERATOR],
        ).fetchone()
        cur.execute(
            "INSERT INTO auth_user_groups (user_id, group_id) "
            "SELECT %s, id FROM auth_group WHERE name = 'operator' ON CONFLICT DO NOTHING",
            [row[0]],
        )
    return row[0]


def _reset_sequences(cur: psycopg.Cursor) -> None:
    for table in TABLES:
        cur.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


def _anchor(now: datetime | None) -> int:
    moment = now or datetime.now(UTC)
    return int(moment.timestamp()) // 3600 * 3600  # on the hour: a day's loads share timestamps


def load(
    size: str,
    *,
    database_url: str,
    seed: int = DEFAULT_SEED,
    now: datetime | None = None,
    wms: str = "panda",
    force: bool = False,
    analyze: bool = True,
    replace: bool = False,
) -> dict:
    """Load ``size`` into the (migrated) database at ``database_url``; returns the summary:
    size, seed, row counts, seconds per table and in all, and whether an identical load was
    reused. Workflows' ``wms`` is ``panda`` (their ids look like PanDA's) unless given.
    cm's tables are emptied first in a ``cm_bench*`` database; any other must have none of cm's
    rows, unless ``replace`` (the smoke test's own test database)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r} (known: {', '.join(SIZES)})")
    started = time.perf_counter()
    if not force and is_loaded(size, database_url, seed):
        meta = recorded(database_url) or {}
        return {
            **meta,
            "reused": True,
            "seconds": {"total": round(time.perf_counter() - started, 2)},
        }
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    the_plan = plan(SIZES[size], seed, _anchor(now), wms)
    seconds["plan"] = time.perf_counter() - tick
    counts: dict[str, int] = {}
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        _guard(cur, database_url, replace)
        tick = time.perf_counter()
        cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        seconds["truncate"] = time.perf_counter() - tick
        cx = R.Context(the_plan, *_lookups(cur), wms=wms)

        def put(table: str, columns, rows, key: str | None = None) -> None:
            tick = time.perf_counter()
            n = _copy(cur, table, columns, rows)
            key = key or table
            counts[key] = counts.get(key, 0) + n
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - tick

        for table, columns, rows in (
            R.table_production(cx),
            R.table_campaign(cx),
            R.table_step(cx),
            R.table_prerequisites(cx),
            R.table_group(cx, R.first_attempts(the_plan)),
            R.table_workflow(cx),
        ):
            put(table, columns, rows)
        put("campaigns_job", J.JOB_COLS, J.jobs(cx))
        put(
            "campaigns_tasklabelcount",
            ("id", "workflow_id", "task_label", *COUNTS),
            J.task_counts(cx),
        )
        put(
            "campaigns_failedquantum",
            (
                "id",
                "workflow_id",
                "task_label",
                "data_id",
                "error_type",
                "message",
                "rule",
                "flavor",
                "action",
            ),
            J.failed_quanta(cx),
        )
        put(
            "campaigns_progresssample",
            ("id", "scope", "object_id", "at", *COUNTS),
            M.progress_samples(cx),
        )
        put(
            "campaigns_dataproduct",
            (
                "id",
                "workflow_id",
                "dataset_type",
                "storage_class",
                "dimensions",
                "count",
                "size_bytes",
                "recorded_at",
            ),
            M.data_products(cx),
        )
        put("campaigns_alarm", M.ALARM_COLS, M.alarms(cx))
        put("campaigns_auditentry", M.AUDIT_COLS, M.audit(cx))
        put("campaigns_pollrun", M.POLL_COLS, M.poll_runs(cx))
        history = R.element_history(cx)
        put("campaigns_statuschange", R.HISTORY_COLS, history)
        put("campaigns_statuschange", R.HISTORY_COLS, J.job_history(cx, len(history) + 1))
        tick = time.perf_counter()
        _reset_sequences(cur)
        conn.commit()
        seconds["commit"] = time.perf_counter() - tick
    if analyze:
        tick = time.perf_counter()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        seconds["analyze"] = time.perf_counter() - tick
    counts = {t: counts.get(t, 0) for t in COUNTED}
    meta = {"size": size, "seed": seed, "version": VERSION, "now": the_plan.now, "counts": counts}
    with psycopg.connect(database_url, autocommit=True) as conn:
        literal = json.dumps(meta).replace("'", "''")
        conn.execute(f"COMMENT ON DATABASE \"{database_name(database_url)}\" IS '{literal}'")
    seconds["total"] = time.perf_counter() - started
    return {
        **meta,
        "database": database_name(database_url),
        "reused": False,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--database-url", help="default: cm_bench_<size> on 127.0.0.1")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--force", action="store_true", help="load even if already loaded")
    parser.add_argument("--save", action="store_true", help="keep it in bench/results/")
    args = parser.parse_args(argv)
    url = args.database_url or database_url(args.size)
    summary = load(args.size, database_url=url, seed=args.seed, force=args.force)
    if summary["reused"] and _result_file(args.size).exists():
        # The load that made this database is the one worth keeping; say it was reused.
        kept = json.loads(_result_file(args.size).read_text())
        print(json.dumps(kept | {"reused": True}, indent=2))
        return 0
    write_result(envelope("generate", args.size, url, summary), save=args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
