"""Who may do what: Django's permissions, read in one query a request instead of two.

Every page and every API request checks a role (``campaigns.api.permissions``), and Django's
``ModelBackend`` reads a user's own permissions and their groups' with a query each. Here one
query reads both; everything else (passwords, inactive users, superusers) is ModelBackend's.
"""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class OneQueryModelBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            granted = Permission.objects.all()
            if not user_obj.is_superuser:
                granted = granted.filter(Q(user=user_obj) | Q(group__user=user_obj))
            rows = granted.values_list("content_type__app_label", "codename").order_by()
            user_obj._perm_cache = {f"{app}.{name}" for app, name in rows.distinct()}
        return user_obj._perm_cache
