"""The project's settings with the bench urlconf (publish view, django-eventstream's stock endpoint)."""

import json
import os

from sse_project.settings import *  # noqa: F403

ROOT_URLCONF = "django_bench.urls"
INSTALLED_APPS = [*INSTALLED_APPS, "django_bench.apps.BenchConfig"]  # noqa: F405

# The recording scenario scrapes /metrics with it while recording is on.
METRICS_TOKEN = "bench-metrics"
# A bench run's own ECHO keys, as JSON (bench/pgrelay.py compares the relays this way).
ECHO = {**ECHO, "METRICS_TOKEN": METRICS_TOKEN, **json.loads(os.environ.get("ECHO_BENCH_SETTINGS", "{}"))}  # noqa: F405
