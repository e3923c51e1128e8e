"""The public path of `JsonLines`, the one a site's `LOGGING` names
(`{"()": "echo.sse.logs.JsonLines"}`): a re-export of `echo.sse.glue.logs`."""

from .glue.logs import JsonLines

__all__ = ["JsonLines"]
