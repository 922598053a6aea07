"""Butler collection names, derived from the hierarchy through the campaign's templates."""

from typing import Any

from campaigns.models import Campaign, Group, Production, Step, Workflow


class NameError_(ValueError):
    """A template that cannot be filled in with these values."""


def fill(template: str, values: dict[str, Any]) -> str:
    try:
        name = template.format(**values)
    except (KeyError, IndexError, ValueError) as error:
        raise NameError_(f"template {template!r} does not resolve: {error}") from None
    if not name or any(c.isspace() for c in name) or "//" in name or name.startswith("/"):
        raise NameError_(f"template {template!r} gives an invalid collection name {name!r}")
    return name


def existing_names(names: set[str]) -> dict[str, str]:
    """Which of ``names`` cm already uses, and for what: one indexed look-up per kind of name."""
    found: dict[str, str] = {}
    lookups = [
        (Production, "output_collection", "production output"),
        (Campaign, "output_collection", "campaign output"),
        (Step, "input_collection", "step input"),
        (Step, "output_collection", "step output"),
        (Group, "input_collection", "group input"),
        (Group, "output_collection", "group output"),
        (Workflow, "output_run", "workflow RUN"),
    ]
    for model, field, what in lookups:
        for name in model._default_manager.filter(**{f"{field}__in": names}).values_list(
            field, flat=True
        ):
            found[name] = what
    return found
