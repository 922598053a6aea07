"""What every plot shares: finding its element (with its path in one query) and the data's shape."""

from django.db.models import Exists, Model, OuterRef, QuerySet

from campaigns.models import Campaign, Group, Job, Production, Step, Workflow
from campaigns.states import Status

#: scope (as in URLs and ``ProgressSample.scope``) -> model
MODELS: dict[str, type[Model]] = {
    "production": Production,
    "campaign": Campaign,
    "step": Step,
    "group": Group,
    "workflow": Workflow,
    "job": Job,
}
#: What ``.path`` walks, per scope, so that ``select_related`` makes it cost no query.
PARENTS: dict[str, tuple[str, ...]] = {
    "production": (),
    "campaign": ("production",),
    "step": ("campaign__production",),
    "group": ("step__campaign__production",),
    "workflow": ("group__step__campaign__production",),
    "job": ("workflow__group__step__campaign__production",),
}


class PlotNotFound(LookupError):
    """No such plot: an unknown kind or scope, or a missing element (a 404 at the edge)."""


def with_parents(scope: str):
    """The scope's rows with the parents their paths need (none for a production: an empty
    ``select_related()`` would follow every relation, and Django deprecates it)."""
    manager = MODELS[scope].objects
    return manager.select_related(*PARENTS[scope]) if PARENTS[scope] else manager.all()


def load_element(scope: str, pk: int) -> Model:
    """The element with every parent its path needs, in one query."""
    if scope not in MODELS:
        raise PlotNotFound(f"no scope {scope!r}")
    element = with_parents(scope).filter(pk=pk).first()
    if element is None:
        raise PlotNotFound(f"no {scope} {pk}")
    return element


def scope_of(element: Model) -> str:
    return type(element).__name__.lower()


def element_info(element: Model) -> dict:
    """``{"scope", "id", "path"}``: what a plot is about, for its title and its JSON twin."""
    return {"scope": scope_of(element), "id": element.pk, "path": element.path}


def current_attempts(element: Step | Campaign) -> QuerySet[Workflow]:
    """The workflows its groups follow: each group's newest attempt that is not superseded.

    The same rule as ``rollup_groups``, as one subquery instead of rows in Python.
    """
    live = Workflow.objects.exclude(status=Status.SUPERSEDED)
    newer = live.filter(group=OuterRef("group"), attempt__gt=OuterRef("attempt"))
    parent = "group__step" if isinstance(element, Step) else "group__step__campaign"
    where = {parent: element}
    return live.filter(**where).exclude(Exists(newer))


def plot_data(kind: str, element: dict, **fields) -> dict:
    """A plot's data (its JSON twin) with every key present, so ``render`` and readers need no
    guesses. ``plot`` is ``step``, ``line`` (x: ISO-8601 times), ``bar`` (x: categories) or
    ``histogram`` (``bin_edges`` plus one row of counts per series)."""
    data = {
        "kind": kind,
        "plot": "line",
        "title": "",
        "subtitle": "",
        "x_label": "",
        "y_label": "",
        "x_type": "time",
        "x_scale": "linear",
        "series": [],
        "limits": [],
        "marks": [],
        "note": "",
        "element": element,
    }
    unknown = fields.keys() - data.keys() - {"bin_edges", "alarm"}
    if unknown:
        raise TypeError(f"unknown plot fields: {sorted(unknown)}")
    return data | fields
