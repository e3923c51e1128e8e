from django.urls import path

from . import views

app_name = "echo_tickets"

urlpatterns = [
    path("stream-tickets/", views.issue, name="issue"),
]
