"""The project's settings with the bench urlconf (publish view, django-eventstream's stock endpoint)."""

from sse_project.settings import *  # noqa: F403

ROOT_URLCONF = "django_bench.urls"
