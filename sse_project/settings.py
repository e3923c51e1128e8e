"""Settings for the demo project: safe defaults for a laptop, environment variables for the rest.

`DJANGO_SECRET_KEY`, `DJANGO_DEBUG`, `DJANGO_ALLOWED_HOSTS` (comma-separated) and `ECHO_SQLITE_PATH`
override the defaults below. With `DJANGO_DEBUG=0` the secret key must come from the environment:
the committed one is public, so the project refuses to start on it. `DATABASE_URL`
(`postgres://user:password@host:5432/name`, read by dj-database-url) replaces the embedded SQLite
database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
# For a laptop only; its `django-insecure-` prefix is what `check --deploy` (security.W009) flags.
_DEVELOPMENT_KEY = "django-insecure-echo-demo-development-key-for-a-laptop-never-for-a-deployment"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG=0: the development key is public. Set "
            "DJANGO_SECRET_KEY to a long random value: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = _DEVELOPMENT_KEY
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    # First, so that `manage.py runserver` is Daphne's ASGI server with echo's adapter, and streams
    # (echo.E001); `daphne` itself before staticfiles (daphne.E001).
    "echo.server",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_eventstream",
    # htmx and its SSE extension as static files, for the demo's htmx page (`{% htmx_script %}`).
    "django_htmx",
    # The toolkit's checks, then the features, then the demo (which a site embedding echo omits).
    "echo.sse",
    "echo.sessions",
    "echo.broadcast",
    "echo.contract",
    "echo.metrics",
    "echo.tickets",  # stream tickets and CORS for pages on other origins
    "corsheaders",
    "echo.demo",
]

MIDDLEWARE = [
    "echo.sse.middleware.EventStreamMiddleware",
    # CORS headers for ECHO["STREAM_ORIGINS"] on the stream views (echo.tickets), preflights too.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's stylesheets and scripts) under Daphne, which serves none itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After it: a stream's `?ticket=` stands in for the session (echo.W014).
    "echo.tickets.middleware.TicketMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sse_project.urls"
# Refused POSTs (the live page's publish form) get a JSON 403 rather than Django's HTML page.
CSRF_FAILURE_VIEW = "echo.sse.glue.http.csrf_failure"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

ASGI_APPLICATION = "sse_project.asgi.application"

# The embedded default. WAL lets readers run beside the writer; IMMEDIATE takes the write lock
# when a transaction starts, so two writers queue on the busy timeout instead of one failing
# with "database is locked" when it upgrades a read lock.
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("ECHO_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    # CONN_MAX_AGE 0: a stream holds no connection between its queries (echo.W008 says why).
    DATABASES = {"default": {**dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=0)}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` gathers them here (`make run` does); WhiteNoise serves them.
STATIC_ROOT = Path(os.environ.get("ECHO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# While developing, straight from the apps (an edited file shows without collectstatic).
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis, when set, carries broadcast events and the sessions' control bus between processes.
REDIS_URL = os.environ.get("REDIS_URL", "")

# Pages on these origins may read the streams with a ticket (echo.tickets): the demo's
# /tickets page on http://localhost:8000 reads them from http://127.0.0.1:8000.
_STREAM_ORIGINS = os.environ.get("ECHO_STREAM_ORIGINS", "http://localhost:8000").split(",")

ECHO: dict[str, object] = {"REDIS_URL": REDIS_URL, "STREAM_ORIGINS": [o for o in _STREAM_ORIGINS if o]}

# Broadcast channels store their events in the database (django-eventstream's storage, the
# default); who may read and publish each is in its declaration (echo.demo.apps). With REDIS_URL
# the sessions' control bus (terminate) also reaches every process through Redis (no
# CHANNEL_LAYERS needed).

# Pushpin (GRIP) in front: set GRIP_URL to its publish endpoint, e.g. http://127.0.0.1:5561.
GRIP_URL = os.environ.get("GRIP_URL", "")
if GRIP_URL:
    MIDDLEWARE.insert(1, "django_grip.GripMiddleware")
    # Pushpin's replay is django-eventstream's own, which reads its storage from this setting.
    EVENTSTREAM_STORAGE_CLASS = "echo.broadcast.retention.RetainingModelStorage"

# echo's and Django's log lines carry a timestamp and the logger's name, each line once.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "timestamped": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "timestamped"}},
    "loggers": {
        "echo": {
            "handlers": ["console"],
            "level": os.environ.get("ECHO_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # Django's own (a refused request: "Bad Request: /sse2"), once: Django's default config
        # prints it and lets it propagate to the root handler Daphne's command line sets up.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
