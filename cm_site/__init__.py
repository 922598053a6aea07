"""cm's Django project; the Celery app is loaded with it so tasks are sent through it."""

from cm_site.celery import app as celery_app

__all__ = ["celery_app"]
