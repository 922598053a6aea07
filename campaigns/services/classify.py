"""Error classification: failed quanta -> rule, flavor and action; automatic retries.

The rules are data (``campaigns/error_rules.yaml``, or ``CM_ERROR_RULES``),
checked on load. After a poll, an attempt whose every failed quantum matched a
``retry`` rule is retried automatically — by cm, so the history says who — as
long as the group has had fewer automatic retries for that rule than it allows.
"""

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from django.conf import settings
from django.db.models import Count
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from campaigns.errors import CampaignError
from campaigns.models import FailedQuantum, Workflow
from campaigns.states import Status


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    pattern: str
    flavor: Literal["infrastructure", "configuration", "pipelines"]
    action: Literal["retry", "review", "fail"]
    max_retries: int = Field(default=0, ge=0)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return pattern


class RuleTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rules: list[Rule] = Field(min_length=1)


@lru_cache(maxsize=4)
def rules(path: str | None = None) -> tuple[Rule, ...]:
    source = Path(path or settings.CM_ERROR_RULES)
    try:
        return tuple(RuleTable.model_validate(yaml.safe_load(source.read_text())).rules)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise CampaignError(f"error rules {source}: {error}") from error


def classify(error_type: str, message: str, table: tuple[Rule, ...] | None = None) -> Rule | None:
    text = f"{error_type}: {message}"
    for rule in table or rules():
        if re.search(rule.pattern, text):
            return rule
    return None


def label(quanta: list[FailedQuantum]) -> None:
    """Fill in each failed quantum's rule, flavor and action (before it is saved)."""
    for quantum in quanta:
        rule = classify(quantum.error_type, quantum.message)
        if rule is not None:
            quantum.rule, quantum.flavor, quantum.action = rule.name, rule.flavor, rule.action


def retries_due(workflows: list[Workflow]) -> list[tuple[Workflow, Rule]]:
    """Finished attempts that a retry rule says to launch again, with the rule."""
    finished = [w for w in workflows if w.status in (Status.FAILED, Status.REVIEWABLE)]
    if not finished:
        return []
    actions: dict[int, set[str]] = {}
    for workflow_id, rule_name in FailedQuantum.objects.filter(workflow__in=finished).values_list(
        "workflow_id", "rule"
    ):
        actions.setdefault(workflow_id, set()).add(rule_name)
    by_name = {rule.name: rule for rule in rules()}
    candidates = []
    for workflow in finished:
        names = actions.get(workflow.pk, set())
        matched = [by_name[n] for n in names if n in by_name]
        if not names or len(matched) < len(names) or any(r.action != "retry" for r in matched):
            continue
        candidates.append((workflow, min(matched, key=lambda r: r.max_retries)))  # strictest
    # Automatic retries each group has had, per rule: one query for the whole pass.
    done = {
        (group, rule): n
        for group, rule, n in Workflow.objects.filter(group__in={w.group_id for w, _ in candidates})
        .exclude(auto_retry_rule="")
        .values_list("group", "auto_retry_rule")
        .annotate(n=Count("id"))
        .order_by()
    }
    return [(w, r) for w, r in candidates if done.get((w.group_id, r.name), 0) < r.max_retries]
