"""The drill-downs: campaign -> steps -> groups -> workflows (attempts) -> jobs -> failed quanta."""

import mimetypes
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404

from campaigns.filtersets import FailedQuantumFilter, GroupFilter, JobFilter
from campaigns.models import (
    Alarm,
    ArchivedConfig,
    Campaign,
    Group,
    StatusChange,
    Step,
    Workflow,
)
from campaigns.services import audit
from campaigns.states import Status
from monitoring import queries
from monitoring.tables import (
    AlarmTable,
    DataProductTable,
    FailedQuantumTable,
    GroupTable,
    JobTable,
    StepTable,
    TaskCountTable,
    WorkflowTable,
)
from monitoring.views.actions import available
from monitoring.views.common import (
    configure,
    crumbs,
    export,
    history,
    page,
    permissions,
    row_ids,
    state,
)


def _context(request, element, **more) -> dict:
    context = {"element": element, "state": state(element), "history": history(element)}
    return context | {"crumbs": crumbs(element)} | permissions(request) | more


def campaign(request, pk: int):
    campaign = get_object_or_404(
        Campaign.objects.select_related("production__campaign_type"), pk=pk
    )
    table = StepTable(queries.steps_of(campaign))
    configure(request, table, per_page=None)  # a pipeline has tens of subsets at most
    ids = row_ids(request, table)
    table.counts = queries.by_status(Group, "step", ids)
    table.data_ids = queries.data_ids("step", ids)
    if response := export(request, table, f"{campaign.name}-steps"):
        return response
    alarms = _open_alarms(Alarm.objects.filter(campaign=campaign), request)
    context = _context(request, campaign, table=table, alarms=alarms, scope="campaign")
    context["audit"] = audit.latest(campaign)
    context["actions"] = available("campaign", campaign)
    return page(request, "monitoring/campaign.html", context, table)


def step(request, pk: int):
    """The step-to-group view: every group with its current attempt, filtered and sorted."""
    step = get_object_or_404(Step.objects.select_related("campaign__production"), pk=pk)
    groups = GroupFilter(request.GET, queryset=step.groups.all())
    table = GroupTable(groups.qs)
    configure(request, table)
    ids = row_ids(request, table)
    table.current = queries.current_workflows(ids)
    table.produced = queries.datasets_produced(ids)
    table.alarms = queries.open_alarms("group", ids)
    if response := export(request, table, f"{step.campaign.name}-{step.name}-groups"):
        return response
    context = _context(request, step, table=table, filter=groups, scope="step")
    context["audit"] = audit.latest(step)
    context["actions"] = available("step", step)
    return page(request, "monitoring/step.html", context, table)


def group(request, pk: int):
    from monitoring import rules

    group = get_object_or_404(Group.objects.select_related("step__campaign__production"), pk=pk)
    table = WorkflowTable(group.workflows.all())
    configure(request, table)
    ids = [row.record.pk for row in table.page.object_list]
    table.failed = queries.failed_quanta_counts(ids)
    context = _context(
        request,
        group,
        table=table,
        checks=rules.check_counts(group),
        actions=available("group", group),
        scope="group",
        audit=audit.latest(group),
    )
    return page(request, "monitoring/group.html", context, table)


def workflow(request, pk: int):
    """Details for one attempt, like Fermi's "Details for Run"."""
    workflow = get_object_or_404(
        Workflow.objects.select_related("group__step__campaign__production", "submit_config"),
        pk=pk,
    )
    jobs = JobFilter(request.GET, queryset=workflow.jobs.all())
    job_table = JobTable(jobs.qs, prefix="jobs-")
    configure(request, job_table, per_page=100)
    tasks = TaskCountTable(workflow.task_counts.all(), prefix="tasks-", orderable=False)
    products = DataProductTable(
        workflow.data_products.select_related("workflow"), prefix="dp-", orderable=False
    )
    context = _context(
        request,
        workflow,
        jobs=jobs,
        job_table=job_table,
        tasks=tasks,
        products=products,
        failures=_failure_summary(workflow),
        reviewed=_reviewed(workflow.group),
        files=workflow.archived_files,
        alarms=_open_alarms(Alarm.objects.filter(group=workflow.group_id), request),
        scope="workflow",
        audit=audit.latest(workflow),
    )
    return page(request, "monitoring/workflow.html", context, job_table)


def _failure_summary(workflow: Workflow) -> list[dict]:
    """Failed quanta counted by task and error type, for the workflow page."""
    return list(
        workflow.failed_quanta.values("task_label", "error_type", "flavor", "action")
        .annotate(n=Count("id"))
        .order_by("task_label", "error_type")
    )


def _reviewed(group: Group) -> StatusChange | None:
    """Who validated or invalidated the group, and when (the quality box)."""
    from django.contrib.contenttypes.models import ContentType

    return (
        StatusChange.objects.filter(
            content_type=ContentType.objects.get_for_model(Group),
            object_id=group.pk,
            to_status__in=[Status.ACCEPTED, Status.REJECTED],
        )
        .select_related("user")
        .order_by("-at")
        .first()
    )


def _open_alarms(alarms, request) -> AlarmTable:
    from campaigns.admin.history import elements_with_paths

    rows = (
        alarms.filter(cleared_at__isnull=True)
        .select_related("acknowledged_by")
        .prefetch_related(elements_with_paths())
    )
    table = AlarmTable(rows, prefix="alarms-", orderable=False)
    configure(request, table, per_page=20)
    return table


def failures(request, pk: int):
    """Every failed quantum of one attempt: task, data ID, error type and message."""
    workflow = get_object_or_404(
        Workflow.objects.select_related("group__step__campaign__production"), pk=pk
    )
    found = FailedQuantumFilter(request.GET, queryset=workflow.failed_quanta.all())
    table = FailedQuantumTable(found.qs)
    configure(request, table, per_page=100)
    if response := export(request, table, f"{workflow.group.name}-{workflow.name}-failures"):
        return response
    context = _context(request, workflow, table=table, filter=found)
    return page(request, "monitoring/failures.html", context, table)


def workflow_file(request, pk: int, name: str):
    """A log or report the poll kept in the PanDA archive; only files the workflow lists."""
    workflow = get_object_or_404(Workflow, pk=pk)
    if name not in workflow.archived_files:
        raise Http404(f"{name} is not among this workflow's archived files")
    root = Path(settings.CM_PANDA_ARCHIVE_DIR).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise Http404(f"{name} is missing from the PanDA archive")
    kind, _ = mimetypes.guess_type(path.name)
    text = kind is None or kind.startswith("text/") or path.suffix in {".log", ".yaml", ".json"}
    return FileResponse(path.open("rb"), content_type="text/plain; charset=utf-8" if text else kind)


def archived_config(request, pk: int):
    """An archived as-run config (a spec or a rendered BPS submit file), read-only, as text."""
    config = get_object_or_404(ArchivedConfig, pk=pk)
    response = HttpResponse(config.content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{Path(config.source_name).name}"'
    response["X-Content-SHA256"] = config.sha256
    return response
