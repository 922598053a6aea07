"""Drill-down pages (being built)."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("not built yet")


campaign = step = group = workflow = failures = workflow_file = _todo
