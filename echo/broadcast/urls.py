from django.urls import path

from . import views

app_name = "echo_broadcast"

urlpatterns = [
    path("events/<str:channels>/", views.events, name="events"),
    path("events/<str:channel>/publish", views.publish_event, name="publish"),
]
