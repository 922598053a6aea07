"""The one status vocabulary and the one transition table shared by every level.

Production, campaign, step, group, workflow and job all take their status from
``Status`` and may only move along ``TRANSITIONS``. The table is data: the
``cm states`` command, the ``/states/`` page and ``docs/states.md`` are all
rendered from it, and ``campaigns.services.status.transition`` is the only code
that applies it.

Each allowed move says who may make it (``Actor``, described in ``WHO``).
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db import models


class Status(models.TextChoices):
    WAITING = "waiting", "Waiting"
    READY = "ready", "Ready"
    LAUNCH_REQUESTED = "launch_requested", "Launch requested"
    PREPARED = "prepared", "Prepared"
    RUNNING = "running", "Running"
    BLOCKED = "blocked", "Blocked"
    PAUSED = "paused", "Paused"
    FAILED = "failed", "Failed"
    REVIEWABLE = "reviewable", "Reviewable"
    SUCCEEDED = "succeeded", "Succeeded"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Actor(StrEnum):
    SYSTEM = "system"
    MANUAL = "manual"
    BOTH = "both"

    def allows(self, manual: bool) -> bool:
        return self is Actor.BOTH or (self is Actor.MANUAL) == manual


WHO: dict[Actor, str] = {
    Actor.SYSTEM: "cm itself: the WMS poll, the rollup, a worker preparing a launch.",
    Actor.MANUAL: "A person, through the admin, the API, a page or the CLI.",
    Actor.BOTH: "Either cm or a person.",
}


@dataclass(frozen=True)
class StateInfo:
    meaning: str
    colour: str  # a Bootstrap contextual colour, used by every status badge
    final: bool = False


STATE_INFO: dict[Status, StateInfo] = {
    Status.WAITING: StateInfo(
        "Created; waiting for its prerequisites to be accepted.", "secondary"
    ),
    Status.READY: StateInfo("Prerequisites met; may be launched.", "info"),
    Status.LAUNCH_REQUESTED: StateInfo(
        "Someone asked for a launch; a worker will prepare and submit it.", "info"
    ),
    Status.PREPARED: StateInfo(
        "Submit config rendered and archived, input collections built; not yet submitted.", "info"
    ),
    Status.RUNNING: StateInfo(
        "Submitted to the WMS, or (above workflows) some child is active.", "primary"
    ),
    Status.BLOCKED: StateInfo("Held in the WMS or stuck; needs attention to go on.", "warning"),
    Status.PAUSED: StateInfo(
        "Stopped by an operator; nothing new is launched until resumed.", "warning"
    ),
    Status.FAILED: StateInfo(
        "Could not be processed (e.g. pipetaskInit or submission failed); never accepted as is.",
        "danger",
    ),
    Status.REVIEWABLE: StateInfo(
        "Finished with some failures; a person must accept, reject or retry it.", "warning"
    ),
    Status.SUCCEEDED: StateInfo("Finished with no failures; awaiting validation.", "success"),
    Status.ACCEPTED: StateInfo(
        "Validated: good and ready for the next processing.", "success", final=True
    ),
    Status.REJECTED: StateInfo("Invalidated: marked bad, outputs cleaned up.", "dark", final=True),
    Status.SUPERSEDED: StateInfo(
        "Replaced by a newer attempt (a retry/rescue); kept for the record.", "light", final=True
    ),
}


@dataclass(frozen=True)
class Move:
    target: Status
    actor: Actor
    why: str


S, M, B = Actor.SYSTEM, Actor.MANUAL, Actor.BOTH

TRANSITIONS: dict[Status, tuple[Move, ...]] = {
    Status.WAITING: (
        Move(Status.READY, S, "its prerequisites were accepted"),
        Move(Status.PAUSED, M, "pause"),
        Move(Status.REJECTED, M, "invalidate before it ran"),
    ),
    Status.READY: (
        Move(Status.LAUNCH_REQUESTED, B, "launch (by a person or by the scheduler)"),
        Move(Status.RUNNING, S, "rollup: a child started running"),
        Move(Status.WAITING, S, "a prerequisite was invalidated"),
        Move(Status.PAUSED, M, "pause"),
        Move(Status.REJECTED, M, "invalidate before it ran"),
    ),
    Status.LAUNCH_REQUESTED: (
        Move(Status.PREPARED, S, "a worker rendered and archived the submit config"),
        Move(Status.RUNNING, S, "submitted"),
        Move(Status.FAILED, S, "preparing the launch failed"),
        Move(Status.READY, M, "cancel the launch request"),
    ),
    Status.PREPARED: (
        Move(Status.RUNNING, S, "submitted to the WMS"),
        Move(Status.FAILED, S, "submission failed"),
        Move(Status.PAUSED, M, "pause before submission"),
    ),
    Status.RUNNING: (
        Move(Status.BLOCKED, S, "jobs held in the WMS"),
        Move(Status.FAILED, S, "the WMS reports failure (e.g. pipetaskInit)"),
        Move(Status.REVIEWABLE, S, "finished with some failed quanta"),
        Move(Status.SUCCEEDED, S, "finished with no failures"),
        Move(Status.PAUSED, M, "pause (suspend in the WMS)"),
    ),
    Status.BLOCKED: (
        Move(Status.RUNNING, B, "released"),
        Move(Status.FAILED, S, "the WMS reports failure"),
        Move(Status.REVIEWABLE, S, "finished with some failed quanta"),
        Move(Status.PAUSED, M, "pause"),
    ),
    Status.PAUSED: (
        Move(Status.WAITING, M, "resume (prerequisites not yet met)"),
        Move(Status.READY, M, "resume"),
        Move(Status.RUNNING, M, "resume work already in the WMS"),
    ),
    Status.FAILED: (
        Move(Status.LAUNCH_REQUESTED, B, "retry: a new attempt (by a person or a retry rule)"),
        Move(Status.RUNNING, S, "rollup: a retried child is running again"),
        Move(Status.SUPERSEDED, S, "a newer attempt replaced it"),
        Move(Status.REJECTED, M, "invalidate"),
    ),
    Status.REVIEWABLE: (
        Move(Status.ACCEPTED, M, "validate the partial result as good"),
        Move(Status.REJECTED, M, "invalidate"),
        Move(Status.LAUNCH_REQUESTED, B, "retry only what failed"),
        Move(Status.RUNNING, S, "rollup: a retried child is running again"),
        Move(Status.SUPERSEDED, S, "a newer attempt replaced it"),
    ),
    Status.SUCCEEDED: (
        Move(Status.ACCEPTED, B, "validate (by a person or an acceptance rule)"),
        Move(Status.REJECTED, M, "invalidate"),
        Move(Status.REVIEWABLE, M, "flag for review"),
        Move(Status.RUNNING, S, "rollup: a child was retried"),
        Move(Status.SUPERSEDED, S, "a newer attempt replaced it"),
    ),
    Status.ACCEPTED: (Move(Status.REJECTED, M, "invalidate"),),
    Status.REJECTED: (
        Move(Status.ACCEPTED, M, "re-validate while its data still exist"),
        Move(Status.READY, M, "reset, to process it again from scratch"),
    ),
    Status.SUPERSEDED: (),
}


def allowed_moves(source: str) -> dict[str, Move]:
    """The moves out of ``source``, keyed by target status."""
    return {move.target.value: move for move in TRANSITIONS[Status(source)]}


def colour(status: str) -> str:
    return STATE_INFO[Status(status)].colour
