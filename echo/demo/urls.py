from django.urls import path

from . import views

app_name = "echo_demo"

urlpatterns = [
    path("", views.live_page, name="live"),
    path("sse", views.sse, name="sse"),
    path("sse2", views.sse2, name="sse2"),
    path("sse3", views.sse3, name="sse3"),
    path("htmx/", views.htmx_page, name="htmx"),
    path("htmx/sse", views.htmx_sse, name="htmx_sse"),
    path("channel/", views.channel_page, name="channel"),
    path("tickets", views.tickets_page, name="tickets"),
    path("completion/", views.completion_page, name="completion"),
    path("typed/", views.typed_page, name="typed"),
]
