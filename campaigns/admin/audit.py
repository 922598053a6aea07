"""The audit trail in the admin: every action taken, refused or not; read-only."""

import json

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from campaigns.admin.base import ViewOnly
from campaigns.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ViewOnly, admin.ModelAdmin):
    """Written only by ``campaigns.services.audit``; nothing here is editable."""

    list_display = ("at", "action", "element_link", "actor", "via", "result", "http_status")
    list_display_links = ("at",)
    list_filter = ("action", "result", "via", ("user", admin.RelatedOnlyFieldListFilter), "level")
    list_select_related = ("user", "content_type")
    search_fields = ("element_path", "idempotency_key")
    fields = (
        "at",
        "action",
        "element_link",
        "level",
        "actor",
        "via",
        "result",
        "http_status",
        "parameters_display",
        "message",
        "idempotency_key",
    )
    readonly_fields = fields
    # Many rows: order by the primary key and skip the unfiltered count and facets.
    ordering = ("-id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="element", ordering="element_path")
    def element_link(self, entry: AuditEntry):
        # The path was kept with the entry, so no row asks for its element.
        label = f"{entry.level} {entry.element_path}".strip() or "—"
        if entry.content_type is None or entry.object_id is None:
            return label
        try:
            url = reverse(
                f"admin:{entry.content_type.app_label}_{entry.content_type.model}_change",
                args=[entry.object_id],
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="parameters")
    def parameters_display(self, entry: AuditEntry):
        return format_html(
            "<pre>{}</pre>", json.dumps(entry.parameters, indent=2, sort_keys=True, default=str)
        )
