"""Filters by parent that name each parent by its path without a query per parent."""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered


def _parents(field, request, model_admin):
    # The parent's admin fetches parents with the joins their paths need.
    related = field.related_model
    try:
        return model_admin.admin_site.get_model_admin(related).get_queryset(request)
    except NotRegistered:
        return related._default_manager.all()


class ParentFilter(admin.RelatedOnlyFieldListFilter):
    """Filter by a parent, listing only parents that have children here."""

    def field_choices(self, field, request, model_admin):
        used = model_admin.get_queryset(request).values(f"{self.field_path}__pk")
        parents = _parents(field, request, model_admin).filter(pk__in=used)
        if ordering := self.field_admin_ordering(field, request, model_admin):
            parents = parents.order_by(*ordering)
        return [(parent.pk, str(parent)) for parent in parents]


class SelectedParentFilter(admin.RelatedFieldListFilter):
    """Filter by a parent without listing every parent: shows only the one selected.

    Parents of groups, workflows and jobs number in the thousands, so the side
    bar offers no choices; a drill-down link (``?group__id__exact=7``) selects
    one, and the filter then names it and offers "All" to clear it.
    """

    def field_choices(self, field, request, model_admin):
        pks = [value for value in self.lookup_val or () if str(value).isdigit()]
        if not pks:
            return []
        return [(p.pk, str(p)) for p in _parents(field, request, model_admin).filter(pk__in=pks)]

    def has_output(self):
        return bool(self.lookup_choices)
