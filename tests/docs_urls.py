"""docs/streams.md's example URLs, and the admin (to log in with)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("examples.urls")),
]
