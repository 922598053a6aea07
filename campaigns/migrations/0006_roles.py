"""The roles as Django groups: shifter (look, acknowledge alarms) and operator (also act).

Admins are superusers. The pages, the admin and the API all ask for these permissions,
so giving a person a role is adding them to the group.
"""

from django.db import migrations

SHIFTER = ["acknowledge_alarm"]
OPERATOR = SHIFTER + ["operate_campaign"]


def make_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after all migrations; the roles need them now. The
    # migration state's app config has no models module, which create_permissions checks for.
    config = apps.get_app_config("campaigns")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in (("shifter", SHIFTER), ("operator", OPERATOR)):
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["shifter", "operator"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0005_monitoring_pages"),
    ]
    operations = [migrations.RunPython(make_roles, remove_roles)]
