"""Links between admin pages: to an object's change page, to a filtered child list."""

from urllib.parse import urlencode

from django.db import models
from django.urls import reverse
from django.utils.html import format_html


def change_url(model: type[models.Model], pk: int) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def admin_link(obj: models.Model | None, text: str | None = None) -> str:
    """A link to ``obj``'s change page; a dash for no object."""
    if obj is None:
        return "—"
    return format_html('<a href="{}">{}</a>', change_url(type(obj), obj.pk), text or str(obj))


def children_link(model: type[models.Model], parent_field: str, parent_pk: int) -> str:
    """A link to ``model``'s change list filtered to one parent (the drill-down)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    query = urlencode({f"{parent_field}__id__exact": parent_pk})
    return format_html('<a href="{}?{}">{} →</a>', url, query, opts.verbose_name_plural)
