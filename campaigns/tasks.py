"""Celery tasks of campaigns: thin, they take ids and call services."""

import logging

from celery import shared_task

from campaigns.errors import CampaignError
from campaigns.services import launch
from cm_site.locks import single_run

log = logging.getLogger(__name__)


@shared_task
def process_launches() -> int:
    """Prepare and submit every requested launch (one worker at a time); returns how many."""
    with single_run("process-launches") as held:
        if not held:
            return 0
        done = 0
        for workflow_id in launch.pending_launches():
            try:
                launch.process_launch(workflow_id)
                done += 1
            except CampaignError as error:  # stays requested/prepared: next pass tries again
                log.warning("launch of workflow %s not done: %s", workflow_id, error)
        return done


@shared_task
def purge_idempotency_keys() -> int:
    """Forget API answers kept for Idempotency-Key replays past CM_IDEMPOTENCY_HOURS."""
    from campaigns.api.idempotency import purge_expired

    return purge_expired()
