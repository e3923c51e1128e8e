from django.urls import path

from . import views

app_name = "echo_demo"

urlpatterns = [
    path("", views.live_page, name="live"),
    path("sse", views.sse, name="sse"),
    path("sse2", views.sse2, name="sse2"),
    path("sse3", views.sse3, name="sse3"),
    path("typed/", views.typed_page, name="typed"),
]
