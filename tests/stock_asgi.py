"""The project under Django's own ASGI handler (not echo's): the pumped mode of EventStreamResponse."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
