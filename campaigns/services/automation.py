"""What a campaign does by itself when its spec asks: ``auto_accept`` and ``auto_launch``.

- auto_accept: groups, steps and the campaign that succeeded with no failure are
  accepted by cm (an acceptance rule; reviewable ones still wait for a person).
  Accepting a step releases the steps that needed it.
- auto_launch: ready groups are launched.

Both act through the same services as people do, with cm as the actor.
"""

from campaigns.models import Campaign, Group, Step
from campaigns.services import launch
from campaigns.services.actions import validate
from campaigns.states import Status

RULE = "acceptance rule: the campaign's auto_accept"


def advance() -> dict[str, int]:
    """One pass: accept clean successes, then launch what is ready; returns what it did."""
    accepted = _accept_clean_successes()
    launched = _launch_ready()
    return {"accepted": accepted, "launched": launched}


def _accept_clean_successes() -> int:
    done = 0
    groups = list(
        Group.objects.filter(status=Status.SUCCEEDED, step__campaign__spec__auto_accept=True)
    )
    if groups:
        done += validate(groups, user=None, reason=RULE)
    # A step is accepted once every group is settled; steps are accepted one at a time so
    # a refusal (an unsettled group) does not hold the others back.
    for step in Step.objects.filter(status=Status.SUCCEEDED, campaign__spec__auto_accept=True):
        if not step.groups.exclude(status__in=[Status.ACCEPTED, Status.REJECTED]).exists():
            done += validate(step, user=None, reason=RULE)
    for campaign in Campaign.objects.filter(status=Status.SUCCEEDED, spec__auto_accept=True):
        if not campaign.steps.exclude(status__in=[Status.ACCEPTED, Status.REJECTED]).exists():
            done += validate(campaign, user=None, reason=RULE)
    return done


def _launch_ready() -> int:
    groups = list(Group.objects.filter(status=Status.READY, step__campaign__spec__auto_launch=True))
    return len(launch.request_launches(groups, user=None, reason="the campaign's auto_launch"))
