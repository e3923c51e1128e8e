"""An open channel under abuse: publishing over HTTP is rate-limited per client (a JSON 429 with
Retry-After), and stored events are bounded per channel by count and age."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from echo.broadcast.conf import BroadcastSettings
from echo.broadcast.ratelimit import TokenBuckets
from echo.broadcast.retention import RetainingModelStorage
from echo.broadcast.storage import get_storage

from ..servers import Server, daphne, daphne_command, free_port, migrate, running, server_env


def test_a_bucket_allows_its_burst_then_one_per_refill() -> None:
    buckets = TokenBuckets()
    assert [buckets.take("a", rate=2.0, burst=3, now=100.0) for _ in range(3)] == [0.0] * 3
    assert buckets.take("a", rate=2.0, burst=3, now=100.0) == pytest.approx(0.5)
    assert buckets.take("b", rate=2.0, burst=3, now=100.0) == 0.0  # each client its own
    assert buckets.take("a", rate=2.0, burst=3, now=100.5) == 0.0  # half a second: one token
    assert buckets.take("a", rate=2.0, burst=3, now=100.5) > 0


def test_buckets_forget_the_least_recently_seen_client_past_their_bound() -> None:
    buckets = TokenBuckets(max_clients=3)
    for client in "abcd":
        assert buckets.take(client, rate=1.0, burst=1, now=0.0) == 0.0
    assert len(buckets._buckets) == 3
    assert buckets.take("a", rate=1.0, burst=1, now=0.0) == 0.0  # forgotten: a full bucket again
    assert buckets.take("d", rate=1.0, burst=1, now=0.0) > 0


def test_the_limit_is_on_by_default() -> None:
    defaults = BroadcastSettings()
    assert defaults.PUBLISH_RATE == 2.0
    assert defaults.PUBLISH_BURST == 10
    assert (defaults.BROADCAST_KEEP_EVENTS, defaults.BROADCAST_KEEP_SECONDS) == (10_000, 86_400.0)


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[Server]:
    # One token per 100 s after a burst of 3: nothing refills during the test however slow it runs.
    settings = json.dumps({"PUBLISH_RATE": 0.01, "PUBLISH_BURST": 3})
    with daphne(tmp_path, ECHO_TEST_SETTINGS=settings) as server:
        yield server


@pytest.mark.live
def test_one_client_publishing_too_fast_gets_a_json_429_with_retry_after(limited_server: Server) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=10) as client:
        client.get("/")
        token = client.cookies["csrftoken"]

        def post(text: str) -> httpx.Response:
            return client.post("/events/demo/publish", data={"text": text}, headers={"X-CSRFToken": token})

        statuses = [post(f"m{n}").status_code for n in range(3)]
        assert statuses == [200, 200, 200]
        refused = post("one too many")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        # Refused before anything was stored: the channel's ids stop at 3.
        with client.stream("GET", "/events/demo/") as stream:
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("id:")) == "id: demo:3"


@pytest.mark.live
def test_behind_proxy_headers_forged_addresses_that_are_not_addresses_share_one_bucket(
    tmp_path: Path,
) -> None:
    """Served as the README serves in production (`--proxy-headers`): a client that writes a new
    `X-Forwarded-For` that is no address for every publish gets no fresh bucket each time."""
    env = server_env(
        tmp_path / "db.sqlite3", ECHO_TEST_SETTINGS=json.dumps({"PUBLISH_RATE": 0.01, "PUBLISH_BURST": 3})
    )
    migrate(env)
    port = free_port()
    command = [*daphne_command("127.0.0.1", port), "--proxy-headers"]
    with (
        running(command, tmp_path, host="127.0.0.1", port=port, env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        client.get("/")
        token = client.cookies["csrftoken"]
        statuses = [
            client.post(
                "/events/demo/publish",
                data={"text": f"m{n}"},
                headers={"X-CSRFToken": token, "X-Forwarded-For": f"not-an-ip-{n}"},
            ).status_code
            for n in range(6)
        ]
        # Two real addresses (as a proxy that overwrites the header sends them) each get a bucket.
        own = [
            client.post(
                "/events/demo/publish",
                data={"text": address},
                headers={"X-CSRFToken": token, "X-Forwarded-For": address},
            ).status_code
            for address in ("192.0.2.7", "2001:db8::7")
        ]
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert own == [200, 200]


@pytest.mark.django_db(transaction=True)
def test_stored_events_are_bounded_per_channel_as_they_are_stored() -> None:
    from django_eventstream.models import Event

    storage = get_storage()
    assert isinstance(storage, RetainingModelStorage)
    with override_settings(ECHO={"BROADCAST_KEEP_EVENTS": 20}):
        for n in range(100):
            storage.append_event("bounded", "chat_message", {"n": n})
            storage.append_event("other", "chat_message", {"n": n})
        kept = sorted(Event.objects.filter(channel="bounded").values_list("eid", flat=True))
        # Trimmed every tenth of the bound: at most 10 % over it, always the newest.
        assert 20 <= len(kept) <= 22
        assert kept[-1] == 100
        assert kept == list(range(kept[0], 101))
        assert Event.objects.filter(channel="other").count() == len(kept)


@pytest.mark.django_db(transaction=True)
def test_trim_events_applies_both_bounds_to_every_channel_and_again_deletes_nothing() -> None:
    from django_eventstream.models import Event

    storage = get_storage()
    with override_settings(ECHO={"BROADCAST_KEEP_EVENTS": None, "BROADCAST_KEEP_SECONDS": None}):
        for n in range(30):
            storage.append_event("a", "chat_message", {"n": n})
        for n in range(5):
            storage.append_event("b", "chat_message", {"n": n})
    Event.objects.filter(channel="b").update(created=timezone.now() - timedelta(days=2))
    with override_settings(ECHO={"BROADCAST_KEEP_EVENTS": 10, "BROADCAST_KEEP_SECONDS": 86_400.0}):
        call_command("trim_events", stdout=(out := _Out()))
        # django-eventstream stores an event 0 when a channel starts (replay's anchor): trimmed too.
        assert out.text == "Deleted 21 event(s) over the count bound and 6 past the age bound.\n"
        assert sorted(Event.objects.values_list("channel", "eid")) == [("a", n) for n in range(21, 31)]
        call_command("trim_events", stdout=(again := _Out()))
        assert again.text == "Deleted 0 event(s) over the count bound and 0 past the age bound.\n"


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
