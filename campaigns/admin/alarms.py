"""Alarms in the admin: read-only, with an Acknowledge action."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

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
        "group",
        "variable",
        "value",
        "limits",
        "message",
        "opened_at",
        "cleared_at",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = (
        "severity",
        "kind",
        "variable",
        ("cleared_at", admin.EmptyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "rules_version",
    )
    list_select_related = ("acknowledged_by", "content_type", "group__step__campaign__production")
    actions = ["acknowledge"]
    fieldsets = (
        (None, {"fields": ("severity", "kind", "element", "message", "group", "campaign")}),
        (
            "What the rule measured",
            {
                "fields": (
                    "variable",
                    "algorithm",
                    "value",
                    "warning_limit",
                    "error_limit",
                    "rules_version",
                    "details_display",
                )
            },
        ),
        (
            "Life",
            {
                "fields": (
                    "opened_at",
                    "updated_at",
                    "cleared_at",
                    "acknowledged_at",
                    "acknowledged_by",
                )
            },
        ),
    )

    def get_queryset(self, request):
        # One query per kind of element for the whole page, not one per row.
        return super().get_queryset(request).prefetch_related(elements_with_paths())

    def has_change_permission(self, request, obj=None):
        # Actions need the change permission; every field stays read-only.
        return request.user.is_staff

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["element", "details_display"]

    @admin.display(description="limits (warning / error)")
    def limits(self, alarm):
        if alarm.warning_limit is None and alarm.error_limit is None:
            return ""
        shown = ["-" if v is None else f"{v:g}" for v in (alarm.warning_limit, alarm.error_limit)]
        side = {"upper_limit": "> ", "lower_limit": "< "}.get(alarm.algorithm, "")
        return f"{side}{shown[0]} / {shown[1]}"

    @admin.display(description="details (the plot's data)")
    def details_display(self, alarm):
        return format_html("<pre>{}</pre>", json.dumps(alarm.details, indent=2, sort_keys=True))

    @admin.action(description="Acknowledge (reviewed)")
    def acknowledge(self, request, queryset):
        count = alarms.acknowledge(queryset, user=request.user)
        self.message_user(request, f"Acknowledged {count} alarm(s).", messages.SUCCESS)
