"""ASGI entry point: `daphne sse_project.asgi:application` (what `make run` serves)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sse_project.settings")

application = get_asgi_application()
