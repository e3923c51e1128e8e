"""A per-client rate limit for publishing over HTTP: a token bucket per client address.

`PUBLISH_RATE` publishes per second on average, `PUBLISH_BURST` at once; one client over it gets a
JSON 429 with `Retry-After` instead of writing to the database and to every subscriber. The
buckets are this process's (with N processes a client may publish N times as fast), and there are
at most `_MAX_CLIENTS` of them: the least recently seen is forgotten first, so a flood of
addresses costs a bounded amount of memory and each forgotten one starts again with a full bucket.
The key is the client's validated address (`echo.sse.glue.http.client_address`): a forged
`X-Forwarded-For` that is no address gets no bucket of its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

from django.http import HttpRequest, JsonResponse

from echo.sse.glue.http import client_address, json_error

from .conf import app_settings

__all__ = ["TokenBuckets", "limited", "publish_buckets"]

_MAX_CLIENTS = 10_000


class TokenBuckets:
    def __init__(self, max_clients: int = _MAX_CLIENTS) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._max = max_clients
        self._lock = threading.Lock()

    def take(self, client: str, rate: float, burst: int, now: float | None = None) -> float:
        """Take one token for `client`: 0.0 when there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(burst), now))
            tokens = min(float(burst), tokens + (now - then) * rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


publish_buckets = TokenBuckets()


def limited(request: HttpRequest) -> JsonResponse | None:
    """The 429 for a client publishing faster than `PUBLISH_RATE` allows, else None (counted)."""
    rate = app_settings.PUBLISH_RATE
    if rate is None:
        return None
    # One validated address (behind --proxy-headers, the proxy must overwrite X-Forwarded-For);
    # whatever is not one shares the key "" with every other such request.
    client = client_address(request) or ""
    wait = publish_buckets.take(client, rate, app_settings.PUBLISH_BURST)
    if not wait:
        return None
    seconds = max(1, math.ceil(wait))
    response = json_error(
        429,
        "rate_limited",
        f"Publishing too fast from this address: at most {rate:g} per second; retry in {seconds} s.",
    )
    response["Retry-After"] = str(seconds)
    return response
