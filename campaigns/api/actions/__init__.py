"""Actions: launch, retry, validate, invalidate (one element, or a filtered bulk) and acknowledge.

Each calls the same service as the pages, the admin and the CLI, inside
``campaigns.services.audit.audited``, so every attempt is recorded, refused or not.
A move the element's status does not allow answers 409 with the status and the
moves a person may make from it; bad input answers 400 with field errors. Launch
and retry only record the request (202, with a link to the new attempt): a worker
submits it. An ``Idempotency-Key`` header makes any of them safe to send again
(``campaigns.api.idempotency``). See docs/api.md, "Actions".

The modules, each importing only those listed before it:

- ``levels``: the levels an action may name, and reading them with their paths;
- ``bodies``: the request bodies (strict: an unknown field is an error);
- ``rules``: whether a move is allowed now, and a bulk dry run's reason for each element;
- ``answers``: the response bodies, the 409 for a refused move, the schema's error answers;
- ``base``: what every action view shares (role, JSON body, audit, launching one group);
- ``single``: one element's actions and acknowledging an alarm, with their schema;
- ``bulk``: the filtered selection and the bulk actions, with their schema;
- ``routes``: ``urlpatterns``, included by ``campaigns.api.urls``.

This package re-exports their public names, so ``from campaigns.api import actions`` and
``actions.urlpatterns`` work as before the split. To change a constant in a test (say
``BULK_LIMIT``), patch the module that reads it (``actions.bulk``), not this package.
"""

from campaigns.api.actions.answers import (
    ERRORS,
    IN_PROGRESS,
    Acknowledged,
    ActionConflict,
    ActionError,
    ActionRefusal,
    ActionStatus,
    BulkActionDone,
    BulkActionItem,
    InvalidateDone,
    LaunchAccepted,
)
from campaigns.api.actions.base import ActionView
from campaigns.api.actions.bodies import (
    AcknowledgeAction,
    BulkAction,
    BulkInvalidateAction,
    BulkLaunchAction,
    InvalidateAction,
    LaunchAction,
    ReasonAction,
    StrictBody,
)
from campaigns.api.actions.bulk import BULK_LIMIT, FILTERSETS, BulkView
from campaigns.api.actions.levels import LEVELS, PATH_RELATED
from campaigns.api.actions.routes import urlpatterns
from campaigns.api.actions.rules import CHILDREN, LAUNCHES
from campaigns.api.actions.single import (
    ELEMENT_VERBS,
    AcknowledgeView,
    AlarmAcknowledge,
    ElementActionView,
)

__all__ = [
    "BULK_LIMIT",
    "CHILDREN",
    "ELEMENT_VERBS",
    "ERRORS",
    "FILTERSETS",
    "IN_PROGRESS",
    "LAUNCHES",
    "LEVELS",
    "PATH_RELATED",
    "AcknowledgeAction",
    "AcknowledgeView",
    "Acknowledged",
    "ActionConflict",
    "ActionError",
    "ActionRefusal",
    "ActionStatus",
    "ActionView",
    "AlarmAcknowledge",
    "BulkAction",
    "BulkActionDone",
    "BulkActionItem",
    "BulkInvalidateAction",
    "BulkLaunchAction",
    "BulkView",
    "ElementActionView",
    "InvalidateAction",
    "InvalidateDone",
    "LaunchAccepted",
    "LaunchAction",
    "ReasonAction",
    "StrictBody",
    "urlpatterns",
]
