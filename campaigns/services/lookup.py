"""Find elements by the paths people type: production/campaign/step/group[/attempt_N]."""

from campaigns.errors import CampaignError
from campaigns.models import Campaign, Element, Group, Production, Step, Workflow

_LEVELS = ["production", "campaign", "step", "group", "workflow"]
# For each depth: the model, and the lookup prefix of each path part, top down.
_LOOKUPS = [
    (Production, [""]),
    (Campaign, ["production__", ""]),
    (Step, ["campaign__production__", "campaign__", ""]),
    (Group, ["step__campaign__production__", "step__campaign__", "step__", ""]),
]


def element_by_path(path: str) -> Element:
    parts = [p for p in path.strip().strip("/").split("/") if p]
    if not 1 <= len(parts) <= 5:
        raise CampaignError(f"{path!r} is not an element path (production/campaign/step/group)")
    found: Element | None
    if len(parts) == 5:
        attempt = parts[4].removeprefix("attempt_")
        if not attempt.isdigit():
            raise CampaignError(f"{path!r}: a workflow is named attempt_N")
        group = element_by_path("/".join(parts[:4]))
        found = Workflow.objects.filter(group_id=group.pk, attempt=int(attempt)).first()
    else:
        model, prefixes = _LOOKUPS[len(parts) - 1]
        lookup = {f"{prefix}name": part for prefix, part in zip(prefixes, parts, strict=True)}
        found = model._default_manager.filter(**lookup).first()
    if found is None:
        raise CampaignError(f"no {_LEVELS[len(parts) - 1]} {'/'.join(parts)!r}")
    return found


def campaign_of(element: Element) -> Campaign | None:
    """The campaign an element belongs to; None for a production (it has several)."""
    if isinstance(element, Campaign):
        return element
    if isinstance(element, Step):
        return element.campaign
    if isinstance(element, Group):
        return element.step.campaign
    if isinstance(element, Workflow):
        return element.group.step.campaign
    return None
