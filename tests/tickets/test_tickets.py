"""Stream tickets in-process (issue 31, item 5): issuing, reading, the refusals, the issue view, the
checks and the CORS headers. A ticket opening a real stream is tests/tickets/test_tickets_live.py's."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.core.checks import CheckMessage
from django.test import Client, override_settings

from echo.sse.glue.redact import redact_query
from echo.tickets import checks
from echo.tickets.issue import SALT, TicketError, issue_ticket, read_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("reader", password="pw-reader-3391")


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(TicketError) as refused:
        call()
    return refused.value.status, refused.value.code


def test_a_ticket_opens_its_channel_for_its_user(user: User) -> None:
    ticket = issue_ticket(user, channels=[f"user-{user.pk}"])
    assert ticket.path == f"/events/user-{user.pk}/"
    assert ticket.url.startswith(f"/events/user-{user.pk}/?ticket=")
    claims = read_ticket(ticket.value, ticket.path)
    assert claims.user == user
    assert claims.path == ticket.path
    assert claims.expires_at == ticket.expires_at


def test_a_ticket_is_refused_for_another_stream(user: User) -> None:
    ticket = issue_ticket(user, channels=[f"user-{user.pk}"])
    assert refusal(lambda: read_ticket(ticket.value, "/events/user-999/")) == (403, "ticket_wrong_stream")
    assert refusal(lambda: read_ticket(ticket.value, "/sse2")) == (403, "ticket_wrong_stream")


def test_a_tampered_ticket_is_refused(user: User) -> None:
    value = issue_ticket(user, path="/sse2").value
    altered = value[:-1] + ("A" if value[-1] != "A" else "B")
    assert refusal(lambda: read_ticket(altered, "/sse2")) == (403, "invalid_ticket")
    other = issue_ticket(user, path="/sse3").value
    spliced = other.split(":")[0] + ":" + value.split(":", 1)[1]  # one ticket's payload, another's signature
    assert refusal(lambda: read_ticket(spliced, "/sse3")) == (403, "invalid_ticket")
    assert refusal(lambda: read_ticket("x" * 2000, "/sse2")) == (400, "invalid_ticket")


def test_an_expired_ticket_is_refused(user: User) -> None:
    payload = json.loads(signing.b64_decode(issue_ticket(user, path="/sse2").value.split(":")[0].encode()))
    expired = signing.dumps({**payload, "x": int(time.time()) - 1}, salt=SALT, compress=False)
    assert refusal(lambda: read_ticket(expired, "/sse2")) == (403, "ticket_expired")


def test_a_password_change_a_deactivation_or_a_deletion_ends_a_users_tickets(user: User) -> None:
    value = issue_ticket(user, path="/sse2").value
    user.set_password("pw-reader-new-5522")
    user.save()
    assert refusal(lambda: read_ticket(value, "/sse2")) == (403, "invalid_ticket")
    value = issue_ticket(user, path="/sse2").value
    user.is_active = False
    user.save()
    assert refusal(lambda: read_ticket(value, "/sse2")) == (403, "invalid_ticket")
    user.is_active = True
    user.save()
    value = issue_ticket(user, path="/sse2").value
    user.delete()
    assert refusal(lambda: read_ticket(value, "/sse2")) == (403, "invalid_ticket")


def test_a_ticket_is_issued_for_a_signed_in_user_and_a_stream_only(user: User) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert refusal(lambda: issue_ticket(AnonymousUser(), path="/sse2")) == (403, "not_authenticated")
    assert refusal(lambda: issue_ticket(user, path="/admin/")) == (400, "invalid_parameter")
    assert refusal(lambda: issue_ticket(user, path="/sse2", lifetime=10**6)) == (400, "invalid_parameter")
    assert refusal(lambda: issue_ticket(user, channels=["a/b"])) == (400, "invalid_parameter")
    assert refusal(lambda: issue_ticket(user)) == (400, "invalid_parameter")


def test_the_middleware_refuses_a_bad_ticket_with_a_json_4xx_whatever_the_session(user: User) -> None:
    client = Client()
    client.force_login(user)
    response = client.get(f"/events/user-{user.pk}/", {"ticket": "garbage"})
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_ticket"
    twice = client.get(f"/events/user-{user.pk}/?ticket=a&ticket=b")
    assert (twice.status_code, twice.json()["error"]) == (400, "invalid_ticket")


def test_a_ticket_parameter_elsewhere_is_left_alone(user: User) -> None:
    response = Client().get("/admin/login/", {"ticket": "a-support-ticket"})
    assert response.status_code == 200


@pytest.mark.urls("tests.tickets.urls")
def test_the_issue_view_answers_a_signed_in_post_with_its_csrf_token(user: User) -> None:
    assert Client().post("/stream-tickets/", {"path": "/sse2"}).json()["error"] == "not_authenticated"
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post("/stream-tickets/", {"path": "/sse2"})
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
    client.get("/")  # the CSRF cookie
    token = client.cookies["csrftoken"].value
    body = json.dumps({"channels": [f"user-{user.pk}"], "lifetime": 60})
    response = client.post("/stream-tickets/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    answer = response.json()
    assert answer["path"] == f"/events/user-{user.pk}/"
    assert read_ticket(answer["ticket"], answer["path"]).user == user
    form = client.post("/stream-tickets/", {"channels": "demo"}, HTTP_X_CSRFTOKEN=token)
    assert form.json()["path"] == "/events/demo/"


@pytest.mark.urls("tests.tickets.urls")
@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{", 400, "invalid_body"),
        ("[]", 400, "invalid_body"),
        ('{"channels": "demo"}', 400, "invalid_parameter"),
        ('{"path": 1}', 400, "invalid_parameter"),
        ('{"path": "/sse2", "lifetime": true}', 400, "invalid_parameter"),
        ('{"path": "/sse2", "channels": ["demo"]}', 400, "invalid_parameter"),
        ('{"path": "/sse2", "pad": "' + "x" * 5000 + '"}', 413, "too_large"),
    ],
)
def test_the_issue_view_refuses_bad_input_with_a_json_4xx(
    user: User, body: str, status: int, error: str
) -> None:
    client = Client()
    client.force_login(user)
    response = client.post("/stream-tickets/", body, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert Client().get("/stream-tickets/").status_code == 405


def test_stream_views_answer_the_stream_origins_with_cors_headers_and_nothing_else_does() -> None:
    client = Client()
    origin = "http://localhost:8000"
    refused = client.get("/events/user-1/", {"ticket": "garbage"}, HTTP_ORIGIN=origin)
    assert refused["Access-Control-Allow-Origin"] == origin
    assert "Access-Control-Allow-Credentials" not in refused
    preflight = client.options("/sse2", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight["Access-Control-Allow-Origin"] == origin
    assert "Access-Control-Allow-Origin" not in client.get("/admin/login/", HTTP_ORIGIN=origin)
    other = client.get("/events/user-1/", {"ticket": "garbage"}, HTTP_ORIGIN="http://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_a_ticket_is_redacted_from_recorded_queries_by_default() -> None:
    assert redact_query("ticket=abc.def:ghi&message=hi") == "ticket=[redacted]&message=hi"


def ids(messages: list[CheckMessage]) -> list[str]:
    return [message.id or "" for message in messages]


def test_the_project_passes_the_checks() -> None:
    assert ids(checks.check_cors(None)) == []
    assert ids(checks.check_middleware(None)) == []
    assert ids(checks.check_redacted(None)) == []


def test_the_checks_name_each_mismatch(settings: Any) -> None:
    settings.ECHO = {"STREAM_ORIGINS": ["https://app.example.com"]}
    without_cors = [m for m in settings.MIDDLEWARE if m != checks.CORS_MIDDLEWARE]
    with override_settings(MIDDLEWARE=without_cors):
        assert ids(checks.check_cors(None)) == ["echo.W013"]
    apps = [app for app in settings.INSTALLED_APPS if app != "corsheaders"]
    with override_settings(INSTALLED_APPS=apps):
        assert ids(checks.check_cors(None)) == ["echo.E010"]
    without_tickets = [m for m in settings.MIDDLEWARE if m != checks.TICKET_MIDDLEWARE]
    with override_settings(MIDDLEWARE=without_tickets):
        assert ids(checks.check_middleware(None)) == ["echo.W014"]
    with override_settings(MIDDLEWARE=[checks.TICKET_MIDDLEWARE, *without_tickets]):
        assert ids(checks.check_middleware(None)) == ["echo.W014"]
    settings.ECHO = {"SECRET_QUERY_PARAMETERS": ["token"]}
    assert ids(checks.check_redacted(None)) == ["echo.W015"]
    settings.ECHO = {"SECRET_QUERY_PARAMETERS": ["token", "ticket"]}
    assert ids(checks.check_redacted(None)) == []


STARTPROJECT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def test_the_docs_settings_pass_the_checks_on_a_startproject_site(settings: Any) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "browser" / "tickets.md").read_text()
    block = re.findall(r"```python\n(.*?)```", page, re.S)[0]
    site: dict[str, Any] = {
        "INSTALLED_APPS": list(settings.INSTALLED_APPS),
        "MIDDLEWARE": STARTPROJECT_MIDDLEWARE[:],
    }
    exec(block, site)
    assert site["MIDDLEWARE"].index(checks.CORS_MIDDLEWARE) < site["MIDDLEWARE"].index(
        "django.middleware.common.CommonMiddleware"
    )
    with override_settings(MIDDLEWARE=site["MIDDLEWARE"], ECHO=site["ECHO"]):
        assert (
            ids(checks.check_cors(None) + checks.check_middleware(None) + checks.check_redacted(None)) == []
        )
