"""Progress samples, data products, alarms, audit entries and poll runs of the plan."""

import hashlib
from pathlib import Path

from bench.history import path, replay
from bench.model import (
    DAY,
    Attempt,
)
from bench.rows import Context, Stamp, registered

RULES_FILE = Path(__file__).resolve().parent.parent / "monitoring" / "alarm_rules.yaml"


def progress_samples(cx: Context) -> list[tuple]:
    """A ramp of samples to each element's current counts (the last sample equals them)."""
    rows: list[tuple] = []
    plan = cx.plan
    current = {a.group.id: a for a in plan.attempts if a.status != "superseded"}

    def ramp(scope: str, oid: int, counts: list, start: int, end: int, n: int) -> None:
        if not any(counts):
            return
        last = None
        for i in range(1, n + 1):
            sample = [counts[0]] + [c * i // n for c in counts[1:]]
            if sample == last or not any(sample):
                continue
            last = sample
            rows.append((len(rows) + 1, scope, oid, Stamp(start + (end - start) * i // n), *sample))

    for a in plan.attempts:
        if a.running_at is not None:
            ramp("workflow", a.id, a.counts, a.running_at, a.finished or plan.now - 900, 4)
    for g in plan.groups:
        a = current.get(g.id)
        if a is not None and a.running_at is not None:
            ramp("group", g.id, g.counts, a.running_at, a.finished or plan.now - 900, 6)
    for nodes, scope, n in ((plan.steps, "step", 24), (plan.campaigns, "campaign", 48)):
        for node in nodes:
            r = replay(node.history)
            if r["started"] is not None:
                ramp(scope, node.id, node.counts, r["started"], r["finished"] or plan.now - 900, n)
    return rows


def data_products(cx: Context) -> list[tuple]:
    rows = []
    for a in cx.plan.attempts:
        if not registered(a):
            continue
        for label, counts in a.label_counts.items():
            for suffix, storage in (("metadata", "TaskMetadata"), ("log", "ButlerLogRecords")):
                done = counts[1] + (counts[2] if suffix == "log" else 0)
                rows.append(
                    (
                        len(rows) + 1,
                        a.id,
                        f"{label}_{suffix}",
                        storage,
                        [a.group.dims, "instrument"],
                        done,
                        done * 40_000,
                        Stamp(a.finished + 300),
                    )
                )
    return rows


def rules_version() -> str:
    """What ``monitoring.rules`` stamps on its alarms: the file's version @ its hash."""
    raw = RULES_FILE.read_bytes()
    version = next(
        line.split(":", 1)[1].strip()
        for line in raw.decode().splitlines()
        if line.startswith("version:")
    )
    return f"{version}@{hashlib.sha256(raw).hexdigest()[:8]}"


ALARM_COLS = (
    "id",
    "content_type_id",
    "object_id",
    "kind",
    "severity",
    "message",
    "group_id",
    "campaign_id",
    "variable",
    "algorithm",
    "value",
    "warning_limit",
    "error_limit",
    "details",
    "rules_version",
    "opened_at",
    "updated_at",
    "cleared_at",
    "acknowledged_at",
    "acknowledged_by_id",
)


def _fraction(counts: list) -> float | None:
    done = counts[1] + counts[2]
    return None if done < 5 else counts[2] / done


def alarms(cx: Context) -> list[tuple]:
    """Open alarms on the active groups and their current attempts (the default rules' verdicts),
    some acknowledged; cleared ones on retried attempts."""
    rows: list[tuple] = []
    version, now = rules_version(), cx.plan.now
    by_group: dict[int, list[Attempt]] = {}
    for a in cx.plan.attempts:
        by_group.setdefault(a.group.id, []).append(a)

    def add(level, oid, group, kind, metric, value, warning, error, labels, opened, cleared=None):
        severity = "error" if error is not None and value > error else "warning"
        limit = error if severity == "error" else warning
        note = f"{kind} (bench). Limits: warning above {warning}, error above {error}."
        details = {
            "plot": "bar",
            "title": f"{metric} per task label",
            "x_label": "task label",
            "y_label": metric,
            "series": [{"label": metric, "x": list(labels), "y": [round(value, 4)] * len(labels)}],
            "note": note,
        }
        acked = len(rows) % 4 == 0
        rows.append(
            (
                len(rows) + 1,
                cx.ct[level],
                oid,
                kind,
                severity,
                f"{metric} = {value:g}, above the {severity} limit {limit:g}",
                group.id,
                group.parent.parent.id,
                metric,
                "upper_limit",
                float(value),
                warning,
                error,
                details,
                version,
                Stamp(opened),
                Stamp(cleared or max(opened, now - 600)),
                None if cleared is None else Stamp(cleared),
                Stamp(opened + 1800) if acked else None,
                cx.operator if acked else None,
            )
        )

    for g in cx.plan.groups:
        attempts = by_group.get(g.id, [])
        if not attempts:
            continue
        cur = attempts[-1]
        labels = g.labels
        for old in attempts[:-1]:
            f = _fraction(old.counts)
            if f is not None and f > 0.2 and old.finished:
                add(
                    "workflow",
                    old.id,
                    g,
                    "workflow-failure-fraction",
                    "failure_fraction",
                    f,
                    0.05,
                    0.2,
                    labels,
                    old.finished + 300,
                    cleared=old.settled,
                )
        if g.parent.phase != "running" or g.status == "accepted":
            continue
        opened = (cur.finished or cur.running_at or cur.created) + 300
        opened = min(opened, now - 300)
        if len(attempts) > 2:
            add(
                "group",
                g.id,
                g,
                "group-attempts",
                "attempts",
                len(attempts),
                2,
                3,
                [str(a.attempt) for a in attempts],
                opened,
            )
        f = _fraction(cur.counts)
        if f is not None and f > 0.05:
            add(
                "workflow",
                cur.id,
                g,
                "workflow-failure-fraction",
                "failure_fraction",
                f,
                0.05,
                0.2,
                labels,
                opened,
            )
            add(
                "group",
                g.id,
                g,
                "group-failure-fraction",
                "failure_fraction",
                f,
                0.05,
                0.2,
                labels,
                opened,
            )
        if cur.counts[5] > 0 and cur.status in ("running", "blocked"):
            add(
                "workflow",
                cur.id,
                g,
                "workflow-held-quanta",
                "held_quanta",
                cur.counts[5],
                0,
                10,
                labels,
                opened,
            )
        if cur.init_failed and cur.status == "failed":
            add(
                "workflow",
                cur.id,
                g,
                "workflow-pipetask-init-failed",
                "pipetask_init_failed",
                1,
                None,
                0.5,
                labels,
                opened,
            )
    return rows


AUDIT_COLS = (
    "id",
    "at",
    "user_id",
    "via",
    "action",
    "content_type_id",
    "object_id",
    "element_path",
    "level",
    "parameters",
    "result",
    "http_status",
    "message",
    "idempotency_key",
)
ACTIONS = {"launch_requested": "retry", "accepted": "validate"}


def audit(cx: Context) -> list[tuple]:
    """One entry per person's move (launch, retry, validate) on groups, steps and campaigns."""
    rows: list[tuple] = []
    plan = cx.plan
    vias = ("api", "page", "cli")
    levels = (("campaign", plan.campaigns), ("step", plan.steps), ("group", plan.groups))
    for level, nodes in levels:
        for node in nodes:
            for source, to, at, reason, operator in node.history:
                if not operator:
                    continue
                action = "launch" if source == "ready" else ACTIONS.get(to, to)
                via = vias[len(rows) % 3]
                rows.append(
                    (
                        len(rows) + 1,
                        Stamp(at),
                        cx.operator,
                        via,
                        action,
                        cx.ct[level],
                        node.id,
                        path(node),
                        level,
                        {"reason": reason},
                        "ok",
                        202
                        if via == "api" and action != "validate"
                        else (200 if via == "api" else None),
                        "",
                        "",
                    )
                )
    return rows


def poll_runs(cx: Context) -> list[tuple]:
    """A pass every five minutes over the last day."""
    now = cx.plan.now
    active = sum(1 for a in cx.plan.attempts if a.status in ("running", "blocked"))
    rows = []
    for i in range(288):
        start = now - DAY + i * 300
        rows.append((i + 1, Stamp(start), Stamp(start + 2 + i % 5), active, (i * 7) % 11, 0, ""))
    return rows


POLL_COLS = ("id", "started_at", "finished_at", "checked", "changed", "failed", "error")
