"""Celery tasks of monitoring: the periodic WMS poll."""

from celery import shared_task
from django.conf import settings

from campaigns.services import automation, polling
from cm_site.locks import single_run


@shared_task
def check_workflow_status() -> int | None:
    """One poll pass (checkWorkflowStatus + rollup), then what campaigns do by themselves
    (auto_accept, auto_launch); skipped if another pass is still running."""
    with single_run("check-workflow-status") as held:
        if not held:
            return None
        run = polling.poll(concurrency=settings.CM_POLL_CONCURRENCY)
        automation.advance()
        return run.pk
