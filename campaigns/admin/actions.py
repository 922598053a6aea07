"""Admin actions: the same service functions the API, pages and CLI call, on a whole selection."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from campaigns.errors import CampaignError
from campaigns.services import actions as services
from campaigns.services import audit


class StatusActionsMixin:
    """Validate, invalidate, pause and resume the selected elements in one service call.

    The services check every move against the transition table before writing,
    so a selection with one illegal move changes nothing and says why.
    """

    actions = ("validate", "invalidate", "pause", "resume")

    @admin.action(
        description="Validate (accept) selected %(verbose_name_plural)s", permissions=["change"]
    )
    def validate(self, request, queryset):
        self._apply(request, queryset, services.validate, "Validated")

    @admin.action(
        description="Invalidate (reject) selected %(verbose_name_plural)s", permissions=["change"]
    )
    def invalidate(self, request, queryset):
        self._apply(request, queryset, services.invalidate, "Invalidated")

    @admin.action(description="Pause selected %(verbose_name_plural)s", permissions=["change"])
    def pause(self, request, queryset):
        self._apply(request, queryset, services.pause, "Paused")

    @admin.action(description="Resume selected %(verbose_name_plural)s", permissions=["change"])
    def resume(self, request, queryset):
        self._apply(request, queryset, services.resume, "Resumed")

    def _apply(self, request, queryset, service: Callable[..., int], done: str) -> None:
        reason = f"admin action by {request.user.get_username()}"
        elements = list(queryset)
        try:
            # Not atomic: validate and invalidate commit before they update the butler.
            with audit.audited(
                service.__name__,
                elements,
                user=request.user,
                via=audit.Via.ADMIN,
                parameters={"reason": reason},
                atomic=False,
            ):
                count = service(elements, user=request.user, reason=reason)
        except CampaignError as error:
            self.message_user(request, _lines(str(error)), level=messages.ERROR)
            return
        self.message_user(
            request, f"{done} {count} {model_ngettext(self.opts, count)}.", messages.SUCCESS
        )


def _lines(text: str) -> str:
    # A refusal lists one element a line; keep the lines apart in the message.
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in text.splitlines()))
