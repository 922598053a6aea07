"""Column types shared by every status table.

Each column renders HTML for the pages and a plain ``value`` for CSV/JSON export,
so an export holds the same rows as the page without markup.
"""

from datetime import datetime
from functools import lru_cache

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import get_language

from campaigns.states import STATE_INFO, Status


def badge(status: str, text: str | None = None) -> str:
    return _badge(status, text, get_language())


@lru_cache(maxsize=256)
def _badge(status: str, text: str | None, language: str | None) -> str:
    # A status's badge is the same every time (its label is a lazy translation, costly to
    # resolve in every cell of a table): made once per status, text and language.
    info = STATE_INFO[Status(status)]
    return format_html(
        '<span class="badge text-bg-{}" title="{}">{}</span>',
        info.colour,
        info.meaning,
        text or Status(status).label,
    )


def progress_bar(succeeded: int, failed: int, expected: int) -> str:
    """Quanta done / failed / total as text over a two-colour bar."""
    total = max(expected, succeeded + failed, 1)
    return format_html(
        '<span class="cm-progress" title="{} succeeded, {} failed of {}">'
        '<span class="cm-progress-ok" style="width:{}%"></span>'
        '<span class="cm-progress-bad" style="width:{}%"></span></span>'
        '<span class="cm-nowrap">{} / {} / {}</span>',
        succeeded,
        failed,
        expected,
        round(100 * succeeded / total, 1),
        round(100 * failed / total, 1),
        succeeded,
        failed,
        expected,
    )


def age(moment: datetime | None) -> str:
    """How long ago, for "in this state for ..."."""
    return timesince(moment, timezone.now()) if moment else ""


class StatusColumn(tables.Column):
    """Any status, as a badge in the status's colour; how long and why in its tooltip row."""

    def __init__(self, *, with_since: bool = False, **kwargs):
        self.with_since = with_since
        super().__init__(**kwargs)

    def render(self, record, bound_column):
        # The raw value, not the label django-tables2 passes for fields with choices.
        status = bound_column.accessor.resolve(record)
        if not self.with_since:
            return badge(status)
        final = STATE_INFO[Status(status)].final
        return format_html(
            '{}<span class="cm-since" title="{}">{}</span>',
            badge(status),
            record.status_reason,
            "" if final else f" for {age(record.status_since)}",
        )

    def value(self, record, bound_column):
        return bound_column.accessor.resolve(record)


class QuantaColumn(tables.Column):
    """Quanta done / failed / total of the row's own counts, as a progress bar."""

    def __init__(self, **kwargs):
        kwargs.setdefault("verbose_name", "Quanta done / failed / total")
        kwargs.setdefault("accessor", "quanta_expected")
        kwargs.setdefault("empty_values", ())
        super().__init__(**kwargs)

    def render(self, record):
        return progress_bar(record.quanta_succeeded, record.quanta_failed, record.quanta_expected)

    def value(self, record):
        return f"{record.quanta_succeeded}/{record.quanta_failed}/{record.quanta_expected}"


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

    def counts(self, record, table) -> list[tuple[str, int]]:
        value = getattr(table, self.counts_attribute, {}).get(record.pk, {})
        return [(s, value[s]) for s in Status.values if value.get(s)]

    def render(self, record, table):
        return format_html_join(
            " ",
            "{}",
            ((badge(s, f"{n} {Status(s).label.lower()}"),) for s, n in self.counts(record, table)),
        )

    def value(self, record, table):
        return ", ".join(f"{n} {s}" for s, n in self.counts(record, table))


class LinkedNameColumn(tables.Column):
    """The row's name, linking to its page (``record.get_page_url`` is set by the view)."""

    def __init__(self, route: str, **kwargs):
        self.route = route
        super().__init__(**kwargs)

    def render(self, record, value):
        from django.urls import reverse

        return format_html('<a href="{}">{}</a>', reverse(self.route, args=[record.pk]), value)

    def value(self, value):
        return value
