"""Column types shared by every status table."""

import django_tables2 as tables
from django.utils.html import format_html, format_html_join

from campaigns.states import STATE_INFO, Status


def badge(status: str, text: str | None = None) -> str:
    info = STATE_INFO[Status(status)]
    return format_html(
        '<span class="badge text-bg-{}" title="{}">{}</span>',
        info.colour,
        info.meaning,
        text or Status(status).label,
    )


class StatusColumn(tables.Column):
    """Any status, as a badge in the status's colour."""

    def render(self, record, bound_column):
        # The raw value, not the label django-tables2 passes for fields with choices.
        return badge(bound_column.accessor.resolve(record))


class StatusCountsColumn(tables.Column):
    """Children counted by status, as one small badge per status.

    The counts come from ``table.<counts_attribute>`` (``{row pk: {status: n}}``),
    which the view fills with one grouped query for the whole page.
    """

    def __init__(self, counts_attribute: str, **kwargs):
        self.counts_attribute = counts_attribute
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("empty_values", ())
        super().__init__(**kwargs)

    def render(self, record, table):
        value = getattr(table, self.counts_attribute, {}).get(record.pk, {})
        ordered = [(s, value[s]) for s in Status.values if value.get(s)]
        return format_html_join(
            " ", "{}", ((badge(s, f"{n} {Status(s).label.lower()}"),) for s, n in ordered)
        )
