"""`GET /metrics` on a real Daphne process: refused without staff or the bearer token (a JSON
403), parsed by prometheus_client's own parser and by `promtool check metrics` (Debian's
prometheus package), and moving with real streams, refusals and broadcast deliveries."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..servers import Server, admin_login, daphne, run_python, wait_for
from ..services import require

pytestmark = pytest.mark.live

TOKEN = "scrape-token-8841"
CREATE_USERS = """
from django.contrib.auth.models import Permission, User
User.objects.create_user("staff", password="pw-staff-2231", is_staff=True)
User.objects.create_user("plain", password="pw-plain-2231")
viewer = User.objects.create_user("viewer", password="pw-viewer-2231", is_staff=True)
viewer.user_permissions.add(Permission.objects.get(codename="view_streamsession"))
"""
PROMTOOL_MISSING = "promtool is not installed (apt-get install prometheus)"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = json.dumps({"METRICS_TOKEN": TOKEN, "MAX_STREAMS_PER_CLIENT": 3})
    with daphne(tmp_path_factory.mktemp("metrics"), ECHO_TEST_SETTINGS=settings) as running:
        run_python("manage.py", "shell", "-c", CREATE_USERS, env=running.env)
        yield running


def scrape(server: Server) -> str:
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def first_event(lines: Iterator[str]) -> str:
    return next(line for line in lines if line.startswith("event:"))


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_an_anonymous_or_unprivileged_request_gets_a_json_403(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["error"] == "forbidden"
    with httpx.Client(base_url=server.url, timeout=10) as plain:
        plain.get("/admin/login/")
        # Not staff: the admin's login refuses them, and so does /metrics with their session.
        plain.post(
            "/admin/login/",
            data={
                "username": "plain",
                "password": "pw-plain-2231",
                "csrfmiddlewaretoken": plain.cookies["csrftoken"],
            },
        )
        assert plain.get("/metrics").status_code == 403
    with httpx.Client(base_url=server.url, timeout=10) as staff:
        # Staff without the sessions dashboard's view permission: the admin lets them in, and
        # metrics do not, as the dashboard does not.
        admin_login(staff, "staff", "pw-staff-2231")
        refused = staff.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
    with httpx.Client(base_url=server.url, timeout=10) as viewer:
        admin_login(viewer, "viewer", "pw-viewer-2231")
        assert viewer.get("/metrics").status_code == 200
    posted = httpx.post(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert posted.status_code == 405


def test_promtool_accepts_the_output(server: Server, tmp_path: Path) -> None:
    promtool = require("promtool", PROMTOOL_MISSING)
    httpx.get(f"{server.url}/sse2", params={"message": "p", "limit": 2, "interval": 0}, timeout=10)
    text = scrape(server)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    # promtool prints lint problems and exits non-zero on any.
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (checked.stdout + checked.stderr).strip() == ""
    # OpenMetrics, for a scraper that asks for it.
    response = httpx.get(
        f"{server.url}/metrics",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text; version=1.0.0"},
        timeout=10,
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_counters_move_with_real_streams(server: Server) -> None:
    before = samples(scrape(server))
    for n in range(3):
        response = httpx.get(
            f"{server.url}/sse2", params={"message": f"m{n}", "limit": 4, "interval": 0}, timeout=10
        )
        assert response.text.count("event: echo") == 4
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.get("/")  # the csrftoken cookie
        token = http.cookies["csrftoken"]
        with (
            httpx.stream("GET", f"{server.url}/sse3", params={"message": "held", "interval": 0.2}) as held,
            httpx.stream("GET", f"{server.url}/events/metrics-test/") as subscriber,
            httpx.stream("GET", f"{server.url}/sse3", params={"message": "third", "interval": 0.2}) as third,
        ):
            # Each iterator kept: a dropped one closes its response.
            lines = [held.iter_lines(), subscriber.iter_lines(), third.iter_lines()]
            held_lines, subscriber_lines, third_lines = lines
            next(held_lines)
            assert first_event(subscriber_lines) == "event: stream-open"
            next(third_lines)  # the third stream from this address: the limit is 3
            with httpx.stream("GET", f"{server.url}/sse2", params={"message": "over"}, timeout=10) as over:
                assert over.status_code == 429
            published = http.post(
                "/events/metrics-test/publish",
                data={"event": "chat_message", "text": "hello"},
                headers={"X-CSRFToken": token},
            )
            assert published.status_code == 200
            assert first_event(subscriber_lines) == "event: chat_message"

            during = samples(scrape(server))
            assert (
                value(during, "echo_streams_open", stream="echo")
                + value(during, "echo_streams_open", stream="echo+reverse_echo")
                >= 1
            )
            assert value(during, "echo_streams_open", stream="events:{channel}") == 1
            assert moved(before, during, "echo_streams_refused_total", limit="client") == 1
            # Counted under the channel's declaration (tests/apps.py: "{channel}"), not its name.
            assert moved(before, during, "echo_broadcast_published_total", channel="{channel}") == 1
            assert moved(before, during, "echo_broadcast_deliveries_total", channel="{channel}") == 1
            assert moved(before, during, "echo_broadcast_lag_seconds_count", channel="{channel}") == 1

    def ended() -> Samples:
        return samples(scrape(server))

    # The held streams' clients went away: counted as they end, on the server's side.
    wait_for(
        lambda: moved(before, ended(), "echo_streams_ended_total", reason="client_disconnected") >= 3,
        timeout=30,
        what="three streams ended by their clients",
    )
    after = ended()
    assert moved(before, after, "echo_streams_ended_total", reason="completed") == 3
    # The three /sse2 streams, the two /sse3, the subscriber, plus the scrapes' own nothing.
    assert moved(before, after, "echo_streams_opened_total") == 6
    assert moved(before, after, "echo_stream_events_sent_total") >= 14
    assert moved(before, after, "echo_stream_bytes_sent_total") > 0
    assert value(after, "echo_streams_open", stream="events:{channel}") == 0
    # The session writer wrote the rows in batches and says how long they took.
    assert moved(before, after, "echo_sessions_batch_rows_count") > 0
    assert value(after, "echo_sessions_write_seconds_count") > 0
    assert ("echo_sessions_queue_depth", ()) in after
