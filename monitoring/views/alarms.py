"""Alarm pages: all open alarms, a group's alarms Fermi-style, one alarm with its plot."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from campaigns.admin.history import elements_with_paths
from campaigns.filtersets import AlarmFilter
from campaigns.models import Alarm, Group
from campaigns.services import alarms as alarm_service
from campaigns.services import audit
from monitoring.tables import AlarmTable
from monitoring.views.common import configure, crumbs, export, page, permissions

PLOT_FORMATS = ("png", "svg", "pdf", "json")


def _alarms():
    return Alarm.objects.select_related("acknowledged_by").prefetch_related(elements_with_paths())


def alarm_list(request):
    """Every alarm, open ones by default; filter by severity, kind, campaign, group."""
    data = request.GET.copy()
    if "open" not in data:  # open alarms unless asked otherwise (?open= shows all)
        data["open"] = "true"
    found = AlarmFilter(data, queryset=_alarms())
    table = AlarmTable(found.qs)
    configure(request, table)
    if response := export(request, table, "alarms"):
        return response
    context = {"table": table, "filter": found} | permissions(request)
    return page(request, "monitoring/alarms.html", context, table)


def group_alarms(request, pk: int):
    """A group's alarms like Fermi's drill-down: checks counted by severity, then each alarm."""
    from monitoring import rules

    group = get_object_or_404(Group.objects.select_related("step__campaign__production"), pk=pk)
    table = AlarmTable(_alarms().filter(group=group))
    configure(request, table)
    context = {"element": group, "table": table, "checks": rules.check_counts(group)}
    context["crumbs"] = crumbs(group)
    return page(request, "monitoring/group_alarms.html", context | permissions(request), table)


def alarm_detail(request, pk: int):
    """One alarm: what was measured, against which limits, and the plot behind it."""
    alarm = get_object_or_404(_alarms(), pk=pk)
    context = {"alarm": alarm, "formats": PLOT_FORMATS} | permissions(request)
    return page(request, "monitoring/alarm.html", context)


@require_POST
def acknowledge(request, pk: int):
    """Mark the alarm reviewed: who and when. Shifters, operators and admins may."""
    if not request.user.has_perm("campaigns.acknowledge_alarm"):
        raise PermissionDenied("acknowledging alarms needs the shifter role")
    alarm = get_object_or_404(Alarm, pk=pk)
    element = alarm.element
    with audit.audited(
        "acknowledge",
        [element] if element is not None else [],
        user=request.user,
        via=audit.Via.PAGE,
        parameters={"alarm": alarm.pk, "kind": alarm.kind},
    ) as outcome:
        newly = alarm_service.acknowledge([alarm], user=request.user)
        outcome.message = "acknowledged" if newly else "was already acknowledged"
    if newly:
        messages.success(request, f"Alarm {alarm.kind} acknowledged.")
    else:
        messages.info(request, f"Alarm {alarm.kind} was already acknowledged.")
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("monitoring:alarm", pk=pk)
