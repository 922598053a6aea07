"""The PanDA archive: each workflow's logs and monitoring files, copied out of the WMS.

Files go under ``CM_PANDA_ARCHIVE_DIR/<workflow path>/`` and are listed on the
workflow (paths relative to the archive), so they outlive the WMS's own
clean-up and the launching area.
"""

import shutil
from pathlib import Path

from django.conf import settings

from campaigns.models import Workflow


def archive_files(workflow: Workflow, files: list[Path]) -> list[str]:
    """Copy ``files`` (those that exist) into the workflow's folder; return their relative paths."""
    root = Path(settings.CM_PANDA_ARCHIVE_DIR)
    folder = root / workflow.path
    kept = []
    for source in files:
        source = Path(source)
        if not source.is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / source.name
        shutil.copyfile(source, target)
        kept.append(str(target.relative_to(root)))
    if kept:
        listed = sorted(set(workflow.archived_files) | set(kept))
        Workflow.objects.filter(pk=workflow.pk).update(archived_files=listed)
        workflow.archived_files = listed
    return kept
