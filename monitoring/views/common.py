"""What every status page does: paginate and sort a table, export it, refresh it in place."""

from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_tables2 import RequestConfig
from django_tables2.export import TableExport

from campaigns.models import Element, StatusChange
from campaigns.states import STATE_INFO, Status
from monitoring.columns import age

EXPORT_FORMATS = ("csv", "json")
PARTIAL_HEADER = "X-CM-Partial"  # sent by cm.js when it refreshes a table in place


def configure(request: HttpRequest, table, per_page: int | None = 50) -> None:
    """Sort the table as the request asks; paginate it, unless ``per_page`` is None (a short
    table, such as a campaign's steps, then costs no count query)."""
    paginate = {"per_page": per_page} if per_page else False
    RequestConfig(request, paginate=paginate).configure(table)


def exporting(request: HttpRequest) -> bool:
    return request.GET.get("_export") in EXPORT_FORMATS


def row_ids(request: HttpRequest, table) -> list[int]:
    """The ids whose lookups the view fills: the page's rows, or every row for an export."""
    paged = hasattr(table, "page") and not exporting(request)
    rows = (row.record for row in table.page.object_list) if paged else table.data
    return [record.pk for record in rows]


def export(request: HttpRequest, table, name: str) -> HttpResponse | None:
    """The table as CSV or JSON when ``?_export=`` asks for it: the page's rows, all pages,
    without markup."""
    if not exporting(request):
        return None
    fmt = request.GET["_export"]
    exporter = TableExport(fmt, table, exclude_columns=getattr(table, "export_exclude", ()))
    return exporter.response(f"{name}.{fmt}")


def page(request: HttpRequest, template: str, context: dict, table=None) -> HttpResponse:
    """The whole page, or only its table when cm.js refreshes it in place."""
    if table is not None and request.headers.get(PARTIAL_HEADER):
        response = render(request, "monitoring/_table.html", {"table": table})
    else:
        response = render(request, template, context)
    # Both answers share the URL: without Vary, the browser's cache keeps the table alone and
    # shows it instead of the page when the reader comes back to it (Back).
    patch_vary_headers(response, [PARTIAL_HEADER])
    return response


def state(element: Element) -> dict:
    """How long the element has been in its state and why: every page's header line."""
    info = STATE_INFO[Status(element.status)]
    return {
        "status": element.status,
        "final": info.final,
        "meaning": info.meaning,
        "since": element.status_since,
        "for": age(element.status_since),
        "reason": element.status_reason,
    }


def history(element: Element, limit: int = 20) -> list[StatusChange]:
    content_type = ContentType.objects.get_for_model(type(element))
    return list(
        StatusChange.objects.filter(content_type=content_type, object_id=element.pk)
        .select_related("user")
        .order_by("-at", "-pk")[:limit]
    )


def permissions(request: HttpRequest) -> dict:
    user = request.user
    return {
        "can_operate": user.has_perm("campaigns.operate_campaign"),
        "can_acknowledge": user.has_perm("campaigns.acknowledge_alarm"),
    }


def crumbs(element) -> list[tuple[str, str]]:
    """(label, url) from the production down to the element, for the page's breadcrumb.
    The views select the parents with the element, so this costs no query."""
    from django.urls import reverse

    from campaigns.models import Campaign, Group, Step, Workflow

    chain: list[tuple[str, str]] = []
    node = element
    while node is not None:
        if isinstance(node, Workflow):
            chain.append((node.name, reverse("monitoring:workflow", args=[node.pk])))
            node = node.group
        elif isinstance(node, Group):
            chain.append((node.name, reverse("monitoring:group", args=[node.pk])))
            node = node.step
        elif isinstance(node, Step):
            chain.append((node.name, reverse("monitoring:step", args=[node.pk])))
            node = node.campaign
        elif isinstance(node, Campaign):
            chain.append((node.name, reverse("monitoring:campaign", args=[node.pk])))
            node = node.production
        else:
            chain.append((node.name, reverse("monitoring:overview") + f"?production={node.name}"))
            node = None
    return chain[::-1]
