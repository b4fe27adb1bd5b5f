"""Call creation against a real aiohttp server on 127.0.0.1 (reference tests 9.2 and more)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from realtalk import ConfigError, ConnectError, HandshakeError, ProtocolError
from realtalk.protocol import encode_call_session
from realtalk.transports import CallCreationError, CallResult, create_call
from tests._http import serving

OFFER = "v=offer\r\n"
AUTH = {"Authorization": "Bearer test-token"}
MULTIPART_TYPE = "multipart/form-data; boundary=codex-realtime-call-boundary"
SESSION = {
    "id": "sess-api",
    "type": "realtime",
    "instructions": "hi",
    "output_modalities": ["audio"],
    "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}},
}
SESSION_JSON = (
    '{"audio":{"output":{"format":{"rate":24000,"type":"audio/pcm"},"voice":"marin"}},'
    '"instructions":"hi","model":"gpt-realtime","output_modalities":["audio"],"type":"realtime"}'
)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class CallServer:
    """Records every request and answers with the configured response."""

    url: str = ""
    status: int = 201
    body: bytes = b"v=0\r\n"
    headers: dict[str, str] = field(
        default_factory=lambda: {"Location": "/v1/realtime/calls/rtc_test"}
    )
    hold: bool = False  # park the handler until teardown (timeout tests)
    requests: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                request.query_string,
                request.headers,
                await request.read(),
            )
        )
        if self.hold:
            await self.release.wait()
        # body= plus explicit headers: aiohttp would append a charset to text= responses.
        return web.Response(status=self.status, body=self.body, headers=CIMultiDict(self.headers))

    @property
    def last(self) -> Recorded:
        assert len(self.requests) == 1
        return self.requests[0]


@pytest.fixture
async def server() -> AsyncIterator[CallServer]:
    state = CallServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    async with serving(app) as url:
        state.url = url
        try:
            yield state
        finally:
            state.release.set()


async def test_sends_sdp_offer_as_raw_body(server: CallServer) -> None:
    result = await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)

    assert result == CallResult("v=0\r\n", "rtc_test", "/v1/realtime/calls/rtc_test")
    request = server.last
    assert (request.method, request.path, request.query) == ("POST", "/v1/realtime/calls", "")
    assert request.headers.getall("Content-Type") == ["application/sdp"]
    assert request.headers["Authorization"] == "Bearer test-token"
    assert request.body == b"v=offer\r\n"


async def test_extracts_call_id_from_forwarded_backend_location(server: CallServer) -> None:
    server.headers = {"Location": "/v1/realtime/calls/calls/rtc_backend_test"}

    result = await create_call(
        f"{server.url}/backend-api/codex", offer_sdp=OFFER, headers=AUTH, timeout=5
    )

    assert (result.answer_sdp, result.call_id) == ("v=0\r\n", "rtc_backend_test")
    assert server.last.path == "/backend-api/codex/realtime/calls"
    assert server.last.body == b"v=offer\r\n"


async def test_sends_api_session_call_as_multipart_body(server: CallServer) -> None:
    session_json = encode_call_session(SESSION, model="gpt-realtime")
    assert session_json == SESSION_JSON  # no id, model added, keys sorted

    result = await create_call(
        f"{server.url}/v1",
        offer_sdp=OFFER,
        session_json=session_json,
        headers=AUTH,
        timeout=5,
    )

    assert result.call_id == "rtc_test"
    request = server.last
    assert request.path == "/v1/realtime/calls"
    assert request.headers.getall("Content-Type") == [MULTIPART_TYPE]
    assert request.headers["Authorization"] == "Bearer test-token"
    assert request.body == (
        b"--codex-realtime-call-boundary\r\n"
        b'Content-Disposition: form-data; name="sdp"\r\n'
        b"Content-Type: application/sdp\r\n\r\n"
        b"v=offer\r\n\r\n"
        b"--codex-realtime-call-boundary\r\n"
        b'Content-Disposition: form-data; name="session"\r\n'
        b"Content-Type: application/json\r\n\r\n" + SESSION_JSON.encode() + b"\r\n"
        b"--codex-realtime-call-boundary--\r\n"
    )


async def test_sends_backend_session_call_as_json_body(server: CallServer) -> None:
    result = await create_call(
        f"{server.url}/backend-api/codex",
        offer_sdp=OFFER,
        session_json=encode_call_session(SESSION, model="gpt-realtime"),
        headers=AUTH,
        timeout=5,
    )

    assert result.call_id == "rtc_test"
    request = server.last
    assert request.path == "/backend-api/codex/realtime/calls"
    assert request.headers.getall("Content-Type") == ["application/json"]
    assert request.headers["Authorization"] == "Bearer test-token"
    assert request.body == ('{"sdp":"v=offer\\r\\n","session":' + SESSION_JSON + "}").encode()
    expected_session = {k: v for k, v in SESSION.items() if k != "id"} | {"model": "gpt-realtime"}
    assert json.loads(request.body) == {"sdp": OFFER, "session": expected_session}


async def test_errors_when_location_is_missing(server: CallServer) -> None:
    server.headers = {}
    with pytest.raises(ProtocolError) as info:
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)
    assert str(info.value) == "realtime call response missing Location"


async def test_rejects_location_without_call_id(server: CallServer) -> None:
    server.headers = {"Location": "/v1/realtime/calls"}
    with pytest.raises(ProtocolError) as info:
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)
    assert (
        str(info.value) == "realtime call Location does not contain a call id: /v1/realtime/calls"
    )


async def test_non_utf8_answer_is_a_protocol_error(server: CallServer) -> None:
    server.body = b"v=0\xff\r\n"
    with pytest.raises(ProtocolError, match="^failed to decode realtime call SDP response: "):
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)


async def test_server_error_maps_to_typed_error_with_status_and_message(
    server: CallServer,
) -> None:
    server.status = 500
    server.headers = {"Content-Type": "application/json"}
    server.body = b'{"error":{"message":"The server had an error","type":"server_error"}}'

    with pytest.raises(CallCreationError) as info:
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)

    error = info.value
    assert isinstance(error, HandshakeError)
    assert error.status == 500
    assert error.server_message == "The server had an error"
    assert error.body == server.body.decode()
    assert "HTTP 500" in str(error)
    assert "The server had an error" in str(error)
    assert "test-token" not in str(error)


async def test_plain_text_refusal_keeps_the_body(server: CallServer) -> None:
    server.status = 401
    server.headers = {"Content-Type": "text/plain"}
    server.body = b"nope"
    with pytest.raises(CallCreationError) as info:
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)
    assert (info.value.status, info.value.server_message) == (401, None)
    assert "HTTP 401: nope" in str(info.value)


async def test_caller_content_type_is_replaced_not_duplicated(server: CallServer) -> None:
    await create_call(
        f"{server.url}/v1",
        offer_sdp=OFFER,
        headers={**AUTH, "content-type": "text/plain", "x-session-id": "s1"},
        timeout=5,
    )
    assert server.last.headers.getall("Content-Type") == ["application/sdp"]
    assert server.last.headers["x-session-id"] == "s1"


async def test_connection_refused_is_connect_error() -> None:
    with socket.socket() as probe:  # a port that nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError) as info:
        await create_call(f"http://127.0.0.1:{port}/v1", offer_sdp=OFFER, headers=AUTH, timeout=5)
    assert not isinstance(info.value, HandshakeError)
    assert f"127.0.0.1:{port}/v1/realtime/calls" in str(info.value)
    assert "test-token" not in str(info.value)
    # The OS's reason, not aiohttp's rendering of its internals.
    assert "Connect call failed" in str(info.value)
    assert "SSLContext" not in str(info.value) and "ssl:" not in str(info.value)


async def test_slow_server_times_out_as_connect_error(server: CallServer) -> None:
    server.hold = True
    with pytest.raises(ConnectError, match="timed out after 0.2s"):
        await create_call(f"{server.url}/v1", offer_sdp=OFFER, headers=AUTH, timeout=0.2)


@pytest.mark.parametrize("base", ["http://[::1/v1", "no-scheme/v1", "http:///v1"])
async def test_invalid_base_url_is_config_error(base: str) -> None:
    with pytest.raises(ConfigError, match="invalid realtime calls( base)? URL"):
        await create_call(base, offer_sdp=OFFER, timeout=5)
