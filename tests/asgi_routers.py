"""ASGI applications as an embedding site may build them, for the `echo.W004` check."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from channels.routing import ProtocolTypeRouter
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application as get_stock_application

from echo.sse.asgi import get_asgi_application

echo_router = ProtocolTypeRouter({"http": get_asgi_application()})
stock_router = ProtocolTypeRouter({"http": get_stock_application()})
echo_with_static_files = ASGIStaticFilesHandler(get_asgi_application())
