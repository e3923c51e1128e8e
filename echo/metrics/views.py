"""`GET metrics`: Prometheus' text format (or OpenMetrics, as the scraper's `Accept` asks).

Never public: the session of a staff user with `ECHO["METRICS_PERMISSION"]` (the sessions
dashboard's view permission), or `Authorization: Bearer <ECHO["METRICS_TOKEN"]>`; anyone else gets
a JSON 403.
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from echo.sse.glue.http import json_error, method_not_allowed

from .conf import app_settings

__all__ = ["allowed", "metrics"]

_BEARER = "bearer "
_ALLOWED = ("GET", "HEAD")


def allowed(request: HttpRequest) -> bool:
    token = app_settings.METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    bearer = given[: len(_BEARER)].lower() == _BEARER
    if token and bearer and hmac.compare_digest(given[len(_BEARER) :].strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)
    return bool(
        user is not None
        and user.is_active
        and user.is_staff
        and user.has_perm(app_settings.METRICS_PERMISSION)
    )


@csrf_exempt  # it changes nothing: any other method gets the JSON 405, not a CSRF page
@never_cache
def metrics(request: HttpRequest) -> HttpResponseBase:
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    if not allowed(request):
        return json_error(
            403,
            "forbidden",
            "Metrics are for staff users with the permission ECHO['METRICS_PERMISSION'] names, or a "
            "scraper with ECHO['METRICS_TOKEN'] as its bearer token.",
        )
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encoder(REGISTRY), content_type=content_type)
