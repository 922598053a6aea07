"""Seed the campaign types named in the design outline; more can be added as rows."""

from django.db import migrations

TYPES = {
    "DataProc": "Processing of observed data.",
    "SimProc": "Processing of simulated data.",
    "CalibProc": "Production of calibration products.",
}


def seed(apps, schema_editor):
    CampaignType = apps.get_model("campaigns", "CampaignType")
    for name, description in TYPES.items():
        CampaignType.objects.get_or_create(name=name, defaults={"description": description})


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
