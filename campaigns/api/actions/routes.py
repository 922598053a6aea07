"""The actions' URLs, relative to ``/api/v1/``, and their names (used with the ``api:`` prefix).

- ``<plural>/<id>/<verb>/``, named ``<plural>-<verb>``: every level validates and invalidates;
  groups also launch and retry.
- ``<plural>/bulk/<verb>/``, named ``<plural>-bulk-<verb>``: the same verbs, for every level
  but productions.
- ``alarms/<id>/acknowledge/``, named ``alarms-acknowledge``.
"""

from django.urls import URLPattern, path

from campaigns.api.actions.bulk import bulk_view
from campaigns.api.actions.levels import LEVELS
from campaigns.api.actions.rules import LAUNCHES
from campaigns.api.actions.single import AlarmAcknowledge, element_view


def _routes() -> list[URLPattern]:
    routes = []
    for plural in LEVELS:
        verbs = [*LAUNCHES, "validate", "invalidate"] if plural == "groups" else []
        verbs = verbs or ["validate", "invalidate"]
        for verb in verbs:
            view = element_view(plural, verb).as_view()
            routes.append(path(f"{plural}/<int:id>/{verb}/", view, name=f"{plural}-{verb}"))
        if plural != "productions":  # a bulk of productions is one too many to want
            for verb in verbs:
                view = bulk_view(plural, verb).as_view()
                routes.append(path(f"{plural}/bulk/{verb}/", view, name=f"{plural}-bulk-{verb}"))
    view = AlarmAcknowledge.as_view()
    routes.append(path("alarms/<int:id>/acknowledge/", view, name="alarms-acknowledge"))
    return routes


urlpatterns = _routes()
