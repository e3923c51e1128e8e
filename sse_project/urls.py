from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("echo.urls")),
    path("", include("echo.demo.urls")),
]
