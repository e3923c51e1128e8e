"""The stream sessions admin: the changelist, its filters and search, read-only records, the live
counts, and the "terminate" action reaching the channels group."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from echo.sessions import bus
from echo.sessions.models import StreamSession
from echo.sse.wire.endings import EndReason

from .test_bus import unreachable_layer

CHANGELIST = "/admin/echo_sessions/streamsession/"
LIVE_JSON = "/admin/echo_sessions/streamsession/live.json"


@dataclass
class Rows:
    alice: Any
    echo_alice: StreamSession
    echo_loopback6: StreamSession
    both_live: StreamSession
    no_events_yet: StreamSession
    reverse_completed: StreamSession
    echo_disconnected: StreamSession
    echo_terminated: StreamSession

    @property
    def live(self) -> set[uuid.UUID]:
        return {self.echo_alice.id, self.echo_loopback6.id, self.both_live.id, self.no_events_yet.id}

    @property
    def ended(self) -> set[uuid.UUID]:
        return {self.reverse_completed.id, self.echo_disconnected.id, self.echo_terminated.id}


def make(**fields: Any) -> StreamSession:
    return StreamSession.objects.create(**fields)


@pytest.fixture
def rows(db: None, django_user_model: Any) -> Rows:
    now = timezone.now()
    alice = django_user_model.objects.create_user("alice", password="pw")
    reason = StreamSession.EndReason
    return Rows(
        alice=alice,
        echo_alice=make(
            stream="echo",
            path="/sse2",
            query="message=hi",
            client="127.0.0.1",
            user=alice,
            started_at=now - timedelta(minutes=2, seconds=5),
            events_sent=12,
            bytes_sent=3456,
        ),
        echo_loopback6=make(
            stream="echo", path="/sse2", client="::1", started_at=now - timedelta(seconds=30)
        ),
        both_live=make(
            stream="echo+reverse_echo", path="/sse3", client="127.0.0.7", started_at=now - timedelta(hours=1)
        ),
        no_events_yet=make(stream="", path="/sse2", client="127.0.0.1", started_at=now),
        reverse_completed=make(
            stream="reverse_echo",
            path="/sse1",
            client="127.0.0.9",
            started_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
            ended_at=datetime(2024, 3, 1, 13, 1, 1, tzinfo=UTC),
            end_reason=reason.COMPLETED,
            events_sent=7,
            bytes_sent=700,
        ),
        echo_disconnected=make(
            stream="echo",
            path="/sse1",
            client="127.0.0.9",
            user=alice,
            started_at=datetime(2024, 7, 9, 8, 0, tzinfo=UTC),
            ended_at=datetime(2024, 7, 9, 8, 0, 30, tzinfo=UTC),
            end_reason=reason.CLIENT_DISCONNECTED,
        ),
        echo_terminated=make(
            stream="echo",
            path="/sse2",
            client="::1",
            started_at=now - timedelta(days=1),
            ended_at=now - timedelta(days=1) + timedelta(minutes=1),
            end_reason=reason.TERMINATED,
        ),
    )


def listed(client: Client, query: str = "") -> set[uuid.UUID]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def cells(html: str, pk: uuid.UUID) -> dict[str, str]:
    """The changelist cells of one row, by column name, as text."""
    row = re.search(rf'<tr>(?:(?!</tr>).)*?value="{pk}"(?:(?!</tr>).)*</tr>', html, re.S)
    assert row is not None, f"row {pk} not in the changelist"
    found = re.findall(r'<t[hd] class="field-([\w]+)[^"]*"[^>]*>(.*?)</t[hd]>', row[0], re.S)
    return {name: re.sub(r"<[^>]+>", "", text).strip() for name, text in found}


# -- the changelist ---------------------------------------------------------------------------------


def test_changelist_lists_every_session_with_its_columns(admin_client: Client, rows: Rows) -> None:
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert {row.pk for row in response.context["cl"].result_list} == rows.live | rows.ended
    html = response.content.decode()
    for column in [
        "stream_name",
        "client",
        "user_name",
        "started",
        "duration_display",
        "events",
        "bytes_display",
        "state",
        "end_reason",
    ]:
        assert f"column-{column}" in html, column
    live = cells(html, rows.echo_alice.pk)
    assert live["stream_name"] == "echo"
    assert live["client"] == "127.0.0.1"
    assert live["user_name"] == "alice"
    assert live["events"] == "12"
    assert live["bytes_display"] == "3.4\xa0KB"
    assert live["started"] == timezone.localtime(rows.echo_alice.started_at).strftime("%Y-%m-%d %H:%M:%S")
    assert live["state"] == "live"
    assert live["duration_display"].startswith("0:02:")
    ended = cells(html, rows.reverse_completed.pk)
    assert ended["state"] == "ended"
    assert ended["end_reason"] == "completed"
    assert ended["duration_display"] == "1:01:01"
    assert cells(html, rows.echo_disconnected.pk)["end_reason"] == "client disconnected"


def test_changelist_is_newest_first(admin_client: Client, rows: Rows) -> None:
    response = admin_client.get(CHANGELIST)
    started = [row.started_at for row in response.context["cl"].result_list]
    assert started == sorted(started, reverse=True)


@pytest.mark.parametrize("stream", ["echo", "echo+reverse_echo", "reverse_echo"])
def test_changelist_filters_by_stream(admin_client: Client, rows: Rows, stream: str) -> None:
    expected = set(StreamSession.objects.filter(stream=stream).values_list("id", flat=True))
    assert expected
    assert listed(admin_client, f"?stream={stream.replace('+', '%2B')}") == expected


def test_changelist_filters_live_and_ended(admin_client: Client, rows: Rows) -> None:
    assert listed(admin_client, "?state=live") == rows.live
    assert listed(admin_client, "?state=ended") == rows.ended


@pytest.mark.parametrize(
    ("reason", "attribute"),
    [
        ("completed", "reverse_completed"),
        ("client_disconnected", "echo_disconnected"),
        ("terminated", "echo_terminated"),
    ],
)
def test_changelist_filters_by_end_reason(
    admin_client: Client, rows: Rows, reason: str, attribute: str
) -> None:
    expected = {getattr(rows, attribute).pk}
    assert listed(admin_client, f"?end_reason={reason}") == expected
    assert listed(admin_client, f"?end_reason__exact={reason}") == expected


def test_changelist_filters_combine(admin_client: Client, rows: Rows) -> None:
    assert listed(admin_client, "?stream=echo&state=live") == {rows.echo_alice.pk, rows.echo_loopback6.pk}


def test_changelist_offers_every_filter_choice(admin_client: Client, rows: Rows) -> None:
    html = admin_client.get(CHANGELIST).content.decode()
    for link in [
        "?stream=echo",
        "?stream=echo%2Breverse_echo",
        "?state=live",
        "?state=ended",
        "?end_reason__exact=server_shutdown",
        "?end_reason__exact=error",
    ]:
        assert f'href="{link}"' in html, link


def test_the_end_reason_filter_offers_every_reason_of_the_table_by_its_label(
    admin_client: Client, rows: Rows
) -> None:
    html = admin_client.get(CHANGELIST).content.decode()
    for reason in EndReason:
        assert f'href="?end_reason__exact={reason.value}"' in html, reason
    assert ">fell behind</a>" in html  # the reason a broadcast subscriber that fell behind ends with
    assert StreamSession._meta.get_field("end_reason").choices == [(r.value, r.label) for r in EndReason]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("127.0.0.9", {"reverse_completed", "echo_disconnected"}),
        ("::1", {"echo_loopback6", "echo_terminated"}),
        ("/sse1", {"reverse_completed", "echo_disconnected"}),
        ("sse3", {"both_live"}),
        ("alice", {"echo_alice", "echo_disconnected"}),
        ("nobody-here", set()),
    ],
)
def test_changelist_searches_client_path_and_username(
    admin_client: Client, rows: Rows, q: str, expected: set[str]
) -> None:
    assert listed(admin_client, f"?q={q}") == {getattr(rows, name).pk for name in expected}


def test_changelist_date_hierarchy_narrows_by_year_month_and_day(admin_client: Client, rows: Rows) -> None:
    html = admin_client.get(CHANGELIST).content.decode()
    assert "started_at__year=2024" in html  # the date hierarchy links

    assert listed(admin_client, "?started_at__year=2024") == {
        rows.reverse_completed.pk,
        rows.echo_disconnected.pk,
    }
    assert listed(admin_client, "?started_at__year=2024&started_at__month=7") == {rows.echo_disconnected.pk}
    assert listed(admin_client, "?started_at__year=2024&started_at__month=3&started_at__day=1") == {
        rows.reverse_completed.pk
    }
    assert listed(admin_client, "?started_at__year=2024&started_at__month=3&started_at__day=2") == set()


# -- records are read-only ------------------------------------------------------------------------


def test_change_page_shows_the_record_read_only(admin_client: Client, rows: Rows) -> None:
    url = reverse("admin:echo_sessions_streamsession_change", args=[rows.echo_alice.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    assert "<input" not in re.sub(r'<input type="hidden"[^>]*>', "", html.split('id="content-main"')[1])
    assert "message=hi" in html
    assert "3456" in html


def test_change_page_refuses_a_post(admin_client: Client, rows: Rows) -> None:
    row = rows.echo_alice
    url = reverse("admin:echo_sessions_streamsession_change", args=[row.pk])

    response = admin_client.post(url, {"stream": "changed", "events_sent": "0"})

    assert response.status_code == 403
    row.refresh_from_db()
    assert (row.stream, row.events_sent) == ("echo", 12)


def test_add_page_is_refused(admin_client: Client, rows: Rows) -> None:
    url = reverse("admin:echo_sessions_streamsession_add")
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"stream": "forged"}).status_code == 403
    assert not StreamSession.objects.filter(stream="forged").exists()
    changelist = admin_client.get(CHANGELIST).content.decode()
    assert reverse("admin:echo_sessions_streamsession_add") not in changelist


def test_delete_is_refused(admin_client: Client, rows: Rows) -> None:
    url = reverse("admin:echo_sessions_streamsession_delete", args=[rows.echo_terminated.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert StreamSession.objects.filter(pk=rows.echo_terminated.pk).exists()


# -- who may look ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CHANGELIST, LIVE_JSON])
def test_anonymous_visitor_is_sent_to_the_login_page(client: Client, rows: Rows, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


@pytest.fixture
def staff(db: None, django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def grant(user: Any, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="echo_sessions", codename__in=codenames)
    )


def test_staff_without_permissions_is_refused_the_changelist(client: Client, rows: Rows, staff: Any) -> None:
    client.force_login(staff)
    assert client.get(CHANGELIST).status_code == 403
    url = reverse("admin:echo_sessions_streamsession_change", args=[rows.echo_alice.pk])
    assert client.get(url).status_code == 403


def test_staff_without_permissions_is_refused_the_live_json(client: Client, rows: Rows, staff: Any) -> None:
    client.force_login(staff)
    assert client.get(LIVE_JSON).status_code == 403


def test_staff_with_view_permission_sees_the_changelist(client: Client, rows: Rows, staff: Any) -> None:
    grant(staff, "view_streamsession")
    client.force_login(staff)
    assert listed(client) == rows.live | rows.ended
    assert client.get(LIVE_JSON).status_code == 200


# -- live counts ----------------------------------------------------------------------------------


def test_changelist_shows_live_counts_per_stream(admin_client: Client, rows: Rows) -> None:
    response = admin_client.get(CHANGELIST)

    html = response.content.decode()
    box = html.split('id="live-sessions"')[1].split("</div>")[0]
    counts = dict(re.findall(r'<tr><td>([^<]*)</td><td class="live-count">(\d+)</td></tr>', box))
    assert counts == {"(no events yet)": "1", "echo": "2", "echo+reverse_echo": "1"}
    assert f'href="{LIVE_JSON}"' in box


def test_changelist_says_when_nothing_is_live(admin_client: Client, db: None) -> None:
    make(stream="echo", ended_at=timezone.now(), end_reason=StreamSession.EndReason.COMPLETED)

    html = admin_client.get(CHANGELIST).content.decode()

    assert "No live sessions." in html


def test_live_json_counts_live_sessions_per_stream(admin_client: Client, rows: Rows) -> None:
    url = reverse("admin:echo_sessions_streamsession_live")
    assert url == LIVE_JSON

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "live": {"(no events yet)": 1, "echo": 2, "echo+reverse_echo": 1},
        "total": 4,
    }


def test_live_json_when_nothing_is_live(admin_client: Client, db: None) -> None:
    assert admin_client.get(LIVE_JSON).json() == {"live": {}, "total": 0}


# -- the terminate action -------------------------------------------------------------------------


class GroupListener:
    """A test channel in the sessions group of the in-memory channel layer."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        self.channel: str = async_to_sync(self.layer.new_channel)("test-admin.")
        async_to_sync(self.layer.group_add)(bus.GROUP, self.channel)

    def receive(self) -> dict[str, Any]:
        async def receive() -> dict[str, Any]:
            async with asyncio.timeout(5):
                message: dict[str, Any] = await self.layer.receive(self.channel)
                return message

        return async_to_sync(receive)()

    def nothing_received(self) -> bool:
        """True if no message came before now: a marker sent now is the first thing received."""
        marker = {"type": "test.marker", "id": str(uuid.uuid4())}
        async_to_sync(self.layer.send)(self.channel, marker)
        return self.receive() == marker

    def leave(self) -> None:
        async_to_sync(self.layer.group_discard)(bus.GROUP, self.channel)


@pytest.fixture
def group() -> Any:
    listener = GroupListener()
    yield listener
    listener.leave()


def terminate(client: Client, *ids: uuid.UUID) -> Any:
    return client.post(
        CHANGELIST,
        {"action": "terminate_sessions", "_selected_action": [str(pk) for pk in ids], "index": "0"},
        follow=True,
    )


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_changelist_offers_the_terminate_action(admin_client: Client, rows: Rows) -> None:
    html = admin_client.get(CHANGELIST).content.decode()
    assert '<option value="terminate_sessions">Terminate selected live sessions</option>' in html


def test_terminate_action_sends_live_ids_to_the_sessions_group(
    admin_client: Client, rows: Rows, group: GroupListener
) -> None:
    selected = [rows.echo_alice.pk, rows.both_live.pk, rows.reverse_completed.pk, rows.echo_terminated.pk]

    response = terminate(admin_client, *selected)

    assert response.status_code == 200
    assert messages_of(response) == ["Asked 2 live session(s) to end."]
    message = group.receive()
    assert message["type"] == "echo.terminate"
    assert sorted(message["ids"]) == sorted(str(pk) for pk in (rows.echo_alice.pk, rows.both_live.pk))
    assert group.nothing_received()
    # The action only asks: the rows end when the serving process ends the streams.
    assert StreamSession.objects.live().count() == len(rows.live)


def test_terminate_action_with_the_control_bus_down_warns_instead_of_failing(
    admin_client: Client, rows: Rows
) -> None:
    with override_settings(CHANNEL_LAYERS=unreachable_layer()):
        response = terminate(admin_client, rows.echo_alice.pk)

    assert response.status_code == 200
    assert messages_of(response) == [
        "The other server processes cannot be reached (the control bus is down): only the sessions "
        "this process serves were ended. Ask again when it is back."
    ]


def test_terminate_action_on_ended_sessions_only_warns(
    admin_client: Client, rows: Rows, group: GroupListener
) -> None:
    response = terminate(admin_client, rows.reverse_completed.pk, rows.echo_disconnected.pk)

    assert messages_of(response) == ["None of the selected sessions is live."]
    assert group.nothing_received()


def test_staff_with_terminate_permission_can_terminate(
    client: Client, rows: Rows, staff: Any, group: GroupListener
) -> None:
    grant(staff, "view_streamsession", "terminate_streamsession")
    client.force_login(staff)

    response = terminate(client, rows.echo_loopback6.pk)

    assert messages_of(response) == ["Asked 1 live session(s) to end."]
    assert group.receive() == {"type": "echo.terminate", "ids": [str(rows.echo_loopback6.pk)]}


@pytest.mark.parametrize("others", [[], ["delete_streamsession"]], ids=["view-only", "view-and-delete"])
def test_staff_without_terminate_permission_cannot_see_or_run_the_action(
    client: Client, rows: Rows, staff: Any, group: GroupListener, others: list[str]
) -> None:
    grant(staff, "view_streamsession", *others)
    client.force_login(staff)

    html = client.get(CHANGELIST).content.decode()
    assert 'value="terminate_sessions"' not in html

    response = terminate(client, rows.echo_alice.pk, rows.echo_loopback6.pk)

    assert response.status_code == 200
    assert not any(message.startswith("Asked") for message in messages_of(response))
    assert group.nothing_received()


def test_change_page_shows_the_query_without_credentials(admin_client: Client, db: None) -> None:
    # A row recorded before the recorder redacted queries: the page redacts it as well.
    row = make(stream="echo", path="/sse2", query="token=s3cr3t-value&message=hi", client="127.0.0.1")

    html = admin_client.get(
        reverse("admin:echo_sessions_streamsession_change", args=[row.pk])
    ).content.decode()

    assert "s3cr3t-value" not in html
    assert "token=[redacted]&amp;message=hi" in html


def test_terminate_action_leaves_one_log_line_naming_who_and_which(
    admin_client: Client, admin_user: Any, rows: Rows, group: GroupListener, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="echo"):
        terminate(admin_client, rows.echo_alice.pk)

    lines = [r for r in caplog.records if r.name == "echo.sessions" and "Terminate" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert lines[0].getMessage() == (
        f"Terminate requested by {admin_user.get_username()} (user id {admin_user.pk}, admin action): "
        f"1 session(s): {rows.echo_alice.pk}"
    )
    assert lines[0].levelname == "INFO"
