"""django-eventstream's stock server: its URLs and ASGI application (see stock_settings)."""

from django.core.asgi import get_asgi_application

application = get_asgi_application()

# After the apps load: django-eventstream reads its models at import.
import django_eventstream  # noqa: E402
from django.urls import include, path  # noqa: E402

from . import views  # noqa: E402

urlpatterns = [
    path("events/<channel>/", include(django_eventstream.urls), {"format-channels": ["{channel}"]}),
    path("bench/publish", views.publish),
]
