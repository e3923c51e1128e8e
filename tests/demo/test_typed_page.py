"""`/typed/`, the typed module's demo page, through Django's test client: its stream URL is built
from the validated query, and a bad query is a JSON 400, never a page whose stream would fail."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from .test_views import assert_invalid_parameter


def page_config(text: str) -> dict[str, str]:
    found = re.search(r'<script id="typed-config" type="application/json">(.*?)</script>', text, re.S)
    assert found is not None
    config: dict[str, str] = json.loads(found.group(1))
    return config


@pytest.mark.django_db
def test_the_typed_page_streams_what_its_query_asks_for() -> None:
    response = Client().get("/typed/", {"message": "a&b </script>", "limit": "3", "interval": "0"})

    assert response.status_code == 200
    text = response.content.decode()
    assert 'import { TypedEventSource } from "/static/echo/eventsource.js";' in text
    assert "a&b </script>" not in text  # json_script escapes it
    assert page_config(text) == {
        "stream": "/sse2?message=a%26b+%3C%2Fscript%3E&interval=0.0&limit=3",
        "channel": "/events/demo/",
    }


@pytest.mark.django_db
def test_the_typed_page_defaults_to_hello_every_second() -> None:
    config = page_config(Client().get("/typed/").content.decode())

    assert config["stream"] == "/sse2?message=hello&interval=1.0"


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "parameter"), [({"limit": "0"}, "limit"), ({"interval": "x"}, "interval")])
def test_a_bad_query_is_a_json_400_naming_the_parameter(query: dict[str, str], parameter: str) -> None:
    assert_invalid_parameter(Client().get("/typed/", query), parameter)


def test_the_typed_page_refuses_a_post_with_json() -> None:
    response = Client().post("/typed/")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
