"""Plots: every kind, scope and format; the JSON twins; alarms' plots; constant query counts."""

import datetime as dt
import json
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import ProgressSample
from campaigns.services.alarms import raise_alarm
from campaigns.states import Status
from monitoring import plots
from monitoring.plots import histograms, progress
from tests.builders import make_campaign, make_group, make_job, make_step, make_workflow

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LATER = "2026-03-01T13:00:00Z"  # rules may write UTC as "Z"
ELEMENT_PLOTS = [
    (kind, scope) for kind, (_, scopes) in plots.PLOT_KINDS.items() for scope in scopes
]


def sample(scope: str, pk: int, minutes: int, expected=100, succeeded=0, failed=0):
    return ProgressSample.objects.create(
        scope=scope,
        object_id=pk,
        at=T0 + dt.timedelta(minutes=minutes),
        quanta_expected=expected,
        quanta_succeeded=succeeded,
        quanta_failed=failed,
    )


def add_samples(scope: str, pk: int, n: int):
    ProgressSample.objects.bulk_create(
        ProgressSample(
            scope=scope, object_id=pk, at=T0 + dt.timedelta(minutes=i), quanta_succeeded=i
        )
        for i in range(n)
    )


@pytest.fixture
def tree():
    """A campaign with one step, group and workflow, each with samples and jobs to plot."""
    workflow = make_workflow()
    group = workflow.group
    step = group.step
    campaign = step.campaign
    elements = {"campaign": campaign, "step": step, "group": group, "workflow": workflow}
    for scope, element in elements.items():
        sample(scope, element.pk, 0)
        sample(scope, element.pk, 10, succeeded=30, failed=10)
    for i in range(4):
        make_job(workflow, task_labels=["isr"], wall_seconds=10.0 * (i + 1), max_rss_mb=500.0)
    return elements


def get(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.content[:200]
    return response


def plot_url(kind, scope, pk, fmt="json"):
    return reverse("monitoring:plot", args=[kind, scope, pk, fmt])


def plot_json(client, kind, scope, pk):
    return json.loads(get(client, plot_url(kind, scope, pk)).content)


def assert_is_file(content: bytes, fmt: str):
    if fmt == "png":
        assert content.startswith(b"\x89PNG\r\n\x1a\n")
    elif fmt == "svg":
        assert ElementTree.fromstring(content).tag.endswith("svg")
    elif fmt == "pdf":
        assert content.startswith(b"%PDF")
    else:
        assert isinstance(json.loads(content), dict)


@pytest.mark.parametrize("fmt", plots.FORMATS)
@pytest.mark.parametrize(("kind", "scope"), ELEMENT_PLOTS)
def test_every_kind_scope_and_format_is_a_real_file(client, tree, kind, scope, fmt):
    response = get(client, plot_url(kind, scope, tree[scope].pk, fmt))
    assert response["Content-Type"] == plots.FORMATS[fmt]
    assert response["Cache-Control"] == "max-age=60"
    assert response["Content-Disposition"].startswith("inline")
    assert_is_file(response.content, fmt)


def test_progress_json_holds_the_samples_drawn(client, tree):
    step = tree["step"]
    data = plot_json(client, "progress", "step", step.pk)
    assert data["element"] == {"scope": "step", "id": step.pk, "path": step.path}
    assert data["plot"] == "step" and step.path in data["title"]
    series = {s["label"]: s for s in data["series"]}
    assert series["succeeded"]["y"] == [0, 30] and series["failed"]["y"] == [0, 10]
    assert series["expected"]["y"] == [100, 100]
    assert series["expected"]["x"] == [T0.isoformat(), (T0 + dt.timedelta(minutes=10)).isoformat()]
    assert data["note"] == ""


def test_failure_rate_is_null_until_something_finishes(client, tree):
    data = plot_json(client, "failure-rate", "group", tree["group"].pk)
    assert data["series"][0]["y"] == [None, 0.25]


def test_progress_without_samples_says_so(client):
    step = make_step()
    data = plot_json(client, "progress", "step", step.pk)
    assert all(s["x"] == [] for s in data["series"])
    assert data["note"] == "No progress recorded for this step yet."
    assert_is_file(get(client, plot_url("progress", "step", step.pk, "png")).content, "png")


def test_long_histories_are_thinned_in_the_database_ending_on_the_latest(client, monkeypatch):
    monkeypatch.setattr(progress, "MAX_SAMPLES", 10)
    step = make_step()
    add_samples("step", step.pk, 35)
    data = plot_json(client, "progress", "step", step.pk)
    succeeded = data["series"][1]["y"]
    assert succeeded == [2, 6, 10, 14, 18, 22, 26, 30, 34]  # one in four, up to the latest
    assert data["note"] == "9 of 35 samples drawn: one in 4, up to the latest."


def test_runtime_histogram_counts_each_task_label_in_shared_log_bins(client):
    workflow = make_workflow()
    for seconds in (10, 20, 40, 1000):
        make_job(workflow, task_labels=["isr"], wall_seconds=seconds)
    make_job(workflow, task_labels=["calibrate", "characterize"], wall_seconds=100)
    make_job(workflow, task_labels=["isr"])  # reports nothing
    data = plot_json(client, "task-runtime", "workflow", workflow.pk)
    series = {s["label"]: s for s in data["series"]}
    assert set(series) == {"isr", "calibrate+characterize"}
    assert sum(series["isr"]["y"]) == series["isr"]["jobs"] == 4
    assert sum(series["calibrate+characterize"]["y"]) == 1
    assert series["isr"]["y"][0] == 1 and series["isr"]["y"][-1] == 1  # 10 s and 1000 s
    edges = data["bin_edges"]
    assert edges[0] == 10 and edges[-1] == 1000 and len(edges) == histograms.BINS + 1
    assert data["x_scale"] == "log" and data["x_label"] == "run time (s)"
    assert data["note"] == "5 of 6 jobs report their run time."


def test_step_histograms_count_only_the_current_attempts(client):
    group = make_group()
    old = make_workflow(group, status=Status.FAILED)
    current = make_workflow(group)
    superseded_retry = make_workflow(group, status=Status.SUPERSEDED)
    other_group = make_workflow(make_group(group.step))
    make_job(old, max_rss_mb=100)
    make_job(current, max_rss_mb=200)
    make_job(superseded_retry, max_rss_mb=300)
    make_job(other_group, max_rss_mb=400)
    data = plot_json(client, "task-memory", "step", group.step.pk)
    assert data["series"][0]["jobs"] == 2
    assert data["bin_edges"][0] == 200 and data["bin_edges"][-1] == 400
    assert data["subtitle"] == "jobs of the current attempts"


def test_histogram_where_no_job_reports_is_a_note_not_an_error(client):
    workflow = make_workflow()
    make_job(workflow)
    data = plot_json(client, "task-memory", "workflow", workflow.pk)
    assert data["series"] == [] and "bin_edges" not in data
    assert data["note"] == (
        "No job of this workflow reports its peak memory (the local WMS does not)."
    )
    for fmt in ("png", "svg", "pdf"):
        url = plot_url("task-memory", "workflow", workflow.pk, fmt)
        assert_is_file(get(client, url).content, fmt)


def test_only_the_busiest_task_labels_are_drawn(client, monkeypatch):
    monkeypatch.setattr(histograms, "MAX_LABELS", 2)
    workflow = make_workflow()
    for label, jobs in (("a", 3), ("b", 2), ("c", 1)):
        for _ in range(jobs):
            make_job(workflow, task_labels=[label], wall_seconds=5)
    data = plot_json(client, "task-runtime", "workflow", workflow.pk)
    assert [s["label"] for s in data["series"]] == ["a", "b"]
    assert data["note"] == "1 more task labels not drawn."
    assert data["bin_edges"] == pytest.approx([4.75, 5.25])


def test_download_asks_for_an_attachment_named_after_the_plot(client, tree):
    pk = tree["step"].pk
    response = get(client, plot_url("progress", "step", pk, "svg") + "?download=1")
    assert response["Content-Disposition"] == f'attachment; filename="step-{pk}-progress.svg"'


@pytest.mark.parametrize(
    "args",
    [
        ("nonsense", "step", 1, "png"),
        ("task-runtime", "group", 1, "png"),  # histograms are per workflow, step or campaign
        ("progress", "job", 1, "png"),
        ("progress", "step", 1, "gif"),
        ("progress", "step", 999999, "png"),
    ],
)
def test_unknown_plots_are_404(client, tree, args):
    kind, scope, pk, fmt = args
    pk = tree["step"].pk if pk == 1 else pk
    assert client.get(reverse("monitoring:plot", args=[kind, scope, pk, fmt])).status_code == 404


def rule_alarm(element, **details):
    return raise_alarm(
        element,
        "failure-rate",
        "error",
        "failure rate 0.4 above 0.3",
        variable="failure_rate",
        algorithm="threshold",
        value=0.4,
        warning_limit=0.1,
        error_limit=0.3,
        details={
            "plot": "line",
            "title": "Failure rate",
            "x_label": "time",
            "y_label": "failed / finished",
            "series": [{"label": "rate", "x": [T0.isoformat(), LATER], "y": [0.1, 0.4]}],
            "note": "last 2 polls",
        }
        | details,
    )


def alarm_url(alarm, fmt="json"):
    return reverse("monitoring:alarm-plot", args=[alarm.pk, fmt])


def test_alarm_plot_shows_its_series_limits_and_value(client):
    group = make_group()
    alarm = rule_alarm(group)
    data = json.loads(get(client, alarm_url(alarm)).content)
    assert data["title"] == f"ERROR failure-rate: {group.path}"
    assert data["element"] == {"scope": "group", "id": group.pk, "path": group.path}
    assert data["series"][0]["y"] == [0.1, 0.4] and data["subtitle"] == "Failure rate"
    assert data["limits"] == [
        {"label": "warning limit", "level": "warning", "y": 0.1},
        {"label": "error limit", "level": "error", "y": 0.3},
    ]
    assert data["marks"] == [{"label": "value", "y": 0.4}]
    assert data["alarm"]["algorithm"] == "threshold" and data["note"] == "last 2 polls"


@pytest.mark.parametrize("fmt", plots.FORMATS)
@pytest.mark.parametrize("plot", ["line", "bar"])
def test_alarm_plots_are_real_files(client, plot, fmt):
    bar = {"plot": "bar", "series": [{"label": "failed", "x": ["isr", "calibrate"], "y": [3, 7]}]}
    alarm = rule_alarm(make_step(), **(bar if plot == "bar" else {}))
    response = get(client, alarm_url(alarm, fmt) + "?download=1")
    assert response["Content-Type"] == plots.FORMATS[fmt]
    filename = f"alarm-{alarm.pk}-failure-rate.{fmt}"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert_is_file(response.content, fmt)


@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_alarm_without_details_draws_a_panel_saying_so(client, fmt):
    workflow = make_workflow()
    alarm = raise_alarm(workflow, "wms-unreachable", "warning", "PanDA did not answer")
    response = get(client, alarm_url(alarm, fmt))
    assert_is_file(response.content, fmt)
    if fmt == "json":
        data = json.loads(response.content)
        assert data["series"] == [] and data["limits"] == [] and data["marks"] == []
        assert "without a measurement" in data["note"] and "PanDA did not answer" in data["note"]
        assert data["title"] == f"WARNING wms-unreachable: {workflow.path}"


def test_malformed_alarm_details_are_dropped_not_fatal(client):
    alarm = rule_alarm(
        make_campaign(),
        plot="pie",
        series=[{"label": "ok", "x": ["not a time", "b"], "y": [1, "x", 3]}, "junk", {"x": 1}],
    )
    data = json.loads(get(client, alarm_url(alarm)).content)
    assert data["plot"] == "line"
    assert data["series"] == [{"label": "ok", "x": ["not a time", "b"], "y": [1, None]}]
    assert_is_file(get(client, alarm_url(alarm, "png")).content, "png")


def test_missing_alarm_is_404(client):
    assert client.get(reverse("monitoring:alarm-plot", args=[999999, "png"])).status_code == 404


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        get(client, url)
    return len(captured)


@pytest.mark.parametrize("kind", ["progress", "failure-rate"])
def test_time_plots_cost_the_same_queries_for_10_and_100_samples(client, kind, monkeypatch):
    monkeypatch.setattr(progress, "MAX_SAMPLES", 50)  # 100 samples are thinned, 10 are not
    small, large = make_step(), make_step()
    add_samples("step", small.pk, 10)
    add_samples("step", large.pk, 100)
    assert queries_for(client, plot_url(kind, "step", small.pk, "png")) == queries_for(
        client, plot_url(kind, "step", large.pk, "png")
    )


@pytest.mark.parametrize("kind", ["task-runtime", "task-memory"])
@pytest.mark.parametrize("scope", ["workflow", "step", "campaign"])
def test_histograms_cost_the_same_queries_for_10_and_100_jobs(client, kind, scope):
    def element_with_jobs(n):
        workflows = [make_workflow() for _ in range(2)]
        workflows.append(make_workflow(workflows[0].group))  # a retry
        for i in range(n):
            labels = [["isr"], ["calibrate"], ["isr", "calibrate"]][i % 3]
            make_job(workflows[i % 3], task_labels=labels, wall_seconds=i + 1, max_rss_mb=i + 1)
        return {"workflow": workflows[2], "step": workflows[0].group.step}.get(
            scope, workflows[0].group.step.campaign
        )

    small, large = element_with_jobs(10), element_with_jobs(100)
    assert queries_for(client, plot_url(kind, scope, small.pk, "png")) == queries_for(
        client, plot_url(kind, scope, large.pk, "png")
    )


def test_alarm_plot_costs_two_queries(client):
    alarm = rule_alarm(make_workflow())
    assert queries_for(client, alarm_url(alarm, "png")) == 2  # the alarm; its element and parents


def test_render_draws_any_plot_data_without_a_request(tree):
    data = plots.progress_plot(plots.load_element("campaign", tree["campaign"].pk))
    assert_is_file(plots.render(data, "png"), "png")
    assert json.loads(plots.render(data, "json")) == data
    with pytest.raises(ValueError, match="gif"):
        plots.render(data, "gif")
