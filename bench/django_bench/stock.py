"""django-eventstream's stock server: its URLs and ASGI application (see stock_settings)."""

import time

from django.core.asgi import get_asgi_application

application = get_asgi_application()

# After the apps load: django-eventstream reads its models at import.
import django_eventstream  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
async def publish(request: HttpRequest) -> JsonResponse:
    """bench/django_bench/views.py's publish, through `django_eventstream.send_event`."""
    began, send = time.perf_counter(), sync_to_async(django_eventstream.send_event)
    for n in range(int(request.GET["n"])):
        await send(request.GET["channel"], "bench_tick", {"seq": n, "sent": time.time()})
    return JsonResponse({"published": int(request.GET["n"]), "seconds": time.perf_counter() - began})


urlpatterns = [
    path("events/<channel>/", include(django_eventstream.urls), {"format-channels": ["{channel}"]}),
    path("bench/publish", publish),
]
