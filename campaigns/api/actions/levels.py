"""The levels an action may name in its URL (``/api/v1/<plural>/...``), and how to read them."""

from django.db.models import Model, QuerySet

from campaigns.models import Campaign, Group, Production, Step

LEVELS: dict[str, type[Model]] = {
    "productions": Production,
    "campaigns": Campaign,
    "steps": Step,
    "groups": Group,
}
# What each level's path reads, so a selection costs one query however long.
PATH_RELATED: dict[type[Model], tuple[str, ...]] = {
    Production: (),
    Campaign: ("production",),
    Step: ("campaign__production",),
    Group: ("step__campaign__production",),
}


def with_paths(model: type[Model]) -> QuerySet:
    """The level's rows, each with the parents its path reads."""
    related = PATH_RELATED[model]
    manager = model._default_manager
    # A production's path reads no parent. select_related() with no names would follow every
    # foreign key (and is deprecated), so ask for none rather than for all.
    return manager.select_related(*related) if related else manager.all()
