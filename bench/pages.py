"""Every status page and API list at one size: server time (median, p95) and SQL queries.

    python -m bench.pages --size large [--iterations 15] [--database-url URL]

In process, through the whole request stack (``django.test.Client``, middleware, templates),
logged in as a shifter (pages also as an admin, who sees the action buttons). Each URL is asked
once to warm up, then ``iterations`` times, timed; one more request is made under
``CaptureQueriesContext`` for the query count and the slowest statements. The elements are the
biggest of their kind (the step with the most groups, the workflow with the most jobs, ...), so
the result is the worst case of the size. Checks (issue 7): at most 15 queries per page, the same
count at every size (``flatness`` compares the result files of all sizes), median at most 150 ms
at the large size.
"""

import argparse
import sys
import time

from bench.common import database_url, envelope, setup_django, summary, write_result

MAX_QUERIES = 15
MAX_MEDIAN_MS = 150  # at the large size
SHIFTER, ADMIN = "bench-shifter", "bench-admin"


def users():
    """A shifter and an admin (no passwords: the client logs them in directly)."""
    from django.contrib.auth.models import Group as Role
    from django.contrib.auth.models import User

    shifter, _ = User.objects.get_or_create(username=SHIFTER)
    shifter.groups.add(Role.objects.get(name="shifter"))
    admin, _ = User.objects.get_or_create(
        username=ADMIN, defaults={"is_superuser": True, "is_staff": True}
    )
    return shifter, admin


def targets() -> dict[str, int]:
    """The element each page shows: the biggest of its kind in this database."""
    from django.db.models import Count

    from campaigns.models import Alarm, Campaign, FailedQuantum, Group, Job, Step

    step = (
        Step.objects.annotate(n=Count("groups"))
        .exclude(status__in=["accepted", "waiting"])
        .order_by("-n", "pk")
        .first()
    ) or Step.objects.order_by("pk").first()
    group = (
        Group.objects.filter(step=step).annotate(n=Count("workflows")).order_by("-n", "pk").first()
    )
    workflow = Job.objects.values("workflow").annotate(n=Count("id")).order_by("-n").first()
    failing = (
        FailedQuantum.objects.values("workflow").annotate(n=Count("id")).order_by("-n").first()
    )
    alarmed = (
        Alarm.objects.filter(cleared_at__isnull=True, group__isnull=False)
        .values("group")
        .annotate(n=Count("id"))
        .order_by("-n", "group")
        .first()
    )
    alarm = Alarm.objects.filter(cleared_at__isnull=True).order_by("-opened_at", "pk").first()
    return {
        "campaign": step.campaign_id if step else Campaign.objects.order_by("pk").first().pk,
        "step": step.pk,
        "group": group.pk,
        "workflow": workflow["workflow"],
        "failing": failing["workflow"] if failing else workflow["workflow"],
        "alarmed_group": alarmed["group"] if alarmed else group.pk,
        "alarm": alarm.pk if alarm else None,
        "jobs": Job.objects.count(),
        "last_job": Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
    }


def pages(t: dict) -> dict[str, str]:
    urls = {
        "overview": "/",
        "campaign": f"/campaigns/{t['campaign']}/",
        "step": f"/steps/{t['step']}/",
        "step_sorted_filtered": f"/steps/{t['step']}/?status=running&sort=-data_id_count",
        "group": f"/groups/{t['group']}/",
        "workflow": f"/workflows/{t['workflow']}/",
        "workflow_last_jobs_page": f"/workflows/{t['workflow']}/?jobs-page=last",
        "failures": f"/workflows/{t['failing']}/failures/",
        "alarms": "/alarms/",
        "group_alarms": f"/groups/{t['alarmed_group']}/alarms/",
        "states": "/states/",
    }
    if t["alarm"]:
        urls["alarm"] = f"/alarms/{t['alarm']}/"
    return urls


def api_lists(t: dict) -> dict[str, str]:
    from campaigns.api.pagination import MAX_OFFSET
    from campaigns.api.views import VIEWSETS

    urls = {f"api_{prefix}": f"/api/v1/{prefix}/" for prefix, _, _ in VIEWSETS}
    urls |= {
        "api_groups_of_step": f"/api/v1/groups/?step={t['step']}",
        "api_jobs_of_workflow": f"/api/v1/jobs/?workflow={t['workflow']}",
        # The deepest page an offset reaches, and the last page of a walk in id order.
        "api_jobs_deepest_offset": f"/api/v1/jobs/?offset={min(MAX_OFFSET, t['jobs'])}",
        "api_jobs_walk_last_page": f"/api/v1/jobs/?after={max(0, t['last_job'] - 50)}",
        "api_failed_quanta_of_workflow": f"/api/v1/failed-quanta/?workflow={t['failing']}",
        "api_table_campaigns": "/api/v1/tables/campaigns/",
        "api_table_steps": f"/api/v1/tables/steps/?campaign={t['campaign']}",
        "api_table_groups": f"/api/v1/tables/groups/?step={t['step']}",
        "api_table_alarms": "/api/v1/tables/alarms/",
    }
    return urls


def measure(client, url: str, iterations: int) -> dict:
    """Time ``iterations`` requests (after a warm-up) and count the queries of one more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    response = client.get(url)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:2]
    result = {
        "url": url,
        "status": response.status_code,
        "bytes": len(response.content),
        "queries": len(captured.captured_queries),
        "first_ms": round(first_ms, 2),
        **summary(times),
        "slowest_sql": [
            {"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:600]} for q in slowest
        ],
    }
    if result["median_ms"] > MAX_MEDIAN_MS and slowest:
        result["explain_slowest"] = explain(slowest[0]["sql"])
    return result


def explain(sql: str) -> list[str]:
    """The plan PostgreSQL ran for a statement, with times (EXPLAIN ANALYZE, BUFFERS)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            return [row[0] for row in cursor.fetchall()]
    except Exception as error:  # a plan is a bonus; never lose the measurements for it
        return [f"EXPLAIN failed: {error}"]


def yardsticks(iterations: int = 15) -> dict:
    """What this machine does right now, measured beside the pages (its speed drifts, up to
    twice, over minutes on a shared host): a fixed pure-Python loop, and the floor of
    ../shared/PERFORMANCE.md, django-tables2's default template over 100 rows x 5 columns
    of in-memory data (about 110 ms on the machine that floor was measured on)."""
    import django_tables2 as tables
    from django.template import Context, Template
    from django.test import RequestFactory

    class Plain(tables.Table):
        a, b, c, d, e = (tables.Column() for _ in range(5))

        class Meta:
            template_name = "django_tables2/table.html"

    rows = [{k: f"{k}{n}" for k in "abcde"} for n in range(100)]
    page = Template("{% load django_tables2 %}{% render_table table %}")
    request = RequestFactory().get("/")

    def python_loop() -> None:
        sum(i * i for i in range(300_000))

    def table() -> None:
        page.render(Context({"table": Plain(rows), "request": request}))

    out = {}
    for name, work in (("python_loop", python_loop), ("tables2_100x5", table)):
        work()
        times = []
        for _ in range(iterations):
            started = time.perf_counter()
            work()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = summary(times)
    return out


def run(
    size: str,
    *,
    iterations: int = 15,
    roles: tuple[str, ...] = ("shifter", "admin"),
    only: list[str] | None = None,
) -> dict:
    """Measure every page and API list; returns the measurements and the checks."""
    from django.test import Client

    shifter, admin = users()
    t = targets()
    results: dict[str, dict] = {}
    for role, user in (("shifter", shifter), ("admin", admin)):
        if role not in roles:
            continue
        client = Client()
        client.force_login(user)
        urls = pages(t) | (api_lists(t) if role == "shifter" else {})
        for name, url in urls.items():
            if only and name not in only:
                continue
            results[f"{role}:{name}"] = measure(client, url, iterations)
    return {
        "yardsticks": yardsticks(iterations),
        "targets": t,
        "iterations": iterations,
        "results": results,
        "checks": checks(size, results),
    }


def checks(size: str, results: dict[str, dict]) -> dict:
    """The issue's targets, for this size alone (flatness needs every size: ``flatness``)."""
    too_many = {k: r["queries"] for k, r in results.items() if r["queries"] > MAX_QUERIES}
    errors = {k: r["status"] for k, r in results.items() if r["status"] != 200}
    out = {"max_queries": MAX_QUERIES, "over_query_limit": too_many, "not_200": errors}
    if size == "large":
        out["max_median_ms"] = MAX_MEDIAN_MS
        out["over_time_limit"] = {
            k: r["median_ms"] for k, r in results.items() if r["median_ms"] > MAX_MEDIAN_MS
        }
    return out


def flatness(by_size: dict[str, dict]) -> dict:
    """Query counts of every URL across sizes; ``varies`` lists those that are not flat."""
    table: dict[str, dict[str, int]] = {}
    for size, result in by_size.items():
        for name, r in result["results"].items():
            table.setdefault(name, {})[size] = r["queries"]
    varies = {k: v for k, v in table.items() if len(set(v.values())) > 1}
    return {"queries": table, "varies": varies}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--database-url")
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--only", nargs="*", help="page names (e.g. step workflow api_jobs)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    url = args.database_url or database_url(args.size)
    setup_django(url)
    measurements = run(args.size, iterations=args.iterations, only=args.only)
    write_result(envelope("pages", args.size, url, measurements), save=not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
