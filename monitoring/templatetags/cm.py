"""Template helpers of the shifter pages."""

from django import template

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
