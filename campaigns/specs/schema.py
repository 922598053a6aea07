"""The spec format, as pydantic models: strict types, no unknown keys.

See docs/specs.md for the format with examples. These models check each file
on its own; references to other elements, inheritance, dependency cycles and
collection names are checked by ``campaigns.specs.plan``.
"""

import string
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campaigns.models.base import NAME_PATTERN, NAME_RULE


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a valid name ({NAME_RULE})")
    return value


def _check_path(depth: int):
    def check(value: str) -> str:
        parts = value.split("/")
        if len(parts) != depth or not all(NAME_PATTERN.match(p) for p in parts):
            shape = "/".join(["production", "campaign", "step", "group"][:depth])
            raise ValueError(f"{value!r} is not a path of the form {shape}")
        return value

    return check


def _check_collection(value: str) -> str:
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a valid collection name (no spaces)")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError(f"{value!r} is not a valid collection name (empty path segment)")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
CampaignPath = Annotated[str, AfterValidator(_check_path(2))]
StepPath = Annotated[str, AfterValidator(_check_path(3))]
GroupPath = Annotated[str, AfterValidator(_check_path(4))]
Collection = Annotated[str, AfterValidator(_check_collection)]
BpsConfig = dict[str, Any]
Wms = Literal["local", "panda"]


class Spec(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# Placeholders each collection-name template may use, and must use to stay unique.
TEMPLATE_FIELDS = {
    "campaign_output": ({"production", "campaign", "output_root"}, set()),
    "step_input": ({"production", "campaign", "output_root", "step"}, {"step"}),
    "step_output": ({"production", "campaign", "output_root", "step"}, {"step"}),
    "group_input": ({"production", "campaign", "output_root", "step", "group"}, {"step", "group"}),
    "group_output": ({"production", "campaign", "output_root", "step", "group"}, {"step", "group"}),
    "workflow_run": (
        {"production", "campaign", "output_root", "step", "group", "attempt"},
        {"step", "group", "attempt"},
    ),
}


class CollectionTemplates(Spec):
    """How butler collection names derive from the hierarchy (``{placeholders}``)."""

    campaign_output: str = "{output_root}"
    step_input: str = "{output_root}/{step}/input"
    step_output: str = "{output_root}/{step}"
    group_input: str = "{output_root}/{step}/{group}/input"
    group_output: str = "{output_root}/{step}/{group}"
    workflow_run: str = "{output_root}/{step}/{group}/attempt_{attempt}"

    @field_validator(*TEMPLATE_FIELDS)
    @classmethod
    def _placeholders_resolve(cls, template: str, info: ValidationInfo) -> str:
        # Checked per field so that an error names the template's own line.
        allowed, required = TEMPLATE_FIELDS[str(info.field_name)]
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as error:
            raise ValueError(f"{template!r} is not a valid template: {error}") from None
        if unknown := used - allowed:
            shown = ", ".join(sorted("{" + u + "}" for u in unknown))
            raise ValueError(
                f"{template!r} uses {shown}, "
                f"which does not resolve here (allowed: {', '.join(sorted(allowed))})"
            )
        if missing := required - used:
            shown = ", ".join(sorted("{" + m + "}" for m in missing))
            raise ValueError(f"{template!r} must use {shown} so that every name it makes is unique")
        try:  # a bad format spec or conversion ({attempt:q}, {step!x}) shows only when filled
            template.format(**{name: 1 if name == "attempt" else "x" for name in allowed})
        except (ValueError, TypeError) as error:
            raise ValueError(f"{template!r} is not a valid template: {error}") from None
        return template

    @model_validator(mode="after")
    def _input_is_not_output(self) -> "CollectionTemplates":
        if self.group_input == self.group_output:
            raise ValueError("group_input and group_output must differ")
        return self


class Split(Spec):
    """How a step's data is split into groups."""

    method: Literal["none", "values", "dimension"] = "none"
    dimension: str | None = None
    values: list[list[int | str]] | None = None
    max_group_size: Annotated[int, Field(ge=1)] | None = None

    @field_validator("values")
    @classmethod
    def _one_group_per_value(
        cls, values: list[list[int | str]] | None
    ) -> list[list[int | str]] | None:
        seen: set[int | str] = set()
        for chunk in values or []:
            if not chunk:
                raise ValueError("each group's list of values must be non-empty")
            if twice := seen & set(chunk):
                raise ValueError(f"value {sorted(twice, key=str)[0]!r} is in more than one group")
            seen.update(chunk)
        return values

    @model_validator(mode="after")
    def _consistent(self) -> "Split":
        if self.method == "values":
            if not self.dimension or not self.values:
                raise ValueError(
                    "method 'values' needs a dimension and a non-empty list of value lists"
                )
            if self.max_group_size is not None:
                raise ValueError(
                    "method 'values' takes no max_group_size (the lists are the groups)"
                )
        elif self.method == "dimension":
            if not self.dimension or self.max_group_size is None:
                raise ValueError("method 'dimension' needs a dimension and a max_group_size")
            if self.values is not None:
                raise ValueError("method 'dimension' takes no values (the butler provides them)")
        elif self.dimension is not None or self.values is not None or self.max_group_size:
            raise ValueError("method 'none' takes no dimension, values or max_group_size")
        return self


class GroupSpec(Spec):
    """A group written out by hand inside a step: a name and its share of the data."""

    name: Name
    data_query: str = ""


class StepDefaults(Spec):
    """Settings every step of a campaign inherits (each step may override)."""

    bps: BpsConfig = Field(default_factory=dict)
    split: Split | None = None
    wms: Wms | None = None


class StepSpec(Spec):
    name: Name
    pipeline_subset: str | None = None
    prerequisites: list[Name] = Field(default_factory=list)
    data_query: str = ""
    split: Split | None = None
    groups: list[GroupSpec] = Field(default_factory=list)
    bps: BpsConfig = Field(default_factory=dict)
    wms: Wms | None = None

    @field_validator("groups")
    @classmethod
    def _split_or_groups(cls, groups: list[GroupSpec], info: ValidationInfo) -> list[GroupSpec]:
        # A field validator (split is validated first) so that the error names groups.
        split = info.data.get("split")
        if groups and split is not None and split.method != "none":
            raise ValueError("give either a split rule or a list of groups, not both")
        return groups


class CampaignSpec(Spec):
    """A campaign; inside a production file ``production`` may be left out."""

    production: Name | None = None
    name: Name
    extends: Name | None = None
    description: str = ""
    butler_repo: str
    input_collections: Annotated[list[Collection], Field(min_length=1)]
    data_query: str = ""
    pipeline: str
    lsst_version: str
    output_root: Collection
    wms: Wms = "local"
    collections: CollectionTemplates = Field(default_factory=CollectionTemplates)
    bps: BpsConfig = Field(default_factory=dict)
    step_defaults: StepDefaults = Field(default_factory=StepDefaults)
    auto_launch: bool = False  # cm launches groups as soon as they are ready
    auto_accept: bool = False  # cm accepts groups and steps that succeeded with no failure
    steps: Annotated[list[StepSpec], Field(min_length=1)]


class ProductionSpec(Spec):
    name: Name
    campaign_type: Name
    description: str = ""
    output_collection: Collection | None = None  # defaults to the production's name
    campaigns: list[dict[str, Any]] = Field(default_factory=list)


class StandaloneStepSpec(StepSpec):
    campaign: CampaignPath


class StandaloneGroupSpec(GroupSpec):
    step: StepPath


class WorkflowSpec(Spec):
    """A new attempt for a group (the outline's createWorkflow)."""

    group: GroupPath
    attempt: Annotated[int, Field(ge=1)] | None = None
    bps_overrides: BpsConfig = Field(default_factory=dict)
