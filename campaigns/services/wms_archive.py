"""The PanDA archive: each workflow's logs and monitoring files, copied out of the WMS.

Files go under ``CM_PANDA_ARCHIVE_DIR/<workflow path>/`` and are listed on the
workflow (paths relative to the archive), so they outlive the WMS's own
clean-up and the launching area.
"""

import shutil
from pathlib import Path

from django.conf import settings

from campaigns.bulk import bulk_update
from campaigns.models import Workflow


def archive_files(workflows: dict[Workflow, list[Path]]) -> int:
    """Copy each workflow's ``files`` (those that exist) into its folder and list them on it
    (paths relative to the archive), with one update for all of them; returns how many
    files were copied."""
    root = Path(settings.CM_PANDA_ARCHIVE_DIR)
    listed, copied = [], 0
    for workflow, files in workflows.items():
        kept = _copy(files, root / workflow.path, root)
        if kept:
            workflow.archived_files = sorted(set(workflow.archived_files) | set(kept))
            listed.append(workflow)
            copied += len(kept)
    bulk_update(listed, ["archived_files"])
    return copied


def _copy(files: list[Path], folder: Path, root: Path) -> list[str]:
    kept = []
    for source in map(Path, files):
        if source.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / source.name
            shutil.copyfile(source, target)
            kept.append(str(target.relative_to(root)))
    return kept
