"""The status tables of the shifter pages: one per level, the same rows in HTML, CSV and JSON.

Counts that are not columns of the row (children by status, data IDs, alarms,
the current attempt) are looked up for the whole page by ``monitoring.views`` and
set on the table before rendering, so a page costs the same queries at any size.
"""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from campaigns.models import (
    Alarm,
    Campaign,
    DataProduct,
    FailedQuantum,
    Group,
    Job,
    Production,
    Step,
    TaskLabelCount,
    Workflow,
)
from monitoring.columns import (
    LinkedNameColumn,
    QuantaColumn,
    StatusColumn,
    StatusCountsColumn,
    age,
)

SEVERITY_COLOUR = {"error": "danger", "warning": "warning", "undefined": "secondary"}


def alarm_badges(counts: dict[str, int], url: str) -> str:
    shown = [(s, counts[s]) for s in ("error", "warning", "undefined") if counts.get(s)]
    return format_html_join(
        " ",
        '<a class="badge text-bg-{}" href="{}">{} {}</a>',
        ((SEVERITY_COLOUR[s], url, n, s) for s, n in shown),
    )


class OpenAlarmsColumn(tables.Column):
    """Open alarms counted by severity (``table.alarms``), linking to where they are listed."""

    def __init__(self, url_of, **kwargs):
        self.url_of = url_of
        kwargs.setdefault("verbose_name", "Alarms")
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("empty_values", ())
        super().__init__(**kwargs)

    def render(self, record, table):
        return alarm_badges(table.alarms.get(record.pk, {}), self.url_of(record))

    def value(self, record, table):
        return sum(table.alarms.get(record.pk, {}).values())


class DataIdsColumn(tables.Column):
    """Data IDs in finished groups / all groups: progress counted on inputs."""

    def __init__(self, **kwargs):
        kwargs.setdefault("verbose_name", "Data IDs done / total")
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("empty_values", ())
        super().__init__(**kwargs)

    def render(self, record, table):
        done, total = table.data_ids.get(record.pk, (0, 0))
        return f"{done} / {total}"

    value = render


class Base(tables.Table):
    """Lookups a view fills in for the page's rows (see the module docstring)."""

    counts: dict = {}
    data_ids: dict = {}
    alarms: dict = {}

    class Meta:
        attrs = {"class": "table"}
        template_name = "django_tables2/cm_table.html"


class ProductionTable(Base):
    name = tables.Column(verbose_name="Production")
    campaign_type = tables.Column(accessor="campaign_type__name", verbose_name="Type")
    status = StatusColumn(with_since=True)
    campaigns = StatusCountsColumn("counts", verbose_name="Campaigns")
    inputs = DataIdsColumn()
    quanta = QuantaColumn()

    class Meta(Base.Meta):
        model = Production
        fields = ()
        sequence = ("name", "campaign_type", "status", "campaigns", "inputs", "quanta")

    def render_name(self, record, value):
        url = reverse("monitoring:overview") + f"?production={value}"
        return format_html('<a href="{}">{}</a>', url, value)


class CampaignTable(Base):
    """One row per campaign: where it stands, counted on groups, data IDs and quanta."""

    production = tables.Column(accessor="production__name", verbose_name="Production")
    campaign_type = tables.Column(accessor="production__campaign_type__name", verbose_name="Type")
    name = LinkedNameColumn("monitoring:campaign", verbose_name="Campaign")
    status = StatusColumn(with_since=True)
    step_count = tables.Column(verbose_name="Steps", orderable=False)
    groups = StatusCountsColumn("counts", verbose_name="Groups")
    inputs = DataIdsColumn()
    quanta = QuantaColumn()
    open_alarms = OpenAlarmsColumn(
        lambda campaign: reverse("monitoring:alarms") + f"?campaign={campaign.pk}&open=true"
    )

    class Meta(Base.Meta):
        model = Campaign
        fields = ()
        sequence = ("production", "campaign_type", "name", "status", "step_count", "groups")
        order_by = ("production", "name")


class StepTable(Base):
    order = tables.Column(verbose_name="#")
    name = LinkedNameColumn("monitoring:step", verbose_name="Step")
    status = StatusColumn(with_since=True)
    groups = StatusCountsColumn("counts", verbose_name="Groups")
    inputs = DataIdsColumn()
    quanta = QuantaColumn()
    prerequisites = tables.Column(empty_values=(), orderable=False, verbose_name="After")
    output_collection = tables.Column(verbose_name="Output collection", orderable=False)

    class Meta(Base.Meta):
        model = Step
        fields = ()
        order_by = ("order",)

    def render_prerequisites(self, record):
        return ", ".join(p.name for p in record.prerequisites.all()) or "—"

    value_prerequisites = render_prerequisites


class GroupTable(Base):
    """The step-to-group view: each group, its current attempt and how far it got."""

    current: dict = {}
    produced: dict = {}

    name = LinkedNameColumn("monitoring:group", verbose_name="Group")
    data_query = tables.Column(verbose_name="Data query", orderable=False)
    data_id_count = tables.Column(verbose_name="Data IDs", default="—")
    workflow = tables.Column(empty_values=(), orderable=False, verbose_name="Current attempt")
    started = tables.Column(empty_values=(), orderable=False, verbose_name="Started (UTC)")
    updated = tables.Column(empty_values=(), orderable=False, verbose_name="Last update (UTC)")
    status = StatusColumn(with_since=True)
    quanta = QuantaColumn()
    datasets = tables.Column(empty_values=(), orderable=False, verbose_name="Datasets produced")
    open_alarms = OpenAlarmsColumn(
        lambda group: reverse("monitoring:group-alarms", args=[group.pk])
    )
    links = tables.Column(empty_values=(), orderable=False, verbose_name="Links")

    class Meta(Base.Meta):
        model = Group
        fields = ()
        order_by = ("name",)
        row_attrs = {"data-group": lambda record: record.name}

    def _current(self, record) -> Workflow | None:
        return self.current.get(record.pk)

    def render_workflow(self, record):
        workflow = self._current(record)
        if workflow is None:
            return "—"
        url = reverse("monitoring:workflow", args=[workflow.pk])
        return format_html('<a href="{}">{}</a> ({})', url, workflow.name, workflow.wms)

    def value_workflow(self, record):
        workflow = self._current(record)
        return workflow.attempt if workflow else ""

    def render_started(self, record):
        workflow = self._current(record)
        moment = workflow.started_at if workflow else record.started_at
        return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"

    value_started = render_started

    def render_updated(self, record):
        workflow = self._current(record)
        moment = (workflow and workflow.last_checked_at) or record.status_since
        return moment.strftime("%Y-%m-%d %H:%M")

    value_updated = render_updated

    def render_datasets(self, record):
        return self.produced.get(record.pk, 0)

    value_datasets = render_datasets

    def render_links(self, record):
        workflow = self._current(record)
        links = [(reverse("monitoring:group-alarms", args=[record.pk]), "alarms")]
        if workflow is not None:
            page = reverse("monitoring:workflow", args=[workflow.pk])
            links += [(page + "#logs", "logs"), (page + "#products", "products")]
        return format_html(
            '{}<br><code class="cm-muted" title="TAGGED inputs: {}">{}</code>',
            format_html_join(" · ", '<a href="{}">{}</a>', links),
            record.input_collection,
            record.output_collection,
        )

    def value_links(self, record):
        return record.output_collection


class WorkflowTable(Base):
    """A group's attempts, newest first."""

    failed: dict = {}

    name = tables.Column(accessor="attempt", verbose_name="Attempt")
    status = StatusColumn(with_since=True)
    wms = tables.Column(verbose_name="WMS")
    wms_id = tables.Column(verbose_name="WMS id", default="—")
    started_at = tables.DateTimeColumn(verbose_name="Started (UTC)", format="Y-m-d H:i")
    finished_at = tables.DateTimeColumn(verbose_name="Finished (UTC)", format="Y-m-d H:i")
    last_checked_at = tables.DateTimeColumn(verbose_name="Last checked (UTC)", format="Y-m-d H:i")
    quanta = QuantaColumn()
    failed_quanta = tables.Column(empty_values=(), orderable=False, verbose_name="Failed quanta")
    output_run = tables.Column(verbose_name="Output RUN", orderable=False)

    class Meta(Base.Meta):
        model = Workflow
        fields = ()
        order_by = ("-name",)

    def render_name(self, record):
        url = reverse("monitoring:workflow", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.name)

    def value_name(self, record):
        return record.attempt

    def render_failed_quanta(self, record):
        count = self.failed.get(record.pk, 0)
        if not count:
            return "0"
        url = reverse("monitoring:failures", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, count)

    def value_failed_quanta(self, record):
        return self.failed.get(record.pk, 0)


class TaskCountTable(Base):
    task_label = tables.Column(verbose_name="Task")
    quanta = QuantaColumn()
    quanta_running = tables.Column(verbose_name="Running")
    quanta_pending = tables.Column(verbose_name="Pending")
    quanta_held = tables.Column(verbose_name="Held")

    class Meta(Base.Meta):
        model = TaskLabelCount
        fields = ()
        order_by = ("task_label",)


class JobTable(Base):
    name = tables.Column(verbose_name="Job")
    status = StatusColumn()
    task_labels = tables.Column(verbose_name="Tasks", orderable=False)
    attempts = tables.Column(verbose_name="Tries")
    wms_job_id = tables.Column(verbose_name="WMS job id", default="—")
    wall_seconds = tables.Column(verbose_name="Run time (s)", default="—")
    max_rss_mb = tables.Column(verbose_name="Peak memory (MB)", default="—")
    error = tables.Column(verbose_name="Error", orderable=False, default="")

    class Meta(Base.Meta):
        model = Job
        fields = ()
        order_by = ("name",)

    def render_task_labels(self, value):
        return ", ".join(value)

    def render_wall_seconds(self, value):
        return f"{value:.3g}"

    def render_max_rss_mb(self, value):
        return f"{value:.4g}"

    value_task_labels = render_task_labels

    def render_error(self, value):
        return format_html('<span class="cm-message-text">{}</span>', value[:300])


class FailedQuantumTable(Base):
    task_label = tables.Column(verbose_name="Task")
    data_id = tables.Column(verbose_name="Data ID", orderable=False)
    error_type = tables.Column(verbose_name="Error type")
    message = tables.Column(verbose_name="Message", orderable=False)
    flavor = tables.Column(verbose_name="Flavor")
    action = tables.Column(verbose_name="Action")
    rule = tables.Column(verbose_name="Rule")

    class Meta(Base.Meta):
        model = FailedQuantum
        fields = ()
        order_by = ("task_label", "pk")
        row_attrs = {"class": "cm-failed-quantum"}

    def render_data_id(self, value):
        return ", ".join(f"{k}={v}" for k, v in value.items())

    value_data_id = render_data_id

    def render_message(self, value):
        return format_html('<pre class="cm-pre">{}</pre>', value)

    def value_message(self, value):
        return value


class DataProductTable(Base):
    dataset_type = tables.Column(verbose_name="Dataset type")
    storage_class = tables.Column(verbose_name="Storage class")
    dimensions = tables.Column(verbose_name="Dimensions", orderable=False)
    count = tables.Column(verbose_name="Datasets")
    size_bytes = tables.Column(verbose_name="Size", default="unknown")
    collection = tables.Column(
        accessor="workflow__output_run", verbose_name="Collection", orderable=False
    )

    class Meta(Base.Meta):
        model = DataProduct
        fields = ()
        order_by = ("dataset_type",)

    def render_dimensions(self, value):
        return ", ".join(value)

    def render_size_bytes(self, value):
        from django.template.defaultfilters import filesizeformat

        return filesizeformat(value)


class AlarmTable(Base):
    severity = tables.Column(verbose_name="Severity")
    kind = tables.Column(verbose_name="Alarm")
    element = tables.Column(empty_values=(), orderable=False, verbose_name="On")
    variable = tables.Column(verbose_name="Variable", default="—")
    algorithm = tables.Column(verbose_name="Algorithm", default="—")
    value = tables.Column(verbose_name="Value", default="—")
    limits = tables.Column(empty_values=(), orderable=False, verbose_name="Limits (warn / error)")
    message = tables.Column(verbose_name="Details", orderable=False)
    opened_at = tables.DateTimeColumn(verbose_name="Opened (UTC)", format="Y-m-d H:i")
    reviewed = tables.Column(empty_values=(), orderable=False, verbose_name="Reviewed")

    class Meta(Base.Meta):
        model = Alarm
        fields = ()
        order_by = ("-opened_at",)
        row_attrs = {"data-alarm": lambda record: record.pk}

    def render_severity(self, record):
        colour = SEVERITY_COLOUR.get(record.severity, "secondary")
        state = " (cleared)" if record.cleared_at else ""
        return format_html(
            '<span class="badge text-bg-{}">{}{}</span>', colour, record.severity, state
        )

    def value_severity(self, record):
        return record.severity

    def render_kind(self, record):
        url = reverse("monitoring:alarm", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.kind)

    def value_kind(self, record):
        return record.kind

    def render_element(self, record):
        return getattr(record.element, "path", "(deleted)")

    value_element = render_element

    def render_value(self, value):
        return f"{value:.4g}"

    def render_limits(self, record):
        def show(limit):
            return "—" if limit is None else f"{limit:.4g}"

        return f"{show(record.warning_limit)} / {show(record.error_limit)}"

    value_limits = render_limits

    def render_reviewed(self, record):
        if record.acknowledged_at is None:
            return "no"
        who = record.acknowledged_by.get_username() if record.acknowledged_by else "?"
        return f"{who}, {age(record.acknowledged_at)} ago"

    value_reviewed = render_reviewed
