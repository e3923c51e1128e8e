"""A site's URLs that forgot `include("echo.urls")` (the `echo.W006` check)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
