from django.urls import path

from . import views

app_name = "echo_broadcast"

urlpatterns = [
    path("events/<str:channels>/", views.events, name="events"),
]
