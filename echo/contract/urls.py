from django.urls import path

from . import views

app_name = "echo_contract"

urlpatterns = [
    path("schema/asyncapi.json", views.asyncapi, name="asyncapi"),
    path("schema/openapi.json", views.openapi, name="openapi"),
]
