"""The public path of `EventStreamMiddleware`, the one a site's `MIDDLEWARE` names
(`"echo.sse.middleware.EventStreamMiddleware"`): a re-export of `echo.sse.glue.middleware`."""

from .glue.middleware import RETRY_AFTER, EventStreamMiddleware

__all__ = ["RETRY_AFTER", "EventStreamMiddleware"]
