"""The Celery app: a worker processes launches and polls the WMS on the beat schedule.

Broker: ``CELERY_BROKER_URL`` (Redis in production and CI). With none set it is
kombu's SQLAlchemy transport on a SQLite file under ``var/``, so the demo needs
no broker server.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cm_site.settings")

app = Celery("cm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
