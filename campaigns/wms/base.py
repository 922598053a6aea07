"""What cm needs from a workflow management system, whatever it is.

A WMS submits one rendered BPS config and reports on the run it made. A report
is a snapshot in cm's terms; mapping it to cm statuses is cm's job
(``campaigns.services.polling``), not the WMS's. Every failure to reach or
understand the WMS raises ``WmsUnavailable`` and must never change a status; a
submission the WMS cannot accept at all raises ``WmsRefused``, which fails the launch.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from campaigns.errors import CampaignError


class WmsUnavailable(CampaignError):
    """The WMS could not be asked (timeout, error answer, auth failure, crash): try later."""


class WmsRefused(CampaignError):
    """The submission itself is wrong (bad config, empty quantum graph): retrying won't help."""


class RunState(StrEnum):
    """The state of a whole run, or of one job, as the WMS sees it."""

    PENDING = "pending"  # accepted, nothing running yet
    RUNNING = "running"
    HELD = "held"  # held/suspended: needs attention
    SUCCEEDED = "succeeded"  # finished, every quantum succeeded
    FAILED = "failed"  # finished with failures (see the counts), or could not run
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Submission:
    wms_id: str  # the WMS's id for the run: what ``report`` and ``cancel`` take
    submit_dir: str  # where BPS wrote the run's files


@dataclass
class TaskCounts:
    """Quanta of one pipeline task label in one run."""

    label: str
    expected: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    pending: int = 0
    held: int = 0


@dataclass
class JobReport:
    name: str
    wms_job_id: str
    task_labels: list[str]
    state: RunState
    attempts: int = 0
    error: str = ""
    # Resource use of its last try, where the WMS reports it (None: not known).
    wall_seconds: float | None = None
    max_rss_mb: float | None = None


@dataclass
class FailedQuantumReport:
    task_label: str
    data_id: dict[str, Any]
    error_type: str  # e.g. the exception class
    message: str


@dataclass
class RunReport:
    """One look at a run."""

    state: RunState
    tasks: list[TaskCounts] = field(default_factory=list)
    jobs: list[JobReport] = field(default_factory=list)
    failed_quanta: list[FailedQuantumReport] = field(default_factory=list)
    init_failed: bool = False  # pipetaskInit failed: the run can never be accepted
    message: str = ""
    files: list[Path] = field(default_factory=list)  # logs/reports to copy to the PanDA archive


class Wms(Protocol):
    name: str

    def submit(self, config: Path) -> Submission:
        """Submit the BPS config at ``config``; must not block until the run ends."""
        ...

    def report(self, submission: Submission) -> RunReport:
        """Where the run stands now; raises ``WmsUnavailable`` if that cannot be told."""
        ...

    def cancel(self, submission: Submission) -> None: ...
