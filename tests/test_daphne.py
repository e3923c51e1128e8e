"""`echo.sse.daphne.install()` and `uninstall()` in this process (the live server is in test_daphne_live)."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest
from daphne import http_protocol
from twisted.internet import tcp
from twisted.web.http import Request

from echo.sse import daphne


@pytest.fixture
def restored() -> Iterator[None]:
    was_installed = daphne.installed()
    yield
    daphne.uninstall()
    if was_installed:
        daphne.install()


def test_install_unproxies_twisted_http_for_daphne_and_uninstall_restores(restored: None) -> None:
    daphne.uninstall()
    proxy = http_protocol.http
    assert type(proxy) is not types.ModuleType  # Twisted's deprecation proxy
    assert tcp.Port.transport is not daphne.DirectWriteServer

    daphne.install()
    assert daphne.installed()
    assert tcp.Port.transport is daphne.DirectWriteServer
    assert type(http_protocol.http) is types.ModuleType
    assert http_protocol.http.Request is Request

    daphne.install()  # twice is harmless: uninstall still finds the proxy
    daphne.uninstall()
    assert not daphne.installed()
    assert http_protocol.http is proxy
