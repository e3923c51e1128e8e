"""The project's settings (every middleware, session recording on) plus the bench's URLs."""

from sse_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.django_bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "bench.django_bench.apps.BenchConfig"]  # noqa: F405
ECHO = {**ECHO, "METRICS_TOKEN": "bench-metrics", "SLOW_CLIENT_TIMEOUT": 5.0}  # noqa: F405
