"""Status histories: what ``transition`` would have recorded for each element, in order."""

import random

from bench.model import HOUR, Attempt, Node, derived_status


def histories(rng: random.Random, production: Node, attempts: list[Attempt], wms: str, now: int):
    by_group: dict[int, list[Attempt]] = {}
    for a in attempts:
        by_group.setdefault(a.group.id, []).append(a)
        _attempt_history(rng, a, wms, now)
    production.move("ready", production.created, "created from a spec")
    for campaign in production.children:
        campaign.move("ready", campaign.created, "created from a spec")
        for step in campaign.children:
            step.move("waiting", step.created, "created from a spec")
            for group in step.children:
                group.move("waiting", group.created, "created from a spec")
                _group_history(group, by_group.get(group.id, []))
            _parent_history(step, "step")
        _parent_history(campaign, "campaign")
    _parent_history(production, "production")


def _attempt_history(rng: random.Random, a: Attempt, wms: str, now: int) -> None:
    final = a.status
    a.move("launch_requested", a.created, "launch requested")
    if final == "launch_requested":
        return
    a.move("prepared", a.created + 60, "submit config rendered and archived")
    a.move("running", a.running_at, f"submitted to {wms}")
    if final == "blocked":
        a.move("blocked", now - rng.randint(5, 120) * 60, "the WMS reports held")
        return
    if final == "running":
        return
    if a.origin == "succeeded":
        a.move("succeeded", a.finished, "the WMS reports succeeded")
    elif a.origin == "reviewable":
        a.move("reviewable", a.finished, f"{a.failed} quanta failed")
    else:
        a.move("failed", a.finished, "pipetaskInit failed")
    if final == "accepted":
        a.move("accepted", a.settled, "validated after review", operator=True)
    elif final == "superseded":
        a.move("superseded", a.settled, "retried: failures to retry")


def _group_history(group: Node, attempts: list[Attempt]) -> None:
    if not attempts:
        return
    group.move("ready", attempts[0].created - HOUR, "its prerequisites were accepted")
    for a in attempts:
        if a.attempt == 1:
            group.move("launch_requested", a.created, "launch", operator=True)
        else:
            group.move("launch_requested", a.created, "failures to retry", operator=True)
        if a.status == "launch_requested":
            return
        group.move("running", a.running_at, f"attempt {a.attempt} submitted")
        if a.status == "blocked":
            group.move("blocked", a.history[-1][2], "rollup: its current attempt blocked")
        elif a.finished is not None:
            group.move(a.origin, a.finished, f"rollup: its current attempt {a.origin}")
        if a.status == "accepted":
            group.move("accepted", a.settled, "validated after review", operator=True)


def _parent_history(node: Node, level: str) -> None:
    """Ready when its first child starts, running, then whatever its children say."""
    kids = [k for k in node.children if len(k.history) > 1]
    if not kids:
        return
    starts = [at for k in kids for _, to, at, _, _ in k.history if to == "running"]
    if not starts:
        return
    first = min(starts)
    if node.status == "waiting":
        node.move("ready", first - HOUR, "its prerequisites were accepted")
    node.move("running", first, "rollup: its children running")
    derived = derived_status([k.status for k in node.children])
    if derived in (None, "running"):
        return
    last = max(k.history[-1][2] for k in kids)
    node.move(derived, last, f"rollup: its children {derived}")
    if derived == "succeeded" and all(k.status == "accepted" for k in node.children):
        node.move("accepted", last + HOUR, f"{level} validated", operator=True)


def path(node: Node) -> str:
    parts = []
    while node is not None:
        parts.append(node.name)
        node = node.parent
    return "/".join(reversed(parts))


def replay(history: list) -> dict:
    """An element's status fields after its history, as ``transition`` would have set them."""
    started = finished = None
    for _, to, at, _, _ in history:
        if to == "running":
            started, finished = started or at, None
        elif to in ("waiting", "ready"):
            started = finished = None
        elif to in ("failed", "reviewable", "succeeded"):
            finished = at
        elif to in ("accepted", "rejected", "superseded"):
            finished = finished or at
    _, status, since, reason, _ = history[-1]
    return {
        "status": status,
        "since": since,
        "reason": reason,
        "started": started,
        "finished": finished,
        "created": history[0][2],
    }
