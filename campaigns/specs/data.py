"""What the planner checks against a campaign's butler repository and pipeline.

Problems are reported at the spec line that caused them: an unreachable
repository at ``butler_repo``, an unknown subset at the step's
``pipeline_subset``, a split with no data at ``split``.
"""

from typing import Any

from campaigns.butler import adapter, pipelines
from campaigns.errors import CampaignError
from campaigns.specs.problems import FieldPath
from campaigns.specs.schema import Split


def full_query(*parts: str) -> str:
    """AND the non-empty parts of a data query (campaign, step, group)."""
    present = [part.strip() for part in parts if part and part.strip()]
    if len(present) <= 1:
        return present[0] if present else ""
    return " AND ".join(f"({part})" for part in present)


class CampaignData:
    """A campaign's repository and pipeline, opened once per plan."""

    def __init__(self, plan, fields: dict[str, Any], where: dict[str, FieldPath]):
        self.plan = plan
        self.label: str = fields["butler_repo"]
        self.pipeline: str = fields["pipeline"]
        self.input_collections: list[str] = list(fields["input_collections"])
        self.data_query: str = fields.get("data_query", "")
        self.repo: adapter.Repo | None = None
        self.missing_inputs: list[str] = []
        self.subsets: frozenset[str] | None = None
        self.inputs: tuple[str, ...] = ()
        try:
            self.repo = adapter.repo(self.label)
            self._check_inputs_exist(where.get("input_collections", where["butler_repo"]))
        except CampaignError as error:
            plan.problems.append(plan.loaded.problem(where["butler_repo"], str(error)))
        try:
            self.subsets = pipelines.subsets(self.pipeline)
            self.inputs = pipelines.input_dataset_types(self.pipeline)
        except CampaignError as error:
            plan.problems.append(plan.loaded.problem(where["pipeline"], str(error)))

    def _check_inputs_exist(self, where: FieldPath) -> None:
        assert self.repo is not None
        missing = sorted(
            set(self.input_collections) - set(self.repo.existing(self.input_collections))
        )
        self.missing_inputs = missing
        if missing:
            self.plan.problems.append(
                self.plan.loaded.problem(
                    where, f"input collection(s) {', '.join(missing)} not in butler {self.label!r}"
                )
            )

    def check_subset(self, subset: str, where: FieldPath) -> None:
        if self.subsets is not None and subset not in self.subsets:
            known = ", ".join(sorted(self.subsets)) or "none"
            self.plan.problems.append(
                self.plan.loaded.problem(
                    where, f"pipeline {self.pipeline} has no subset {subset!r} (subsets: {known})"
                )
            )

    def split_values(self, split: Split, step_query: str, where: FieldPath) -> list[Any]:
        """The values of the split dimension among the campaign's input data for this step."""
        if self.repo is None or not self.inputs or not split.dimension or self.missing_inputs:
            return []
        query = full_query(self.data_query, step_query)
        try:
            values = self.repo.dimension_values(
                split.dimension, self.inputs, self.input_collections, query
            )
        except CampaignError as error:
            self.plan.problems.append(self.plan.loaded.problem(where, str(error)))
            return []
        if not values:
            self.plan.problems.append(
                self.plan.loaded.problem(
                    where,
                    f"no {', '.join(self.inputs)} datasets in {', '.join(self.input_collections)} "
                    f"match {query!r}: nothing to split by {split.dimension}",
                )
            )
        return values
