"""docs/streams.md, every example as it stands, served by `python -m echo.server` and read with
httpx and httpx-sse: typed events, a 400 before a stream, `merge`, a login-required stream (401 and
403 before streaming), a per-user channel published to from a signal, a worker and a view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import ROOT, Server, admin_login, daphne, run_python

pytestmark = pytest.mark.live

PAGE = ROOT / "docs" / "streams.md"
_BLOCK = re.compile(r"<!-- example: (?P<path>\S+) -->\n```python\n(?P<code>.*?)```", re.S)

USERS = """
from django.contrib.auth.models import Permission, User
User.objects.create_superuser("root", password="pw-root-5512")
User.objects.create_user("viewer", password="pw-viewer-5512", is_staff=True)
print(User.objects.get(username="root").pk)
"""


def write_examples(folder: Path) -> None:
    blocks = list(_BLOCK.finditer(PAGE.read_text()))
    assert {m["path"] for m in blocks} >= {"examples/scores.py", "examples/urls.py", "examples/worker.py"}
    (folder / "examples").mkdir()
    (folder / "examples" / "__init__.py").write_text("")
    for match in blocks:
        (folder / match["path"]).write_text(match["code"])


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("docs")
    write_examples(folder)
    with daphne(folder, settings="tests.settings_docs", PYTHONPATH=f"{folder}:{ROOT}") as server:
        yield server


def events(client: httpx.Client, url: str, **kwargs: object) -> list[tuple[str, str | None, dict]]:
    with connect_sse(client, "GET", url, **kwargs) as source:  # type: ignore[arg-type]
        assert source.response.status_code == 200
        *read, last = ((e.event, e.id, json.loads(e.data)) for e in source.iter_sse())
        assert last[::2] == ("completed", {"reason": "completed"})  # a finite stream's last event
        return read


def test_a_typed_stream_sends_its_events_named_and_numbered_then_ends(docs_server: Server) -> None:
    with httpx.Client(base_url=docs_server.url, timeout=10) as client:
        got = events(client, "/scores/home/", params={"goals": 3})
    assert got == [
        ("score_changed", "0", {"team": "home", "points": 1}),
        ("score_changed", "1", {"team": "home", "points": 2}),
        ("score_changed", "2", {"team": "home", "points": 3}),
        ("match_ended", "3", {"team": "home"}),
    ]


@pytest.mark.parametrize("goals", ["x", "0", "101", "-1"])
def test_a_bad_parameter_is_a_json_400_before_the_stream(docs_server: Server, goals: str) -> None:
    response = httpx.get(f"{docs_server.url}/scores/home/", params={"goals": goals}, timeout=10)
    assert response.status_code == 400
    assert response.json()["parameter"] == "goals"


def test_merge_interleaves_both_sources_and_ends_with_both(docs_server: Server) -> None:
    with httpx.Client(base_url=docs_server.url, timeout=10) as client:
        got = events(client, "/scores/")
    for team in ("home", "away"):
        mine = [(name, data) for name, _, data in got if data["team"] == team]
        assert mine == [
            ("score_changed", {"team": team, "points": 1}),
            ("score_changed", {"team": team, "points": 2}),
            ("match_ended", {"team": team}),
        ]


def test_login_required_stream_and_per_user_channel_published_from_signal_worker_and_view(
    docs_server: Server,
) -> None:
    env = docs_server.env
    root_pk = run_python("manage.py", "shell", "-v0", "-c", USERS, env=env).strip()
    channel = f"user-{root_pk}"
    anonymous = httpx.get(f"{docs_server.url}/private/", timeout=10)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "not_authenticated")
    assert httpx.get(f"{docs_server.url}/events/{channel}/", timeout=10).status_code == 403

    with httpx.Client(base_url=docs_server.url, timeout=10) as viewer:
        admin_login(viewer, "viewer", "pw-viewer-5512")
        refused = viewer.get("/private/")
        assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
        assert viewer.get(f"/events/{channel}/").status_code == 403  # another user's channel

    with httpx.Client(base_url=docs_server.url, timeout=10) as root:
        admin_login(root, "root", "pw-root-5512")
        assert events(root, "/private/") == [("greeting", "0", {"username": "root"})]
        headers = {"Last-Event-ID": f"{channel}:0"}
        with connect_sse(root, "GET", f"/events/{channel}/", headers=headers) as source:
            stream = source.iter_sse()
            assert next(stream).event == "stream-open"
            # The signal's welcome, stored when the user was created: replayed.
            welcome = next(stream)
            assert (welcome.event, welcome.id, json.loads(welcome.data)) == (
                "notice_posted",
                f"{channel}:1",
                {"text": "Welcome, root!"},
            )
            # A worker process (the docs' task body) publishes; this subscriber gets it live.
            worker = f"from examples.worker import send_digest; print(send_digest({root_pk}))"
            assert run_python("-c", worker, env=env).strip() == "2"
            digest = next(stream)
            assert (digest.id, json.loads(digest.data)) == (
                f"{channel}:2",
                {"text": "Your daily digest is ready"},
            )
            # A view publishes (POST, staff, CSRF token as any form would send it).
            poked = root.post(f"/poke/{root_pk}/", headers={"X-CSRFToken": root.cookies["csrftoken"]})
            assert poked.json() == {"id": 3}
            poke = next(stream)
            assert (poke.id, json.loads(poke.data)) == (f"{channel}:3", {"text": "poke"})


def test_the_typed_client_example_reads_the_final_score_without_django_settings(docs_server: Server) -> None:
    env = {k: v for k, v in docs_server.env.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = run_python("-m", "examples.read_scores", docs_server.url, "home", env=env)
    assert out.strip() == "3"


def test_the_testing_example_passes_as_a_test_of_its_own(docs_server: Server) -> None:
    folder = Path(docs_server.env["PYTHONPATH"].split(":")[0])
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
        "--rootdir", str(folder), "--ds", "tests.settings_docs", str(folder / "examples" / "test_scores.py"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=docs_server.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
