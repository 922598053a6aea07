"""The Django admin, cm's power-user editor.

Every model is registered; statuses change only through the admin actions,
which call the same services as every other entry point.
"""

from campaigns.admin import alarms, archive, audit, execution, hierarchy, history

__all__ = ["alarms", "archive", "audit", "execution", "hierarchy", "history"]
