"""Actions on pages (being built)."""

from django.http import Http404


def act(*args, **kwargs):
    raise Http404("not built yet")
