"""The page tables' speed-ups change no output: a row rendered by ``table_row`` is the row
django-tables2's own template writes, and a remembered signature is the signature."""

import functools
import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django_tables2 import RequestConfig, utils

from monitoring.tables import GroupTable, JobTable, WorkflowTable
from monitoring.tables_speed import remembering
from tests.page_world import build_world

pytestmark = pytest.mark.django_db


def rendered(table, template_name: str) -> str:
    table.template_name = template_name
    request = RequestFactory().get("/", {"sort": "-name"})
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    html = Template("{% load django_tables2 %}{% render_table table %}").render(
        Context({"table": table, "request": request})
    )
    return re.sub(r"\s+", " ", html).replace("> <", "><").strip()


@pytest.mark.parametrize(
    ("make_table", "lookups"),
    [
        (lambda w: WorkflowTable(w.failed_group.workflows.all()), {"failed": {}}),
        (lambda w: JobTable(w.failed_attempt.jobs.all()), {}),
        (lambda w: GroupTable(w.step.groups.all()), {"current": {}, "produced": {}, "alarms": {}}),
    ],
    ids=["workflows", "jobs", "groups"],
)
def test_rows_come_out_as_django_tables2_writes_them(make_table, lookups):
    world = build_world(3)
    tables = []
    for template in ("django_tables2/table.html", "django_tables2/cm_table.html"):
        table = make_table(world)
        for name, value in lookups.items():
            setattr(table, name, value)
        tables.append(rendered(table, template))
    stock, ours = tables
    assert stock.count("<tr") > 1 and stock == ours


def test_a_signature_is_asked_once_per_function_and_bound_methods_drop_self():
    asked = []

    def signature(fn):
        asked.append(fn)
        return utils.signature(fn)

    remembered = remembering(signature)

    class Table:
        def render_name(self, value, record):
            return value

    def render(value, **kwargs):
        return value

    for _ in range(3):
        assert remembered(Table().render_name) == (("value", "record"), None)
        assert remembered(render) == (("value",), "kwargs")
    assert remembered(Table.render_name) == (("self", "value", "record"), None)
    assert len(asked) == 3  # bound, plain, unbound: one look each

    partial = functools.partial(render, value=1)
    remembered(partial), remembered(partial)
    assert asked[-2:] == [partial, partial]  # callables made on the fly are never kept
