"""Judging the rules and keeping their alarms: ``evaluate``, and the check counts for pages.

``evaluate`` judges every active group and its current attempt against every rule, then keeps
one alarm per rule and object: opened when bad, refreshed when its measurement changes, cleared
when clean or no longer judged. Reads are one query per kind of data and writes one bulk query
per kind of change, so a pass costs the same number of queries for 5 workflows or 10,000.
"""

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from campaigns.bulk import bulk_update
from campaigns.models import Alarm, Group, Workflow

from .metrics import Measurement, Row, Snapshot, take_snapshot
from .plots import Evidence, gather_evidence
from .schema import CLEAN, ERROR, SEVERITIES, UNDEFINED, AlarmRule, RuleSet, current_rules


@dataclass(frozen=True)
class Verdict:
    """One (rule, object) check that is not clean."""

    rule: AlarmRule
    row: Row
    measurement: Measurement
    severity: str

    def message(self) -> str:
        """What the alarm says, e.g. ``failure_fraction = 0.3, above the error limit 0.2 (...)``."""
        rule, m = self.rule, self.measurement
        if self.severity == UNDEFINED:
            unit = rule.info.statistics or "value"
            if m.value is None:
                return f"{rule.metric} not judged: no {unit} yet"
            return f"{rule.metric} not judged: {m.statistics} {unit}, {rule.min_statistics} needed"
        limit = rule.error if self.severity == ERROR else rule.warning
        side = "above" if rule.algorithm == "upper_limit" else "below"
        text = f" ({m.text})" if m.text else ""
        return f"{rule.metric} = {m.value:g}, {side} the {self.severity} limit {limit:g}{text}"

    def fields(self, version: str) -> dict[str, Any]:
        """What the alarm says (``REFRESHED``); a change in any of it refreshes the alarm."""
        return {
            "severity": self.severity,
            "message": self.message(),
            "variable": self.rule.metric,
            "algorithm": self.rule.algorithm,
            "value": None if self.measurement.value is None else float(self.measurement.value),
            "warning_limit": self.rule.warning,
            "error_limit": self.rule.error,
            "rules_version": version,
        }

    def details(self, evidence: Evidence) -> dict:
        """The alarm's plot data, drawn from the evidence read for it."""
        note = f"{self.rule.description} Limits: {self.rule.limits_text()}."
        return self.rule.info.plot(self.row, evidence, note)


# An open alarm is rewritten only when one of these changed (then with fresh details too).
REFRESHED = (
    "severity",
    "message",
    "variable",
    "algorithm",
    "value",
    "warning_limit",
    "error_limit",
    "rules_version",
)


def judge(ruleset: RuleSet, snap: Snapshot) -> tuple[list[Verdict], Counter[tuple[int, str]]]:
    """Every rule on every judged object: the bad checks, and a tally per (group, severity)."""
    verdicts: list[Verdict] = []
    tally: Counter[tuple[int, str]] = Counter()
    for rule in ruleset.rules:
        for row in snap.rows(rule.level):
            m = rule.info.measure(row, snap)
            if m is None:
                continue  # the check does not apply to this object
            severity = rule.judge(m)
            tally[(_group_of(rule.level, row), severity or CLEAN)] += 1
            if severity:
                verdicts.append(Verdict(rule, row, m, severity))
    return verdicts, tally


def _group_of(level: str, row: Row) -> int:
    return row["group_id"] if level == "workflow" else row["pk"]


def _content_types() -> dict[str, int]:
    types = ContentType.objects.get_for_models(Workflow, Group)
    return {"workflow": types[Workflow].pk, "group": types[Group].pk}


# --- Evaluating: writing the alarms ----------------------------------------------------------


def evaluate(now: datetime | None = None, ruleset: RuleSet | None = None) -> dict[str, int]:
    """One pass of every rule: open, refresh and clear alarms; returns what it saw and did.

    Idempotent: a second pass over unchanged data writes nothing. An open alarm keeps its
    acknowledgement when refreshed. Open rule alarms (those with a ``rules_version``) whose
    object is clean or no longer judged, or whose rule is gone, are cleared.
    """
    now = now or timezone.now()
    ruleset = ruleset or current_rules()
    snap = take_snapshot(now)
    verdicts, tally = judge(ruleset, snap)
    written = _write(verdicts, ruleset.version, now)
    totals = dict.fromkeys(SEVERITIES, 0)
    for (_, severity), count in tally.items():
        totals[severity] += count
    judged = len(snap.groups) + len(snap.workflows)
    return {"judged": judged, "checks": sum(tally.values()), **totals, **written}


def _write(verdicts: list[Verdict], version: str, now: datetime) -> dict[str, int]:
    # Every open rule alarm in one query (details, the bulky part, left out); what no verdict
    # claims is left in `still_open` and cleared.
    rule_alarms = Alarm.objects.filter(cleared_at__isnull=True).exclude(rules_version="")
    still_open = {(a.content_type_id, a.object_id, a.kind): a for a in rule_alarms.defer("details")}
    new, changed = _plan(verdicts, still_open, version, now)
    _add_details(new + changed)
    if not (new or changed or still_open):
        return {"raised": 0, "refreshed": 0, "cleared": 0}  # the usual pass: nothing to write
    with transaction.atomic():
        # Conflicts are ignored: a concurrent pass (`cm alarms evaluate`) opened the same one.
        Alarm.objects.bulk_create([a for _, a in new], ignore_conflicts=True)
        bulk_update([a for _, a in changed], [*REFRESHED, "details", "updated_at"])
        gone = [a.pk for a in still_open.values()]
        cleared = Alarm.objects.filter(pk__in=gone, cleared_at__isnull=True).update(cleared_at=now)
    return {"raised": len(new), "refreshed": len(changed), "cleared": cleared}


CheckKey = tuple[int, int, str]  # (content type, object id, rule name): one check
Planned = list[tuple[Verdict, Alarm]]


def _plan(
    verdicts: list[Verdict], still_open: dict[CheckKey, Alarm], version: str, now: datetime
) -> tuple[Planned, Planned]:
    """The alarms to open and those to refresh; claimed open alarms leave ``still_open``."""
    types = _content_types()
    new: Planned = []
    changed: Planned = []
    for verdict in verdicts:
        fields = verdict.fields(version)
        key = (types[verdict.rule.level], verdict.row["pk"], verdict.rule.name)
        alarm = still_open.pop(key, None)
        if alarm is None:
            new.append((verdict, _new_alarm(verdict, key, fields, now)))
        elif any(getattr(alarm, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(alarm, name, value)
            alarm.updated_at = now
            changed.append((verdict, alarm))
    return new, changed


def _new_alarm(verdict: Verdict, key: CheckKey, fields: dict[str, Any], now: datetime) -> Alarm:
    content_type_id, object_id, kind = key
    return Alarm(
        content_type_id=content_type_id,
        object_id=object_id,
        kind=kind,
        group_id=_group_of(verdict.rule.level, verdict.row),
        campaign_id=verdict.row["campaign_id"],
        opened_at=now,
        updated_at=now,
        **fields,
    )


def _add_details(pairs: Planned) -> None:
    # Plots are drawn only for alarms being written: unchanged ones keep theirs, so a quiet
    # pass reads no evidence at all.
    wanted: dict[str, set[int]] = defaultdict(set)
    for verdict, _ in pairs:
        for kind in verdict.rule.info.evidence:
            wanted[kind].add(verdict.row["pk"])
    evidence = gather_evidence(wanted)
    for verdict, alarm in pairs:
        alarm.details = verdict.details(evidence)


# --- Counts for the pages --------------------------------------------------------------------


def check_counts_by_group(
    group_ids: Collection[int], now: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Per group, its and its current attempt's checks: error, warning, undefined and clean.

    The first three count the open alarms on those objects, so they match the alarms a page
    lists: rule alarms whose check applies, and cm's own (e.g. wms-unreachable), each its own
    failed check. Clean is the rule checks that apply minus their alarms. A constant number of
    queries for any number of groups; a group not judged (settled, never launched) has all 0.
    """
    snap = take_snapshot(now or timezone.now(), group_ids)
    applies, judged = _checks_that_apply(current_rules(), snap)
    counts = {pk: dict.fromkeys(SEVERITIES, 0) for pk in group_ids}
    for group_id in applies.values():
        counts[group_id][CLEAN] += 1
    alarms = Alarm.objects.filter(group_id__in=group_ids, cleared_at__isnull=True)
    fields = ("content_type_id", "object_id", "kind", "severity", "rules_version")
    for content_type_id, object_id, kind, severity, version in alarms.values_list(*fields):
        if version:  # a rule's: counted only if its check still applies (else it will clear)
            owner = applies.get((content_type_id, object_id, kind))
            if owner is not None:
                counts[owner][CLEAN] -= 1
        else:
            owner = judged.get((content_type_id, object_id))
        if owner is not None:
            counts[owner][severity] += 1
    return counts


def _checks_that_apply(
    ruleset: RuleSet, snap: Snapshot
) -> tuple[dict[CheckKey, int], dict[tuple[int, int], int]]:
    """(content type, object, rule) of every check that applies, and (content type, object)
    of every judged object, each mapped to its group."""
    types = _content_types()
    applies: dict[CheckKey, int] = {}
    judged: dict[tuple[int, int], int] = {}
    for level in ("workflow", "group"):
        for row in snap.rows(level):
            judged[(types[level], row["pk"])] = _group_of(level, row)
    for rule in ruleset.rules:
        for row in snap.rows(rule.level):
            if rule.info.measure(row, snap) is not None:
                applies[(types[rule.level], row["pk"], rule.name)] = _group_of(rule.level, row)
    return applies, judged


def check_counts(group: Group, now: datetime | None = None) -> dict[str, int]:
    """The four counts of Fermi's alarm page for one group: error, warning, undefined, clean."""
    return check_counts_by_group([group.pk], now)[group.pk]
