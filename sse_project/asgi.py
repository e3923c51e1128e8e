"""ASGI entry point: `python -m echo.server sse_project.asgi:application` (what `make run` serves).

`echo.sse.asgi.get_asgi_application` is Django's handler with one change: an open stream does not
hold an OS thread (see that module).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sse_project.settings")

from echo.sse.asgi import get_asgi_application

application = get_asgi_application()
