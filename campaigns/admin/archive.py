"""Admin of archived configs: shown, never added, changed or deleted."""

from django.contrib import admin
from django.utils.html import format_html

from campaigns.admin.base import ViewOnly
from campaigns.models import ArchivedConfig


@admin.register(ArchivedConfig)
class ArchivedConfigAdmin(ViewOnly, admin.ModelAdmin):
    """As-run configs, read-only: the admin grants only the view permission.

    The model refuses any change as well (``ImmutableError``); without the change
    permission the admin never gets that far and answers a POST with 403.
    """

    list_display = ("short_sha256", "kind", "source_name", "size", "archived_at", "archived_by")
    list_filter = ("kind", "archived_at")
    list_select_related = ("archived_by",)
    search_fields = ("^sha256", "source_name")
    fields = (
        "sha256",
        "kind",
        "source_name",
        "relative_path",
        "size",
        "archived_at",
        "archived_by",
        "content_block",
    )
    readonly_fields = fields
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="sha256", ordering="sha256")
    def short_sha256(self, config):
        return config.sha256[:12]

    @admin.display(description="content")
    def content_block(self, config):
        return format_html(
            '<pre style="max-height:40em;overflow:auto;white-space:pre">{}</pre>', config.content
        )
