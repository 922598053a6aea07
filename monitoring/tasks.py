"""Celery tasks of monitoring: the periodic WMS poll."""

from celery import shared_task
from django.conf import settings

from campaigns.services import polling
from cm_site.locks import single_run


@shared_task
def check_workflow_status() -> int | None:
    """One poll pass (checkWorkflowStatus + rollup); skipped if another is still running."""
    with single_run("check-workflow-status") as held:
        if not held:
            return None
        return polling.poll(concurrency=settings.CM_POLL_CONCURRENCY).pk
