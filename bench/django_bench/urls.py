from django.urls import include, path

from . import views

urlpatterns = [
    path("bench/publish", views.publish),
    path("bench/bare", views.bare),
    path("bench/terminate", views.terminate),
    path("", include("sse_project.urls")),
]
