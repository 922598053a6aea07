"""Alarms in the admin: read-only, with an Acknowledge action."""

from django.contrib import admin, messages

from campaigns.admin.base import ViewOnly
from campaigns.admin.history import elements_with_paths
from campaigns.models import Alarm
from campaigns.services import alarms


@admin.register(Alarm)
class AlarmAdmin(ViewOnly, admin.ModelAdmin):
    list_display = (
        "severity",
        "kind",
        "element",
        "message",
        "opened_at",
        "cleared_at",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = ("severity", "kind", ("cleared_at", admin.EmptyFieldListFilter))
    list_select_related = ("acknowledged_by", "content_type")
    actions = ["acknowledge"]

    def get_queryset(self, request):
        # One query per kind of element for the whole page, not one per row.
        return super().get_queryset(request).prefetch_related(elements_with_paths())

    def has_change_permission(self, request, obj=None):
        # Actions need the change permission; every field stays read-only.
        return request.user.is_staff

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Acknowledge (reviewed)")
    def acknowledge(self, request, queryset):
        count = alarms.acknowledge(queryset, user=request.user)
        self.message_user(request, f"Acknowledged {count} alarm(s).", messages.SUCCESS)
