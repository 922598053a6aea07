from django.urls import path

from monitoring.views import actions, alarms, drilldown, overview, plots

app_name = "monitoring"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("states/", overview.states, name="states"),
    path("campaigns/<int:pk>/", drilldown.campaign, name="campaign"),
    path("steps/<int:pk>/", drilldown.step, name="step"),
    path("groups/<int:pk>/", drilldown.group, name="group"),
    path("groups/<int:pk>/alarms/", alarms.group_alarms, name="group-alarms"),
    path("workflows/<int:pk>/", drilldown.workflow, name="workflow"),
    path("workflows/<int:pk>/failures/", drilldown.failures, name="failures"),
    path("workflows/<int:pk>/files/<path:name>", drilldown.workflow_file, name="workflow-file"),
    path("archive/<int:pk>/", drilldown.archived_config, name="archived-config"),
    path("alarms/", alarms.alarm_list, name="alarms"),
    path("alarms/<int:pk>/", alarms.alarm_detail, name="alarm"),
    path("alarms/<int:pk>/acknowledge/", alarms.acknowledge, name="alarm-acknowledge"),
    path("alarms/<int:pk>/plot.<str:fmt>", plots.alarm_plot, name="alarm-plot"),
    path("plots/<str:kind>/<str:scope>/<int:pk>.<str:fmt>", plots.element_plot, name="plot"),
    path("act/<str:level>/<int:pk>/<str:action>/", actions.act, name="act"),
]
