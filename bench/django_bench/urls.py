from django.urls import include, path
from django_eventstream.views import events as stock_events

from django_bench import views

urlpatterns = [
    path("bench/publish", views.publish, name="bench-publish"),
    path("bench/recording", views.recording, name="bench-recording"),
    path("bench/terminate", views.terminate, name="bench-terminate"),
    # django-eventstream's own view, as its docs mount it: the channel from the URL.
    path("stock/events/<str:channel>/", stock_events, {"format-channels": ["{channel}"]}),
    path("", include("sse_project.urls")),
]
