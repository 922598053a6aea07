"""Alarm pages (being built)."""

from django.http import Http404


def _todo(*args, **kwargs):
    raise Http404("not built yet")


group_alarms = alarm_list = alarm_detail = acknowledge = _todo
