"""The one status badge every admin page uses: the status's label in its colour."""

from django.utils.html import format_html

from campaigns.states import STATE_INFO, Status, colour

# The admin has no Bootstrap, so each badge carries its colours in a style
# attribute as well as the Bootstrap class (the class is what other pages style).
_PALETTE = {  # Bootstrap 5 colour: (background, text)
    "primary": ("#0d6efd", "#fff"),
    "secondary": ("#6c757d", "#fff"),
    "success": ("#198754", "#fff"),
    "info": ("#0dcaf0", "#000"),
    "warning": ("#ffc107", "#000"),
    "danger": ("#dc3545", "#fff"),
    "light": ("#f8f9fa", "#000"),
    "dark": ("#212529", "#fff"),
}
_STYLE = (
    "display:inline-block;padding:2px 7px;border-radius:6px;font-size:0.85em;"
    "font-weight:600;white-space:nowrap;border:1px solid #ccc;background:{};color:{}"
)


def status_badge(status: str) -> str:
    """HTML for a status as a coloured badge; a dash for no status (a creation's from-status)."""
    if not status:
        return "—"
    name = colour(status)
    background, text = _PALETTE[name]
    return format_html(
        '<span class="badge text-bg-{}" style="{}" title="{}">{}</span>',
        name,
        _STYLE.format(background, text),
        STATE_INFO[Status(status)].meaning,
        Status(status).label,
    )
