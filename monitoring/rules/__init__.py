"""Alarm rules: versioned limits on workflow and group metrics, judged in bulk after each poll.

The rules are data (``monitoring/alarm_rules.yaml``, or ``CM_ALARM_RULES``). ``evaluate`` judges
every active group and its current attempt against every rule and keeps one alarm per rule and
object; ``check_counts`` gives a page the checks of a group by severity. Format, metrics, the
plot contract of ``Alarm.details`` and what a pass costs: docs/alarms.md.

The package, in the order a pass uses it:

- ``schema``: the rules file (``load_rules``, ``current_rules``, ``AlarmRule``) and ``METRICS``,
  the metrics a rule may name;
- ``metrics``: the snapshot of judged objects and one function per metric;
- ``plots``: the evidence behind an alarm's plot and the plot data (``Alarm.details``);
- ``evaluation``: ``evaluate`` (judge, then open, refresh and clear alarms) and the counts.

Callers import from here (``from monitoring import rules``); the submodules are the layout.
"""

from .evaluation import REFRESHED, Verdict, check_counts, check_counts_by_group, evaluate, judge
from .metrics import Measurement, Snapshot, take_snapshot
from .plots import Evidence, gather_evidence
from .schema import (
    CLEAN,
    ERROR,
    METRICS,
    SEVERITIES,
    UNDEFINED,
    WARNING,
    AlarmRule,
    Metric,
    RuleFile,
    RulesError,
    RuleSet,
    current_rules,
    load_rules,
)

__all__ = [
    "CLEAN",
    "ERROR",
    "METRICS",
    "REFRESHED",
    "SEVERITIES",
    "UNDEFINED",
    "WARNING",
    "AlarmRule",
    "Evidence",
    "Measurement",
    "Metric",
    "RuleFile",
    "RuleSet",
    "RulesError",
    "Snapshot",
    "Verdict",
    "check_counts",
    "check_counts_by_group",
    "current_rules",
    "evaluate",
    "gather_evidence",
    "judge",
    "load_rules",
    "take_snapshot",
]
