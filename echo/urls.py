"""Every installed echo feature's URLs under one include: `path("", include("echo.urls"))`.

- `echo.broadcast`: `events/<channel>[,<channel>...]/`, a subscription (`echo_broadcast:events`).
- `echo.contract`: `schema/asyncapi.json` and `schema/openapi.json`, staff only by default.
- `echo.metrics`: `metrics`, Prometheus' format, for staff users or a bearer token.
- `echo.tickets`: `stream-tickets/`, a signed-in POST that issues a stream ticket.

A feature that is not in `INSTALLED_APPS` adds nothing. The demo's pages are not here: the demo
project includes `echo.demo.urls` itself, and a site embedding echo need not.
"""

from __future__ import annotations

from django.apps import apps
from django.urls import URLPattern, URLResolver, include, path

__all__ = ["urlpatterns"]

urlpatterns: list[URLPattern | URLResolver] = []

if apps.is_installed("echo.broadcast"):
    urlpatterns.append(path("", include("echo.broadcast.urls")))
if apps.is_installed("echo.contract"):
    urlpatterns.append(path("", include("echo.contract.urls")))
if apps.is_installed("echo.metrics"):
    urlpatterns.append(path("", include("echo.metrics.urls")))
if apps.is_installed("echo.tickets"):
    urlpatterns.append(path("", include("echo.tickets.urls")))
