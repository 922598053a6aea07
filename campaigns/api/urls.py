"""``/api/v1/``: the levels (a router of read viewsets) and the actions on them."""

from rest_framework.routers import DefaultRouter

from campaigns.api import actions, views

app_name = "api"
router = DefaultRouter()
views.register(router)

# Actions first: their paths (e.g. groups/<id>/retry/) sit under the levels' detail routes.
urlpatterns = actions.urlpatterns + router.urls
