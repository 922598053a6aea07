"""Roles, enforced on every endpoint.

- anonymous: nothing (401);
- any other user without a role: nothing (403);
- ``shifter`` (Django group; permission ``campaigns.acknowledge_alarm``): read, acknowledge;
- ``operator`` (``campaigns.operate_campaign``): also launch, retry, validate, invalidate;
- admin (superuser): everything, including purging data on invalidate.

A view says what it needs with ``required_role`` (per action name for viewsets:
``required_roles = {"retry": OPERATOR}``); reads need SHIFTER.
"""

from rest_framework.permissions import BasePermission

SHIFTER, OPERATOR, ADMIN = "shifter", "operator", "admin"

PERMISSION = {
    SHIFTER: "campaigns.acknowledge_alarm",
    OPERATOR: "campaigns.operate_campaign",
}


def has_role(user, role: str) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if role == ADMIN:
        return False
    return user.has_perm(PERMISSION[role])


def required_role(view) -> str:
    """The role an endpoint needs: its action's entry in ``required_roles``, else its
    ``required_role``, else SHIFTER (reading)."""
    action = getattr(view, "action", None)
    roles = getattr(view, "required_roles", {})
    if action in roles:
        return roles[action]
    return getattr(view, "required_role", SHIFTER)


class HasRole(BasePermission):
    message = "your role does not allow this"

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, required_role(view))
