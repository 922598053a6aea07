"""Template helpers of the shifter pages."""

from django import template
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from monitoring.columns import badge, progress_bar

register = template.Library()


@register.simple_tag
def status_badge(status: str) -> str:
    return badge(status)


@register.simple_tag
def quanta(element) -> str:
    """An element's quanta done / failed / total as a progress bar."""
    return progress_bar(element.quanta_succeeded, element.quanta_failed, element.quanta_expected)


@register.filter
def split(value: str, separator: str = " ") -> list[str]:
    return value.split(separator)


@register.simple_tag
def table_row(row) -> str:
    """One row of a django-tables2 table, as its template writes it: the row's attributes,
    then each cell with its column's ``td`` attributes, escaped and localised alike."""
    cells = []
    for column, cell in row.items():
        if column.localize is not None:
            cell = localize(cell, use_l10n=column.localize)
        cells.append(f"<td {_td_attributes(row.table, column)}>{conditional_escape(cell)}</td>")
    # Cells apart on lines of their own, as the template had them: a row's text (what a
    # reader copies, or a test reads) keeps its words apart.
    body = "\n".join(cells)
    return mark_safe(f"<tr {row.attrs.as_html()}>\n{body}\n</tr>\n")


def _td_attributes(table, column) -> str:
    """A column's ``td`` attributes: the same on every row unless the column computes them
    from the record (a callable), so worked out once per table render otherwise."""
    if any(callable(v) for v in column.column.attrs.get("td", {}).values()):
        return column.attrs["td"].as_html()
    known = table.__dict__.setdefault("_cm_td_attributes", {})
    if column.name not in known:
        known[column.name] = column.attrs["td"].as_html()
    return known[column.name]
