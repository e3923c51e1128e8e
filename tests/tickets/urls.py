from django.urls import include, path

urlpatterns = [
    path("", include("echo.tickets.urls")),
    path("", include("tests.live_urls")),
]
