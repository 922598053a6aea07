"""Celery tasks of monitoring: the periodic WMS poll."""

from celery import shared_task
from django.conf import settings

from campaigns.services import automation, polling
from cm_site.locks import single_run
from monitoring import rules


@shared_task
def check_workflow_status() -> int | None:
    """One poll pass (checkWorkflowStatus + rollup), then what campaigns do by themselves
    (auto_accept, auto_launch), then the alarm rules on what is left active; skipped if
    another pass is still running."""
    with single_run("check-workflow-status") as held:
        if not held:
            return None
        run = polling.poll(concurrency=settings.CM_POLL_CONCURRENCY)
        automation.advance()
        # Last, so alarms judge the statuses the poll and automation just wrote; a broken
        # rules file fails the task loudly only after the poll's work is committed.
        rules.evaluate()
        return run.pk
