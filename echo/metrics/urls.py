from django.urls import path

from . import views

app_name = "echo_metrics"

urlpatterns = [path("metrics", views.metrics, name="metrics")]
