import httpx
from httpx_sse import connect_sse

from .servers import Server


def test_sse2_streams_typed_events(live_server_process: Server) -> None:
    with httpx.Client(base_url=live_server_process.url, timeout=5) as client:
        with connect_sse(client, "GET", "/sse2", params={"message": "hi", "interval": 0, "limit": 3}) as source:
            events = list(source.iter_sse())
    assert [(e.id, e.event) for e in events] == [("0", "echo"), ("1", "echo"), ("2", "echo")]
