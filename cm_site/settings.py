"""Settings for cm, driven by the environment.

With no environment at all cm runs on embedded defaults: SQLite and a local
``var/`` directory (ignored by git) for the launching area and the archives.
Production sets ``DATABASE_URL`` (PostgreSQL) and the ``CM_*`` locations.
"""

from pathlib import Path

import dj_database_url

from cm_site.env import env_bool, env_int, env_list, env_map, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("CM_DEBUG", False)
# The embedded default key is only for a local checkout; production sets its own.
SECRET_KEY = env_str("CM_SECRET_KEY", "cm-local-development-key-not-for-production")
ALLOWED_HOSTS = env_list("CM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

# --- Locations ---------------------------------------------------------------
VAR_DIR = env_path("CM_VAR_DIR", BASE_DIR / "var")
# The editable area operators run commands from (the outline's launching area).
CM_LAUNCH_DIR = env_path("CM_LAUNCH_DIR", VAR_DIR / "launch")
# As-run configs, content-addressed and read-only.
CM_YAML_ARCHIVE_DIR = env_path("CM_YAML_ARCHIVE_DIR", VAR_DIR / "archive" / "yaml")
# Logs and monitoring files copied from the WMS, per workflow.
CM_PANDA_ARCHIVE_DIR = env_path("CM_PANDA_ARCHIVE_DIR", VAR_DIR / "archive" / "panda")
# Specs larger than this are refused before parsing.
CM_SPEC_MAX_BYTES = env_int("CM_SPEC_MAX_BYTES", 1024 * 1024)
# Butler repositories by label ("label=path-or-URI,..."); a spec's butler_repo may name a
# label or give a path/URI directly. The demo's repository is built by `cm demo-repo`.
CM_BUTLER_REPOSITORIES = env_map("CM_BUTLER_REPOSITORIES", {"demo": str(VAR_DIR / "demo" / "repo")})

# --- Celery: launches and the WMS poll ------------------------------------------------
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged when it ends, so a worker killed in the middle loses nothing:
# the task is delivered again, and every task is idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CM_POLL_SECONDS = env_int("CM_POLL_SECONDS", 60)
# Failed quanta are classified by this table of patterns (see the file for the format).
CM_ERROR_RULES = env_path("CM_ERROR_RULES", BASE_DIR / "campaigns" / "error_rules.yaml")
# Alarm rules: limits on workflow and group metrics, judged after each poll (docs/alarms.md).
CM_ALARM_RULES = env_path("CM_ALARM_RULES", BASE_DIR / "monitoring" / "alarm_rules.yaml")
CM_POLL_CONCURRENCY = env_int("CM_POLL_CONCURRENCY", 8)
CELERY_BEAT_SCHEDULE = {
    "check-workflow-status": {
        "task": "monitoring.tasks.check_workflow_status",
        "schedule": CM_POLL_SECONDS,
    },
    "process-launches": {
        "task": "campaigns.tasks.process_launches",
        "schedule": env_int("CM_LAUNCH_SECONDS", 10),
    },
    "purge-idempotency-keys": {
        "task": "campaigns.tasks.purge_idempotency_keys",
        "schedule": 3600,
    },
}

# --- Database ----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'cm.sqlite3'}"),
        conn_max_age=env_int("CM_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default must work in a fresh checkout, where var/ does not exist yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while a worker writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Applications ------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tables2",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "campaigns",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the pages' CSS/JS and the admin's in any mode (runserver serves them only with DEBUG).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cm_site.urls"
WSGI_APPLICATION = "cm_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Django's, with a user's permissions read in one query (campaigns/auth.py).
AUTHENTICATION_BACKENDS = ["campaigns.auth.OneQueryModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Static files come straight from the apps (no collectstatic step to forget); they are few and
# small. A deployment may run collectstatic and set CM_STATIC_FROM_APPS=False.
WHITENOISE_USE_FINDERS = env_bool("CM_STATIC_FROM_APPS", True)
if WHITENOISE_USE_FINDERS:
    # WhiteNoise also looks in STATIC_ROOT and warns on every start when it is missing.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("CM_LOG_LEVEL", "INFO")},
    # pandaclient's HTTP client logs every request at INFO: ten thousand lines a poll pass,
    # and a fifth of the client's time per PanDA call. Its warnings and errors still show.
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpcore")},
}

# People log in on cm's own page (operators need not be admin staff) and land on the overview.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "monitoring:overview"
LOGOUT_REDIRECT_URL = "monitoring:overview"

# --- REST API (campaigns/api, docs/api.md) -------------------------------------
REST_FRAMEWORK = {
    # Scripts send "Authorization: Token <key>"; the browser reuses its page session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["campaigns.api.permissions.HasRole"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cm — campaign management API",
    "DESCRIPTION": "Read every level, act on groups, steps, campaigns and productions "
    "(launch, retry, validate, invalidate) and acknowledge alarms. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs are documentation: anyone may read them; the endpoints check roles.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # The interactive docs' JavaScript is served from here, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# How long a stored Idempotency-Key answer is replayed.
CM_IDEMPOTENCY_HOURS = env_int("CM_IDEMPOTENCY_HOURS", 24)
