"""The rules file: the metrics a rule may name, one rule, the file, and loading it.

A rules file is data (``monitoring/alarm_rules.yaml``, or ``CM_ALARM_RULES``), read with the spec
loader and checked strictly, so a bad file is refused naming its file, line and field.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from campaigns.errors import CampaignError
from campaigns.specs.loader import load_spec_file
from campaigns.specs.problems import SpecError, SpecProblem
from campaigns.specs.validation import validate

from . import metrics, plots
from .metrics import Measurement, Row, Snapshot
from .plots import Evidence

ERROR, WARNING, UNDEFINED = "error", "warning", "undefined"  # Alarm.Severity
CLEAN = "clean"
SEVERITIES = (ERROR, WARNING, UNDEFINED, CLEAN)
RULE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Metric:
    """How to measure one metric for a row, and how to plot a bad one."""

    measure: Callable[[Row, Snapshot], Measurement | None]
    plot: Callable[[Row, Evidence, str], dict]
    evidence: tuple[str, ...]  # which Evidence the plot reads
    statistics: str = ""  # what the statistics count; empty: min_statistics does not apply


QUANTA = "finished quanta"
# Every metric a rule may name, by level; docs/alarms.md describes each.
METRICS: dict[str, dict[str, Metric]] = {
    "workflow": {
        "failure_fraction": Metric(
            metrics.failure_fraction, plots.plot_failure_fraction, ("tasks",), QUANTA
        ),
        "minutes_without_progress": Metric(
            metrics.minutes_without_progress, plots.plot_progress, ("samples",)
        ),
        "held_quanta": Metric(metrics.held_quanta, plots.plot_held, ("tasks", "labels")),
        "missing_outputs": Metric(metrics.missing_outputs, plots.plot_missing, ("tasks",)),
        "pipetask_init_failed": Metric(
            metrics.pipetask_init_failed, plots.plot_init, ("init_errors",)
        ),
        "max_rss_mb": Metric(metrics.max_rss_mb, plots.plot_memory, ("labels",)),
    },
    "group": {
        "attempts": Metric(metrics.attempts, plots.plot_attempts, ("attempts",)),
        "failure_fraction": Metric(
            metrics.failure_fraction, plots.plot_group_fraction, ("attempts",), QUANTA
        ),
    },
}


class AlarmRule(BaseModel):
    """One rule: a limit on one metric of every judged object of one level."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(max_length=64)
    level: Literal["workflow", "group"]
    metric: str
    algorithm: Literal["upper_limit", "lower_limit"]
    warning: float | None = None
    error: float | None = None
    min_statistics: int = Field(default=0, ge=0)
    description: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _kebab_case(cls, name: str) -> str:
        if not RULE_NAME.match(name):
            raise ValueError(f"{name!r} is not kebab-case (e.g. workflow-failure-fraction)")
        return name

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str, info: ValidationInfo) -> str:
        level = info.data.get("level")  # absent when the level itself was refused
        if level is not None and metric not in METRICS[level]:
            known = ", ".join(METRICS[level])
            raise ValueError(f"unknown {level} metric {metric!r} (known: {known})")
        return metric

    @field_validator("error")
    @classmethod
    def _limits_in_order(cls, error: float | None, info: ValidationInfo) -> float | None:
        warning, algorithm = info.data.get("warning"), info.data.get("algorithm")
        if error is None or warning is None or algorithm is None:
            return error
        upper = algorithm == "upper_limit"
        if (upper and not warning < error) or (not upper and not warning > error):
            side = "above" if upper else "below"
            raise ValueError(
                f"with {algorithm} the error limit must be {side} the warning {warning:g}"
            )
        return error

    @field_validator("min_statistics")
    @classmethod
    def _has_statistics(cls, minimum: int, info: ValidationInfo) -> int:
        level, metric = info.data.get("level"), info.data.get("metric")
        known = METRICS.get(level or "", {}).get(metric or "")
        if minimum and known is not None and not known.statistics:
            raise ValueError(f"{metric} has no statistics: min_statistics does not apply")
        return minimum

    @model_validator(mode="after")
    def _some_limit(self) -> "AlarmRule":
        if self.warning is None and self.error is None:
            raise ValueError("give a warning limit, an error limit, or both")
        return self

    @property
    def info(self) -> Metric:
        """The metric this rule limits: how to measure and plot it."""
        return METRICS[self.level][self.metric]

    def beyond(self, value: float, limit: float | None) -> bool:
        """Whether a value is on the bad side of a limit (never, with no limit)."""
        if limit is None:
            return False
        return value > limit if self.algorithm == "upper_limit" else value < limit

    def judge(self, m: Measurement) -> str | None:
        """The severity of a measurement, or None when it is clean."""
        if m.value is None or (m.statistics is not None and m.statistics < self.min_statistics):
            return UNDEFINED
        if self.beyond(m.value, self.error):
            return ERROR
        return WARNING if self.beyond(m.value, self.warning) else None

    def limits_text(self) -> str:
        """The limits in words, e.g. ``warning above 0.05, error above 0.2``."""
        side = "above" if self.algorithm == "upper_limit" else "below"
        limits = [
            (s, v) for s, v in ((WARNING, self.warning), (ERROR, self.error)) if v is not None
        ]
        return ", ".join(f"{s} {side} {v:g}" for s, v in limits)


class RuleFile(BaseModel):
    """A whole rules file: its version and at least one rule."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: str = Field(min_length=1, max_length=24, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    rules: list[AlarmRule] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _number_or_text(cls, version: object) -> object:
        if isinstance(version, int) and not isinstance(version, bool):
            return str(version)
        return version


class RulesError(CampaignError):
    """A rules file cannot be used. Holds every problem found, each with file, line and field."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        super().__init__(
            "alarm rules refused:\n" + "\n".join(f"  {problem}" for problem in self.problems)
        )


@dataclass(frozen=True)
class RuleSet:
    """A checked rules file; ``version`` (its own version @ a content hash) goes on its alarms."""

    path: str
    version: str
    rules: tuple[AlarmRule, ...]


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and check a rules file (by default ``CM_ALARM_RULES``); ``RulesError`` if bad."""
    source = Path(path or settings.CM_ALARM_RULES)
    try:
        loaded = load_spec_file(source)
    except SpecError as error:
        raise RulesError(error.problems) from None
    table, problems = validate(RuleFile, loaded.data, loaded)
    seen: dict[str, int] = {}
    for index, rule in enumerate(table.rules if table else []):
        if rule.name in seen:
            message = f"duplicate rule name {rule.name!r} (first in rules[{seen[rule.name]}])"
            problems.append(loaded.problem(("rules", index, "name"), message))
        seen.setdefault(rule.name, index)
    if problems or table is None:
        raise RulesError(problems)
    digest = hashlib.sha256(loaded.raw).hexdigest()[:8]
    return RuleSet(str(source), f"{table.version}@{digest}", tuple(table.rules))


def current_rules() -> RuleSet:
    """The configured rules, read again only when the file changes."""
    path = Path(settings.CM_ALARM_RULES)
    try:
        stat = path.stat()
    except OSError:
        return load_rules(path)  # reports the missing file properly
    return _cached_rules(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _cached_rules(path: str, mtime_ns: int, size: int) -> RuleSet:
    # The key holds the file's mtime and size, so an edited file is a new key.
    return load_rules(path)
