"""Jobs, their status history, per-task counts and failed quanta: the million-row tables,
streamed (generators), one attempt at a time."""

import random
from collections.abc import Iterator

from bench.model import (
    ERROR_WEIGHTS,
    ERRORS,
    FAIL,
    HELD,
    JOB_STATUS,
    READY,
    RUN,
    SUCC,
    Attempt,
)
from bench.rows import Context, Stamp, checked_at
from bench.synth import job_label

PANDA_JOB_BASE = 7_000_000_000
JOB_COLS = (
    "id",
    "status",
    "status_since",
    "status_reason",
    "created_at",
    "started_at",
    "finished_at",
    "last_checked_at",
    "name",
    "wms_job_id",
    "task_labels",
    "attempts",
    "error",
    "workflow_id",
    "max_rss_mb",
    "wall_seconds",
)
CREATED = "reported by the WMS"
MOVED = "rollup: the WMS reports it "


def _job_times(a: Attempt, k: int, code: int, now: int) -> tuple[int, int | None, int | None]:
    """Created, started and finished (seconds) of an attempt's k-th job."""
    start = a.running_at + 300
    end = a.finished if a.finished is not None else now - 600
    span = max(600, end - start)
    created = start + (k * 7919) % span // 2
    if code == READY:
        return created, None, None
    begun = created + 30
    if code in (SUCC, FAIL):
        done = min(end, begun + 300 + (k * 104729) % max(1, span // 2))
        return created, begun, max(done, begun + 60)
    return created, begun, None


def _errors(a: Attempt) -> list[tuple]:
    rng = random.Random(a.id)
    return rng.choices(ERRORS, ERROR_WEIGHTS, k=max(1, a.failed))


def jobs(cx: Context) -> Iterator[tuple]:
    """Every job with its status fields (one creation row plus one move in the history)."""
    job_id, now = 0, cx.plan.now
    for a in cx.plan.attempts:
        errors, f = _errors(a), 0
        checked = checked_at(cx, a)
        for k, code in enumerate(a.codes):
            job_id += 1
            label = job_label(a, k)
            created, started, finished = _job_times(a, k, code, now)
            status = JOB_STATUS[code]
            if code == FAIL:
                if a.init_failed:
                    error = "pipetaskInit failed: MissingDatasetTypeError: no such dataset type"
                else:
                    error = f"{errors[f % len(errors)][0]}: {errors[f % len(errors)][1]}"
                    f += 1
            else:
                error = ""
            since = finished or (started + 60 if code == HELD else created)
            reason = CREATED if code in (READY, RUN) else MOVED + status
            name = "pipetaskInit" if a.init_failed else f"{label}_{k:06d}"
            rss = None if finished is None else float(800 + (job_id * 37) % 5200)
            wall = None if finished is None else float(finished - started)
            yield (
                job_id,
                status,
                Stamp(since),
                reason,
                Stamp(created),
                None if started is None else Stamp(started),
                None if finished is None else Stamp(finished),
                None if checked is None else Stamp(checked),
                name,
                str(PANDA_JOB_BASE + job_id),
                [label],
                (1, 3, 1, 0, 1)[code],
                error,
                a.id,
                rss,
                wall,
            )


def job_history(cx: Context, first_id: int) -> Iterator[tuple]:
    """The jobs' status history: created (ready or running), then the move the WMS reported."""
    ct, job_id, n, now = cx.ct["job"], 0, first_id - 1, cx.plan.now
    for a in cx.plan.attempts:
        for k, code in enumerate(a.codes):
            job_id += 1
            created, started, finished = _job_times(a, k, code, now)
            n += 1
            first = "ready" if code == READY else "running"
            yield (n, ct, job_id, "", first, Stamp(created), CREATED, None)
            if code in (SUCC, FAIL, HELD):
                n += 1
                to = JOB_STATUS[code]
                yield (
                    n,
                    ct,
                    job_id,
                    "running",
                    to,
                    Stamp(finished or started + 60),
                    MOVED + to,
                    None,
                )


def task_counts(cx: Context) -> Iterator[tuple]:
    n = 0
    for a in cx.plan.attempts:
        for label, counts in a.label_counts.items():
            n += 1
            yield (n, a.id, label, *counts)


def _data_id(a: Attempt, k: int) -> dict:
    g = a.group
    if g.dims == "visit":
        return {
            "instrument": "LSSTCam",
            "visit": 2026_0000_00 + g.index * 1000 + k // 189,
            "detector": k % 189,
        }
    return {
        "skymap": "lsst_cells_v1",
        "tract": 2000 + g.index,
        "patch": k % 100,
        "band": "ugrizy"[k % 6],
    }


def failed_quanta(cx: Context) -> Iterator[tuple]:
    n = 0
    for a in cx.plan.attempts:
        if a.init_failed:
            continue
        errors, f = _errors(a), 0
        for k, code in enumerate(a.codes):
            if code != FAIL:
                continue
            n += 1
            error_type, message, rule, flavor, action = errors[f % len(errors)]
            f += 1
            yield (
                n,
                a.id,
                job_label(a, k),
                _data_id(a, k),
                error_type,
                message,
                rule,
                flavor,
                action,
            )
