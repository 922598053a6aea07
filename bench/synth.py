"""The synthetic production, planned in memory: hierarchy, attempts, job statuses and counts.

Everything is drawn from one seeded ``random.Random``, so a size and a seed give the same rows
every time (timestamps are offsets from the load's ``now``). The plan mirrors what cm writes:

- Campaigns run their steps in order. The first of several campaigns is done (every step
  accepted); the others have accepted steps, two running steps and (the last one) waiting steps.
- A group of a running step follows its current attempt (``running``, ``succeeded``,
  ``reviewable``, ``failed``, ``blocked``, ``accepted`` or ``launch_requested``); earlier attempts
  are ``superseded`` (they ended ``reviewable`` or ``failed`` and were retried).
- Each job runs one quantum of one task label; a workflow's ``TaskLabelCount`` rows count its jobs
  by status, its own counts sum them, a group has its current attempt's counts and steps,
  campaigns and the production sum their children (``campaigns.services.rollup``'s rules).
- A failed attempt failed in pipetaskInit: one failed ``pipetaskInit`` job, no failed quanta.
"""

import random

from bench.history import histories
from bench.model import (
    COUNTS,
    DAY,
    FAIL,
    HELD,
    HOUR,
    READY,
    RUN,
    RUNNING_MIX,
    SIZES,
    STEPS,
    SUCC,
    Attempt,
    Node,
    Plan,
    Size,
    derived_status,
)

__all__ = ["COUNTS", "SIZES", "Plan", "Size", "derived_status", "job_label", "plan"]


def apportion(total: int, weights: list[float], floors: list[int], caps: list[int]) -> list[int]:
    """Integers within [floor, cap] summing to ``total`` (when feasible), shared by weight."""
    shares = list(floors)
    remaining = total - sum(floors)
    weight = sum(w for w, f, c in zip(weights, floors, caps, strict=True) if c > f)
    if remaining <= 0 or weight <= 0:
        return shares
    ideal = [
        remaining * w / weight if c > f else 0
        for w, f, c in zip(weights, floors, caps, strict=True)
    ]
    for i, x in enumerate(ideal):
        shares[i] += min(int(x), caps[i] - floors[i])
    left = total - sum(shares)
    order = sorted(range(len(shares)), key=lambda i: int(ideal[i]) - ideal[i])
    while left > 0:
        before = left
        for i in order:
            if left and shares[i] < caps[i] and weights[i] > 0:
                shares[i] += 1
                left -= 1
        if left == before:
            break
    return shares


def plan(size: Size, seed: int, now: int, wms: str = "panda") -> Plan:
    """The whole production at ``size``, deterministic for ``seed`` and ``now``."""
    rng = random.Random(seed)
    production = Node(1, "bench-drp", created=now - 40 * DAY)
    campaigns, steps, groups = _hierarchy(size, production, now)
    attempts = _attempts(size, rng, steps, now)
    _jobs(size, rng, attempts)
    for attempt in attempts:
        _codes(rng, attempt)
    _roll_up(production, groups, attempts)
    histories(rng, production, attempts, wms, now)
    return Plan(size, now, production, campaigns, steps, groups, attempts)


def _phases(size: Size) -> list[list[str]]:
    """Per campaign, per step: accepted, running or waiting."""
    progress = [1.0, 0.75, 0.5] if size.campaigns > 1 else [0.34]
    phases = []
    for c in range(size.campaigns):
        p = progress[c] if c < len(progress) else 0.5
        done = sum(1 for s in range(size.steps) if (s + 1) / size.steps <= p)
        running = 0 if done == size.steps else min(2, size.steps - done)
        phases.append(
            ["accepted"] * done
            + ["running"] * running
            + ["waiting"] * (size.steps - done - running)
        )
    return phases


def _hierarchy(size: Size, production: Node, now: int):
    campaigns, steps, groups = [], [], []
    total_steps = size.campaigns * size.steps
    per_step = [
        size.groups // total_steps + (i < size.groups % total_steps) for i in range(total_steps)
    ]
    for c, phases in enumerate(_phases(size)):
        done = all(p == "accepted" for p in phases)
        campaign = Node(c + 1, f"drp-{c + 1}", parent=production, index=c)
        campaign.created = now - (30 - 10 * c) * DAY
        production.children.append(campaign)
        campaigns.append(campaign)
        n_accepted = phases.count("accepted")
        for s, phase in enumerate(phases):
            subset, labels, dims = STEPS[s % len(STEPS)]
            step = Node(
                len(steps) + 1,
                subset,
                parent=campaign,
                index=s,
                labels=labels,
                dims=dims,
                subset=subset,
            )
            step.created = campaign.created
            # When the step's work ends: accepted steps one after the other, up to "now".
            back = (n_accepted - s) * 2 * DAY + (5 * DAY if done else 0)
            step.finished = now - back if phase == "accepted" else None
            step.phase = phase
            campaign.children.append(step)
            steps.append(step)
            for g in range(per_step[len(steps) - 1]):
                group = Node(
                    len(groups) + 1,
                    f"group_{g:04d}",
                    parent=step,
                    index=g,
                    labels=labels,
                    dims=dims,
                )
                group.created = campaign.created
                step.children.append(group)
                groups.append(group)
    return campaigns, steps, groups


def _attempt_counts(size: Size, rng: random.Random, launched: list[Node]) -> list[int]:
    """Attempts per launched group (1 to 3) summing to the size's workflows."""
    n, w = len(launched), size.workflows
    counts = [2] * n if w >= 2 * n else [1] * n
    extra = w - sum(counts)
    ones = n // 5 if w >= 2 * n else 0
    order = list(range(n))
    rng.shuffle(order)
    threes = order[: min(n, max(0, extra) + ones)]
    for i in threes:
        counts[i] = 3 if w >= 2 * n else 2
    for i in order[len(threes) : len(threes) + ones]:
        counts[i] = 1
    return counts


def _attempts(size: Size, rng: random.Random, steps: list[Node], now: int) -> list[Attempt]:
    launched = [g for s in steps if s.phase != "waiting" for g in s.children]
    counts = _attempt_counts(size, rng, launched)
    mix, weights = zip(*RUNNING_MIX, strict=True)
    attempts: list[Attempt] = []
    for group, n in zip(launched, counts, strict=True):
        phase = group.parent.phase
        current = "accepted" if phase == "accepted" else rng.choices(mix, weights)[0]
        if current == "accepted":
            origin = "reviewable" if rng.random() < 0.15 else "succeeded"
        elif current in ("running", "blocked", "launch_requested"):
            origin = current
        else:
            origin = current
        if phase == "accepted":
            end = group.parent.finished - rng.randint(1, 20) * HOUR
        else:
            end = now - rng.randint(10, 600) * 60
        # The current attempt, then earlier ones backwards in time.
        chain: list[tuple[str, str, int, int | None, int | None]] = []
        if current in ("running", "blocked"):
            created = end - rng.randint(1, 10) * HOUR
            chain.append((current, origin, created, None, None))
        elif current == "launch_requested":
            chain.append((current, origin, end, None, None))
            created = end
        else:
            finished = end - (rng.randint(1, 6) * HOUR if current == "accepted" else 0)
            created = finished - rng.randint(2, 8) * HOUR
            chain.append(
                (current, origin, created, finished, end if current == "accepted" else None)
            )
        for _ in range(n - 1):
            retried = created
            finished = retried - rng.randint(1, 4) * HOUR
            created = finished - rng.randint(2, 8) * HOUR
            origin = "failed" if rng.random() < 0.15 else "reviewable"
            chain.append(("superseded", origin, created, finished, retried))
        for k, (status, origin, created, finished, settled) in enumerate(reversed(chain), 1):
            attempts.append(
                Attempt(
                    len(attempts) + 1,
                    group,
                    k,
                    status,
                    origin,
                    created,
                    running_at=None if status == "launch_requested" else created + 180,
                    finished=finished,
                    settled=settled,
                )
            )
    return attempts


def _jobs(size: Size, rng: random.Random, attempts: list[Attempt]) -> None:
    """How many jobs and failed quanta each attempt has, summing to the size's totals."""
    fixed = {
        a.id: (0 if a.status == "launch_requested" else 1)
        for a in attempts
        if a.status == "launch_requested" or a.init_failed
    }
    big = next(
        (a for a in attempts if a.status == "running" and a.group.parent.phase == "running"), None
    )
    if big is not None:
        big.big = True
    floors, caps, weights = [], [], []
    for a in attempts:
        if a.id in fixed:
            floors.append(fixed[a.id]), caps.append(fixed[a.id]), weights.append(0.0)
        elif a.big and size.jobs >= 200:
            floors.append(size.jobs // 100), caps.append(size.jobs // 100), weights.append(0.0)
        else:
            (
                floors.append(len(a.group.labels)),
                caps.append(size.jobs),
                weights.append(rng.uniform(0.5, 1.5)),
            )
    for a, n in zip(attempts, apportion(size.jobs, weights, floors, caps), strict=True):
        a.jobs = n
    rates = {"reviewable": 0.2, "running": 0.03, "blocked": 0.05}
    floors, caps, weights = [], [], []
    for a in attempts:
        rate = 0.0 if a.init_failed else rates.get(a.origin, 0.0)
        if a.origin == "reviewable" and a.status == "accepted":
            rate = 0.04
        floor = 1 if a.origin == "reviewable" else 0
        floors.append(floor if rate else 0)
        caps.append(max(0, a.jobs - 1) if rate else 0)
        weights.append(a.jobs * rate)
    for a, n in zip(attempts, apportion(size.failed_quanta, weights, floors, caps), strict=True):
        a.failed = n


def _codes(rng: random.Random, a: Attempt) -> None:
    """Each job's status (one byte per job), then the per-label and total counts."""
    if a.init_failed:
        a.codes = bytes([FAIL])
        a.label_counts = {label: [20, 0, 0, 0, 0, 0] for label in a.group.labels}
    elif a.jobs:
        rest = a.jobs - a.failed
        if a.origin == "running":
            split = [(SUCC, 0.55), (RUN, 0.2), (READY, 0.25)]
        elif a.origin == "blocked":
            split = [(SUCC, 0.5), (RUN, 0.1), (READY, 0.2), (HELD, 0.2)]
        else:
            split = [(SUCC, 1.0)]
        amounts = apportion(rest, [w for _, w in split], [0] * len(split), [rest] * len(split))
        codes = bytearray([FAIL]) * a.failed
        for (code, _), k in zip(split, amounts, strict=True):
            codes += bytes([code]) * k
        rng.shuffle(codes)
        a.codes = bytes(codes)
        labels = a.group.labels
        a.label_counts = {label: [0] * 6 for label in labels}
        n = a.jobs
        for k, code in enumerate(a.codes):
            row = a.label_counts[labels[k * len(labels) // n]]
            row[0] += 1
            row[1 + code] += 1
    a.counts = [sum(c[i] for c in a.label_counts.values()) for i in range(6)]


def job_label(a: Attempt, k: int) -> str:
    """The task label of an attempt's k-th job (jobs are in label blocks)."""
    if a.init_failed:
        return "pipetaskInit"
    labels = a.group.labels
    return labels[k * len(labels) // a.jobs]


def _roll_up(production: Node, groups: list[Node], attempts: list[Attempt]) -> None:
    """Groups take their current attempt's counts; every level above sums its children."""
    current: dict[int, Attempt] = {}
    for a in attempts:
        if a.status != "superseded":
            current[a.group.id] = a
    for group in groups:
        a = current.get(group.id)
        group.counts = list(a.counts) if a else [0] * 6
    for campaign in production.children:
        for step in campaign.children:
            step.counts = [sum(g.counts[i] for g in step.children) for i in range(6)]
        campaign.counts = [sum(s.counts[i] for s in campaign.children) for i in range(6)]
    production.counts = [sum(c.counts[i] for c in production.children) for i in range(6)]
