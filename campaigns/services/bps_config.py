"""Render a workflow's BPS submit config: the step's one template, plus this group's payload.

Every workflow of a step is rendered from the same ``Step.bps`` (itself inherited
from the campaign); only the collections, the data query, the names and a
retry's overrides differ. The rendered file is archived read-only (as-run)
before submission and linked from the workflow.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from campaigns import archive
from campaigns.butler import adapter
from campaigns.models import Workflow
from campaigns.specs.data import full_query
from campaigns.specs.inherit import deep_merge

# What each WMS needs under any step template (a step's bps may override any of it).
LOCAL_DEFAULTS: dict[str, Any] = {
    "wmsServiceClass": "lsst.ctrl.bps.parsl.ParslService",
    "computeSite": "local",
    # parsl's own retries off: cm retries by its error rules, and sees every failure.
    "site": {"local": {"class": "lsst.ctrl.bps.parsl.sites.Local", "cores": 2, "retries": 0}},
    # The final job writes the provenance graph the local WMS reports from; one core is
    # plenty (its default of 16 processes costs ~20 s on a small machine).
    "extraAggregateOptions": "--mock-storage-classes -o {submitPath}/provenance.qg",
    "finalJob": {"requestCpus": 1},
}


def wms_defaults(wms: str) -> dict[str, Any]:
    if wms == "panda":
        from campaigns.wms.panda import PANDA_DEFAULTS

        return PANDA_DEFAULTS
    return LOCAL_DEFAULTS


def launch_dir(workflow: Workflow) -> Path:
    """Where the workflow's files go in the launching area: one directory per attempt."""
    return Path(settings.CM_LAUNCH_DIR) / workflow.group.path / workflow.name


def render(workflow: Workflow, skip_existing_in: Sequence[str] = ()) -> dict[str, Any]:
    group = workflow.group
    step = group.step
    campaign = step.campaign
    config = deep_merge(deep_merge(wms_defaults(step.wms), step.bps), workflow.overrides)
    here = launch_dir(workflow)
    payload = {
        "payloadName": workflow.path.replace("/", "_"),
        "butlerConfig": adapter.resolve(campaign.butler_repo),
        "inCollection": group.input_collection,
        "dataQuery": full_query(campaign.data_query, step.data_query, group.data_query),
        "outputRun": workflow.output_run,
    }
    config |= {
        "pipelineYaml": f"{Path(campaign.pipeline).resolve()}#{step.pipeline_subset}",
        "project": campaign.production.name,
        "campaign": campaign.path,
        "operator": "cm",
        "submitPath": str(here / "submit"),
        # No pipetask output chain: cm keeps its own chains, a run makes only its RUN.
        "pipetaskOutput": "",
        "payload": deep_merge(config.get("payload", {}), payload),
    }
    if skip_existing_in:
        options = config.get("extraQgraphOptions", "")
        config["extraQgraphOptions"] = (
            f"{options} --skip-existing-in {','.join(skip_existing_in)}".strip()
        )
    return config


def write(workflow: Workflow, skip_existing_in: Sequence[str] = ()) -> tuple[Path, Any]:
    """Render, archive (read-only, content-addressed) and place the config in the launching area.

    Returns the path to submit and the archived config. Rendering the same
    workflow again gives the same bytes, so a retried launch reuses both.
    """
    text = yaml.safe_dump(render(workflow, skip_existing_in), sort_keys=True)
    raw = text.encode()
    config, _ = archive.archive(raw, kind="bps_submit", source_name=f"{workflow.path}.yaml")
    path = launch_dir(workflow) / "submit.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != raw:
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(raw)
        temporary.replace(path)
    return path, config
