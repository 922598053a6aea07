"""Buttons on pages: launch, retry, validate, invalidate, each confirmed first.

GET shows what will happen (for invalidate, the dry run); POST does it, through the
same service functions as the admin, the API and the CLI. Only operators (the
``campaigns.operate_campaign`` permission) see the buttons or may post.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from campaigns.errors import CampaignError
from campaigns.models import Campaign, Group, Production, Step
from campaigns.services import actions, audit, invalidation, launch
from campaigns.states import Status, allowed_moves
from monitoring.views.common import state

LEVELS = {"production": Production, "campaign": Campaign, "step": Step, "group": Group}
PAGES = {"campaign": "monitoring:campaign", "step": "monitoring:step", "group": "monitoring:group"}


@dataclass(frozen=True)
class Action:
    label: str
    explains: str
    levels: tuple[str, ...]


ACTIONS = {
    "launch": Action("Launch", "Make the group's first attempt; a worker submits it.", ("group",)),
    "retry": Action(
        "Retry",
        "Make a new attempt that redoes only the failed quanta; earlier attempts are superseded.",
        ("group",),
    ),
    "validate": Action(
        "Validate", "Mark it good and ready for the next processing (accepted).", tuple(LEVELS)
    ),
    "invalidate": Action(
        "Invalidate",
        "Mark it and everything under it bad (rejected); with purge, delete its RUNs.",
        tuple(LEVELS),
    ),
}


# The status each action moves the element to, where the transition table decides.
_TARGET = {"validate": Status.ACCEPTED, "invalidate": Status.REJECTED}


def available(level: str, element) -> list[str]:
    """The actions a person may take on the element now: the buttons its page shows."""
    moves = allowed_moves(element.status)
    names = []
    for name, spec in ACTIONS.items():
        if level not in spec.levels:
            continue
        if name == "launch":
            ok = element.status == Status.READY
        elif name == "retry":
            ok = element.status in launch.RETRYABLE
        else:
            move = moves.get(_TARGET[name])
            ok = move is not None and move.actor.allows(manual=True)
        if ok:
            names.append(name)
    return names


@require_http_methods(["GET", "POST"])
def act(request, level: str, pk: int, action: str):
    spec = ACTIONS.get(action)
    if level not in LEVELS or spec is None or level not in spec.levels:
        raise Http404(f"no action {action!r} on a {level}")
    if not request.user.has_perm("campaigns.operate_campaign"):
        raise PermissionDenied("this action needs the operator role")
    element = get_object_or_404(LEVELS[level], pk=pk)
    back = _page_of(level, element)
    if request.method == "GET":
        context = {"element": element, "level": level, "action": action, "spec": spec}
        context |= {"state": state(element), "preview": _preview(action, element, request)}
        context["back"] = back.url
        return render(request, "monitoring/confirm.html", context)
    if request.POST.get("purge") == "on" and not request.user.is_superuser:
        # Deleting data is for admins, as in the API.
        raise PermissionDenied("purging RUNs needs the admin role")
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Say why: the reason is kept in the element's history.")
        return redirect(request.path)
    try:
        # Launches are all database: recorded in their own transaction. Validate and invalidate
        # commit before they touch the butler, so their entry is written after them.
        with audit.audited(
            action,
            element,
            user=request.user,
            via=audit.Via.PAGE,
            parameters=_parameters(action, request, reason),
            atomic=action in ("launch", "retry"),
        ) as outcome:
            done = outcome.message = _do(action, element, request, reason)
    except CampaignError as error:
        messages.error(request, f"{spec.label} refused: {error}")
        return back
    messages.success(request, done)
    return back


def _parameters(action: str, request, reason: str) -> dict:
    """What the form asked for, as the audit trail keeps it."""
    parameters: dict = {"reason": reason}
    if action in ("launch", "retry"):
        parameters["overrides"] = request.POST.get("overrides", "")
    if action == "invalidate":
        parameters["purge"] = request.POST.get("purge") == "on"
    return parameters


def _page_of(level: str, element):
    if level in PAGES:
        return redirect(PAGES[level], pk=element.pk)
    return redirect(reverse("monitoring:overview") + "?" + urlencode({"production": element.name}))


def _preview(action: str, element, request) -> list[str]:
    if action == "invalidate":
        report = invalidation.invalidate(
            element, user=request.user, reason="preview", purge=True, execute=False
        )
        return report.lines()
    return []


def _do(action: str, element, request, reason: str) -> str:
    user = request.user
    if action in ("launch", "retry"):
        wanted = Status.READY if action == "launch" else None
        if (wanted and element.status != wanted) or (
            action == "retry" and element.status not in launch.RETRYABLE
        ):
            raise CampaignError(f"{element.path} is {element.status}: cannot {action}")
        lines = request.POST.get("overrides", "").splitlines()
        overrides = launch.parse_overrides([line for line in lines if line.strip()])
        workflow = launch.request_launch(element, user=user, reason=reason, overrides=overrides)
        return f"{element.path}: attempt {workflow.attempt} requested; a worker submits it."
    if action == "validate":
        actions.validate(element, user=user, reason=reason)
        return f"{element.path} validated."
    purge = request.POST.get("purge") == "on"
    report = invalidation.invalidate(element, user=user, reason=reason, purge=purge)
    return f"{element.path} invalidated: " + "; ".join(report.lines()[:10])
