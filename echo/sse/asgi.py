"""The public path of the ASGI application a site's `asgi.py` builds
(`from echo.sse.asgi import get_asgi_application`): a re-export of `echo.sse.glue.asgi`."""

from .glue.asgi import ASGIHandler, get_asgi_application, stream_view

__all__ = ["ASGIHandler", "get_asgi_application", "stream_view"]
