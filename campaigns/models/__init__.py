"""The campaign hierarchy: Production > Campaign > Step > Group > Workflow > Job."""

from campaigns.models.alarms import Alarm
from campaigns.models.archive import ArchivedConfig, ImmutableError
from campaigns.models.audit import AuditEntry, IdempotentRequest
from campaigns.models.base import Element, QuantumCounts, validate_name
from campaigns.models.execution import FailedQuantum, Job, PollRun, TaskLabelCount, Workflow
from campaigns.models.hierarchy import Campaign, CampaignType, Group, Production, Step
from campaigns.models.history import StatusChange
from campaigns.models.monitoring import DataProduct, ProgressSample

#: Every level, top down; each has a ``status`` moved only by ``transition``.
LEVELS = (Production, Campaign, Step, Group, Workflow, Job)

__all__ = [
    "LEVELS",
    "Alarm",
    "ArchivedConfig",
    "AuditEntry",
    "Campaign",
    "CampaignType",
    "DataProduct",
    "Element",
    "FailedQuantum",
    "Group",
    "IdempotentRequest",
    "ImmutableError",
    "Job",
    "PollRun",
    "Production",
    "ProgressSample",
    "QuantumCounts",
    "StatusChange",
    "Step",
    "TaskLabelCount",
    "Workflow",
    "validate_name",
]
