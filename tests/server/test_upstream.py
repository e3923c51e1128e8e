"""The private details of Daphne and Twisted that `echo.server` relies on, one test each.

Daphne and Twisted are pinned (requirements.txt); when an upgrade renames or drops one of these,
the matching test fails here, loudly, instead of every write failing in production.
"""

from __future__ import annotations

import inspect
import socket
from types import SimpleNamespace

import pytest
from daphne.cli import CommandLineInterface as DaphneCLI
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.management.commands.runserver import Command as DaphneRunserver
from daphne.server import Server as DaphneServer
from twisted.internet import tcp
from twisted.internet.testing import StringTransport
from twisted.web.http import HTTPChannel, Request
from twisted.web.http import HTTPFactory as TwistedHTTPFactory

from echo.server.cli import CommandLineInterface
from echo.server.flow import FlowControl
from echo.server.management.commands.runserver import Command
from echo.server.send import DirectSend
from echo.server.server import DaphneInbox, Server
from echo.server.transport import DirectWriteServer


def test_daphnes_cli_takes_its_server_class_from_a_class_attribute() -> None:
    assert DaphneCLI.server_class is DaphneServer
    assert "self.server_class(" in inspect.getsource(DaphneCLI.run)
    assert CommandLineInterface.server_class is Server


def test_daphnes_runserver_takes_its_server_from_server_cls() -> None:
    assert DaphneRunserver.server_cls is DaphneServer
    assert "self.server_cls(" in inspect.getsource(DaphneRunserver.inner_run)
    assert Command.server_cls is Server


def test_daphne_calls_listen_success_with_each_port_before_the_reactor_runs() -> None:
    source = inspect.getsource(DaphneServer.run)
    assert "listener.addCallback(self.listen_success)" in source
    assert source.index("listen_success") < source.index("reactor.run(")
    assert list(inspect.signature(DaphneServer.listen_success).parameters) == ["self", "port"]


def test_daphnes_create_application_is_what_server_overrides() -> None:
    assert list(inspect.signature(DaphneServer.create_application).parameters) == [
        "self",
        "protocol",
        "scope",
    ]
    source = inspect.getsource(DaphneServer.create_application)
    for detail in ('"application_instance"', "self.connections[protocol]", "receive=", "send="):
        assert detail in source, detail
    assert inspect.iscoroutinefunction(DaphneServer.handle_reply)


def test_a_twisted_port_makes_its_connections_from_its_transport_attribute() -> None:
    assert tcp.Port.transport is tcp.Server
    assert "self.transport(" in inspect.getsource(tcp.Port.doRead)


@pytest.mark.parametrize(
    "name", ["TLS", "dataBuffer", "_writeDisconnecting", "_writeDisconnected", "connected", "disconnecting"]
)
def test_twisted_connections_have_the_attributes_direct_writes_read(name: str) -> None:
    assert hasattr(tcp.Server, name)


def test_a_twisted_connection_has_a_temp_data_length_and_a_socket() -> None:
    # Set per instance in Twisted's FileDescriptor/Connection: read from a real connection.
    left, right = socket.socketpair()
    with left, right:
        connection = DirectWriteServer(left, _Protocol(), ("127.0.0.1", 1), _FakePort(), 1, None)
        assert connection._tempDataLen == 0
        assert connection.socket is left


class _FakePort:
    sessionno = 0
    _realPortNumber = 1

    def _buildAddr(self, address: object) -> object:
        return address


class _Protocol:
    pass


def test_daphnes_request_tracks_whether_its_response_started() -> None:
    assert "self._response_started = False" in inspect.getsource(WebRequest.__init__)
    assert "self._response_started = True" in inspect.getsource(WebRequest.handle_reply)


@pytest.mark.parametrize("name", ["finished", "_disconnected", "write"])
def test_twisted_requests_have_what_direct_send_reads(name: str) -> None:
    assert hasattr(Request, name)


def test_twisted_requests_keep_their_channel() -> None:
    assert "self.channel = channel" in inspect.getsource(Request.__init__)


def test_daphne_sets_the_status_without_a_phrase_and_twisted_writes_it_with_the_body() -> None:
    # The send names a status Twisted does not (`FlowSend._name_status`) after Daphne's start and
    # before the first write: Twisted writes the status line from `code_message` on that write.
    assert 'self.setResponseCode(message["status"])' in inspect.getsource(WebRequest.handle_reply)
    assert "self.code_message = RESPONSES.get(code" in inspect.getsource(Request.setResponseCode)
    assert "self.code_message" in inspect.getsource(Request.write)
    assert "self.startedWriting = 1" in inspect.getsource(Request.write)
    assert Request.code == 200


def test_daphne_marks_a_gone_connection_disconnected_in_its_connections() -> None:
    # DirectSend.write_now refuses once this key is there.
    source = inspect.getsource(DaphneServer.protocol_disconnected)
    assert 'self.connections[protocol]["disconnected"] = time.time()' in source


def test_daphnes_request_tests_its_application_queue_for_truth() -> None:
    # What create_application returns is the request's `application_queue`: an empty inbox must
    # still be true, or a client's leaving is never put on it.
    for method in (WebRequest.connectionLost, WebRequest.finish):
        assert "if self.application_queue:" in inspect.getsource(method)
    assert "self.application_queue = yield maybeDeferred(" in inspect.getsource(WebRequest.process)
    assert 'self.application_queue.put_nowait({"type": "http.disconnect"})' in inspect.getsource(
        WebRequest.send_disconnect
    )
    assert bool(DaphneInbox())


def test_daphnes_access_log_goes_through_log_action_with_the_target_as_path() -> None:
    assert list(inspect.signature(DaphneServer.log_action).parameters) == [
        "self",
        "protocol",
        "action",
        "details",
    ]
    source = inspect.getsource(WebRequest)
    assert "self.server.log_action(" in source
    assert '"path": uri' in source
    # With no action logger (`-v 0`) Daphne logs nothing, so echo's Server skips the redaction too.
    assert "if self.action_logger:" in inspect.getsource(DaphneServer.log_action)
    assert DaphneServer(application=None, endpoints=["tcp:port=0"], verbosity=0).action_logger is None


def test_daphnes_request_writes_with_twisteds_own_write() -> None:
    # DirectSend calls Twisted's Request.write unbound: Daphne's request must not add to it.
    assert "write" not in WebRequest.__dict__
    assert issubclass(WebRequest, Request)


def test_daphnes_handle_reply_takes_the_protocol_and_the_message() -> None:
    assert list(inspect.signature(DaphneServer.handle_reply).parameters) == ["self", "protocol", "message"]


def test_a_twisted_tcp_connection_is_made_with_the_arguments_a_port_passes() -> None:
    assert list(inspect.signature(tcp.Server.__init__).parameters) == [
        "self",
        "sock",
        "protocol",
        "client",
        "server",
        "sessionno",
        "reactor",
    ]
    assert "bufferSize" in dir(tcp.Server)


def test_daphnes_fd_endpoint_adopts_an_inherited_ipv4_socket() -> None:
    """`--workers`: each worker listens on `fd:fileno=N` (Daphne's Twisted plugin), made by
    Daphne's command line with `server_class(endpoints=...)`; the plugin's `domain` stays a string,
    hence IPv4 endpoints only."""
    from twisted.internet.endpoints import AdoptedStreamServerEndpoint
    from twisted.internet.interfaces import IStreamServerEndpointStringParser
    from twisted.plugin import getPlugins

    (parser,) = [p for p in getPlugins(IStreamServerEndpointStringParser) if p.prefix == "fd"]
    endpoint = parser.parseStreamServer(None, fileno="7")
    assert isinstance(endpoint, AdoptedStreamServerEndpoint)
    assert (endpoint.fileno, endpoint.addressFamily) == (7, socket.AF_INET)
    assert parser.parseStreamServer(None, fileno="7", domain="INET6").addressFamily == "INET6"
    assert "endpoints=endpoints" in inspect.getsource(DaphneCLI.run)


def test_daphne_sends_twisteds_log_nowhere_below_verbosity_two() -> None:
    source = inspect.getsource(DaphneServer.run)
    assert "if self.verbosity <= 1:" in source
    assert "[lambda _: None]" in source
    assert "self.http_factory = HTTPFactory(self)" in source
    assert "ep.listen(self.http_factory)" in source


def test_a_twisted_http_factory_with_no_log_file_formats_no_line() -> None:
    formatted: list[object] = []
    factory = TwistedHTTPFactory(logFormatter=lambda timestamp, request: formatted.append(request) or "line")
    factory.startFactory()
    try:
        factory.log(object())  # type: ignore[arg-type]
        assert len(formatted) == 1  # started, it logs to Twisted's log
        factory.logFile = None  # type: ignore[assignment]
        factory.log(object())  # type: ignore[arg-type]
        assert len(formatted) == 1
    finally:
        factory.stopFactory()


@pytest.mark.parametrize(("verbosity", "kept"), [(0, False), (1, False), (2, True)])
def test_the_server_drops_twisteds_combined_log_line_only_where_it_goes_nowhere(
    verbosity: int, kept: bool
) -> None:
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"], verbosity=verbosity)
    server.http_factory = HTTPFactory(server)
    server.http_factory.startFactory()  # as a port's start does, before listen_success
    try:
        server.listen_success(_ListeningPort(server.http_factory))
        assert (server.http_factory._logFile is not None) is kept
    finally:
        server.http_factory.stopFactory()


class _ListeningPort:
    """What `listen_success` reads of a port that is not TCP's (a unix socket's, say)."""

    def __init__(self, factory: object) -> None:
        self.factory = factory


def _started_request(chunked: int) -> Request:
    """A Twisted request on an HTTP/1.1 channel whose headers are written, its bytes kept."""
    channel = HTTPChannel()
    channel.makeConnection(StringTransport())
    request = Request(channel)
    request.startedWriting, request.chunked, request.sentLength = 1, chunked, 10
    return request


@pytest.mark.parametrize("chunked", [1, 0])
def test_direct_send_writes_a_started_body_as_twisteds_request_write_does(chunked: int) -> None:
    # DirectSend.write_now writes a later part of a started body itself: the same bytes on the
    # channel's transport and the same `sentLength` as Twisted's own `Request.write`.
    body = b"event: echo\ndata: hi\n\n"
    twisted, echo = _started_request(chunked), _started_request(chunked)
    Request.write(twisted, body)
    send = DirectSend(SimpleNamespace(connections={echo: {}}), echo)
    send._flow = FlowControl()  # as after the response's start (`FlowSend._register`)
    assert send.write_now(body)
    assert send.write_now(b"")
    assert echo.channel.transport.value() == twisted.channel.transport.value() != b""
    assert echo.sentLength == twisted.sentLength == 10 + len(body)


def test_direct_send_leaves_a_channel_that_is_not_http_1_1s_to_twisteds_write() -> None:
    # HTTP/2's streams are not `HTTPChannel`s and have no transport of their own.
    request = _started_request(1)
    written: list[bytes] = []
    request.channel = SimpleNamespace(writeSequence=lambda data: written.append(b"".join(data)))
    send = DirectSend(SimpleNamespace(connections={request: {}}), request)
    send._flow = FlowControl()
    assert send.write_now(b"data: x\n\n")
    assert written == [b"9\r\ndata: x\n\n\r\n"]
