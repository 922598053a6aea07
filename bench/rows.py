"""The plan (``bench.synth``) as rows of the hierarchy's tables, as cm's services write them.

Each ``table_*`` function returns (table, columns, rows); rows are tuples of Python values
(``Stamp`` for timestamps). Jobs and their history: ``bench.rows_jobs``; progress samples, data
products, alarms, audit entries and poll runs: ``bench.rows_monitoring``.
"""

import random
from datetime import UTC, datetime
from functools import lru_cache

from bench.history import path, replay
from bench.model import (
    COUNTS,
    Attempt,
    Node,
    Plan,
)

ELEMENT = (
    "status",
    "status_since",
    "status_reason",
    "created_at",
    "started_at",
    "finished_at",
    "last_checked_at",
    *COUNTS,
)
TEMPLATES = {  # campaigns.specs.schema.CollectionTemplates() (the smoke test compares)
    "campaign_output": "{output_root}",
    "step_input": "{output_root}/{step}/input",
    "step_output": "{output_root}/{step}",
    "group_input": "{output_root}/{step}/{group}/input",
    "group_output": "{output_root}/{step}/{group}",
    "workflow_run": "{output_root}/{step}/{group}/attempt_{attempt}",
}
PANDA_TASK_BASE = 40_000_000


class Stamp(int):
    """Seconds since the epoch, written as an ISO 8601 UTC timestamp."""


@lru_cache(maxsize=200_000)
def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


class Context:
    """What rows need besides the plan: ids of content types, the campaign type, the operator."""

    def __init__(
        self, plan: Plan, content_types: dict[str, int], campaign_type: int, operator: int, wms: str
    ):
        self.plan, self.ct, self.campaign_type, self.operator = (
            plan,
            content_types,
            campaign_type,
            operator,
        )
        self.wms = wms
        self.rng = random.Random(plan.now)
        self.output_root = {c.id: f"cm/{plan.production.name}/{c.name}" for c in plan.campaigns}

    def root(self, node: Node) -> str:
        while node.parent is not None and node.parent.parent is not None:
            node = node.parent
        return self.output_root[node.id]


def _element(history: list, counts: list, checked: int | None = None) -> tuple:
    r = replay(history)
    stamp = lambda s: None if s is None else Stamp(s)  # noqa: E731
    return (
        r["status"],
        Stamp(r["since"]),
        r["reason"][:500],
        Stamp(r["created"]),
        stamp(r["started"]),
        stamp(r["finished"]),
        stamp(checked),
        *counts,
    )


def table_production(cx: Context):
    p = cx.plan.production
    cols = (*ELEMENT, "id", "spec", "name", "campaign_type_id", "description", "output_collection")
    row = (
        *_element(p.history, p.counts),
        p.id,
        {"name": p.name, "campaign_type": "DataProc"},
        p.name,
        cx.campaign_type,
        "Synthetic data release production (bench)",
        f"cm/{p.name}",
    )
    return "campaigns_production", cols, [row]


def table_campaign(cx: Context):
    cols = (
        *ELEMENT,
        "id",
        "spec",
        "name",
        "description",
        "butler_repo",
        "input_collections",
        "data_query",
        "pipeline",
        "lsst_version",
        "output_root",
        "output_collection",
        "collection_templates",
        "production_id",
    )
    rows = []
    for c in cx.plan.campaigns:
        root = cx.output_root[c.id]
        spec = {"name": c.name, "butler_repo": "main", "lsst_version": "w_2026_40"}
        rows.append(
            (
                *_element(c.history, c.counts),
                c.id,
                spec,
                c.name,
                f"Data release processing {c.index + 1}",
                "main",
                ["LSSTCam/defaults"],
                "instrument = 'LSSTCam'",
                "$DRP_PIPE_DIR/pipelines/LSSTCam/DRP.yaml",
                "w_2026_40",
                root,
                root,
                TEMPLATES,
                c.parent.id,
            )
        )
    return "campaigns_campaign", cols, rows


def table_step(cx: Context):
    cols = (
        *ELEMENT,
        "id",
        "spec",
        "name",
        "order",
        "pipeline_subset",
        "data_query",
        "input_collection",
        "split",
        "bps",
        "wms",
        "output_collection",
        "campaign_id",
    )
    rows = []
    for s in cx.plan.steps:
        root = cx.root(s)
        split = {"method": "dimension", "dimension": s.dims, "max_group_size": 200}
        bps = {"requestMemory": 4096, "numberOfRetries": 3}
        rows.append(
            (
                *_element(s.history, s.counts),
                s.id,
                {"name": s.name, "split": split},
                s.name,
                s.index + 1,
                s.subset,
                "",
                f"{root}/{s.name}/input",
                split,
                bps,
                cx.wms,
                f"{root}/{s.name}",
                s.parent.id,
            )
        )
    return "campaigns_step", cols, rows


def table_prerequisites(cx: Context):
    rows, n = [], 0
    for c in cx.plan.campaigns:
        for before, after in zip(c.children, c.children[1:], strict=False):
            n += 1
            rows.append((n, after.id, before.id))
    return "campaigns_step_prerequisites", ("id", "from_step_id", "to_step_id"), rows


def table_group(cx: Context, firsts: dict[int, Attempt]):
    cols = (
        *ELEMENT,
        "id",
        "spec",
        "name",
        "data_query",
        "input_collection",
        "output_collection",
        "data_id_count",
        "dataset_count",
        "inputs_built_at",
        "step_id",
    )
    rows = []
    for g in cx.plan.groups:
        out = f"{cx.root(g)}/{g.parent.name}/{g.name}"
        lo = 2026_0000_00 + g.index * 1000 if g.dims == "visit" else 2000 + g.index
        query = f"{g.dims} >= {lo} AND {g.dims} < {lo + (1000 if g.dims == 'visit' else 1)}"
        first = firsts.get(g.id)
        built = None if first is None else Stamp(first.created - 1800)
        ids = None if first is None else max(1, first.jobs // max(1, len(g.labels)))
        rows.append(
            (
                *_element(g.history, g.counts),
                g.id,
                {"name": g.name, "data_query": query},
                g.name,
                query,
                f"{out}/input",
                out,
                ids,
                None if ids is None else 3 * ids,
                built,
                g.parent.id,
            )
        )
    return "campaigns_group", cols, rows


def checked_at(cx: Context, a: Attempt) -> int | None:
    if a.status in ("running", "blocked"):
        return cx.plan.now - 60 * (1 + a.id % 10)
    return None if a.finished is None else a.finished + 120


def registered(a: Attempt) -> bool:
    return a.finished is not None and not a.init_failed


def wms_id(a: Attempt) -> str:
    return "" if a.status == "launch_requested" else str(PANDA_TASK_BASE + a.id)


def table_workflow(cx: Context):
    cols = (
        *ELEMENT,
        "id",
        "spec",
        "attempt",
        "wms",
        "wms_id",
        "output_run",
        "run_registered_at",
        "run_removed_at",
        "group_id",
        "archived_files",
        "auto_retry_rule",
        "next_check_at",
        "overrides",
        "poll_failures",
        "submit_dir",
    )
    rows = []
    for a in cx.plan.attempts:
        g = a.group
        run = f"{cx.root(g)}/{g.parent.name}/{g.name}/attempt_{a.attempt}"
        overrides = {"requestMemory": 8192} if a.attempt > 1 and a.id % 3 == 0 else {}
        files = [f"{wms_id(a)}/bps.log", f"{wms_id(a)}/report.json"] if a.finished else []
        submit = "" if a.status == "launch_requested" else f"/sdf/group/rubin/cm/submit/{run}"
        rows.append(
            (
                *_element(a.history, a.counts, checked_at(cx, a)),
                a.id,
                {"group": path(g), "bps_overrides": overrides},
                a.attempt,
                cx.wms,
                wms_id(a),
                run,
                Stamp(a.finished + 60) if registered(a) else None,
                None,
                g.id,
                files,
                "",
                None,
                overrides,
                0,
                submit,
            )
        )
    return "campaigns_workflow", cols, rows


HISTORY_COLS = (
    "id",
    "content_type_id",
    "object_id",
    "from_status",
    "to_status",
    "at",
    "reason",
    "user_id",
)


def element_history(cx: Context) -> list[tuple]:
    """The status history of the production, campaigns, steps, groups and workflows."""
    rows = []
    plan = cx.plan
    levels = (
        ("production", [plan.production]),
        ("campaign", plan.campaigns),
        ("step", plan.steps),
        ("group", plan.groups),
        ("workflow", plan.attempts),
    )
    for level, elements in levels:
        for e in elements:
            for source, to, at, reason, operator in e.history:
                rows.append(
                    (
                        len(rows) + 1,
                        cx.ct[level],
                        e.id,
                        source,
                        to,
                        Stamp(at),
                        reason[:500],
                        cx.operator if operator else None,
                    )
                )
    return rows


def first_attempts(plan: Plan) -> dict[int, Attempt]:
    firsts: dict[int, Attempt] = {}
    for a in plan.attempts:
        firsts.setdefault(a.group.id, a)
    return firsts
