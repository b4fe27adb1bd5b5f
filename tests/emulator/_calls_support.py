"""Helpers for the call-creation tests: raw HTTP posts, sidebands, a connected peer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from realtalk.emulator import CallRecord, Emulator
from realtalk.transports import WebRtcPeer

from ._client import open_client

JsonDict = dict[str, Any]

BOUNDARY = "test-boundary-1234"


def multipart(offer: str, session: JsonDict | None) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="sdp"\r\n'
        f"Content-Type: application/sdp\r\n\r\n{offer}\r\n"
    ]
    if session is not None:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="session"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(session)}\r\n"
        )
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> JsonDict:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


async def post(
    emu: Emulator,
    body: bytes,
    content_type: str,
    *,
    path: str = "/v1/realtime/calls",
    headers: dict[str, str] | None = None,
) -> Answer:
    url = emu.base_url.removesuffix("/v1") + path
    all_headers = {"Content-Type": content_type, **(headers or {})}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(url, data=body, headers=all_headers) as response,
    ):
        return Answer(response.status, dict(response.headers), await response.read())


async def create(emu: Emulator, offer: str, session: JsonDict | None = None) -> tuple[str, Answer]:
    answer = await post(emu, multipart(offer, session), f"multipart/form-data; boundary={BOUNDARY}")
    assert answer.status == 201, answer.body
    call_id = answer.headers["Location"].rsplit("/", 1)[1]
    return call_id, answer


def sideband_url(emu: Emulator, call_id: str) -> str:
    return f"{emu.ws_base_url}/realtime?call_id={call_id}"


async def session_via_sideband(emu: Emulator, call_id: str) -> JsonDict:
    """The call model's current session, read through an empty ``session.update``."""
    async with open_client(sideband_url(emu, call_id)) as client:
        await client.send({"type": "session.update", "session": {}})
        updated = await client.recv()
    assert updated["type"] == "session.updated"
    session = updated["session"]
    assert isinstance(session, dict)
    return session


async def connected(emu: Emulator, session: JsonDict) -> tuple[WebRtcPeer, str, CallRecord]:
    peer = WebRtcPeer(loopback_only=True)
    call_id, answer = await create(emu, await peer.create_offer(), session)
    await peer.accept_answer(answer.body.decode())
    await peer.wait_connected(timeout=10)
    return peer, call_id, emu.calls[-1]


async def next_event(peer: WebRtcPeer, event_type: str) -> JsonDict:
    async with asyncio.timeout(10):
        async for event in peer.events():
            if event.get("type") == event_type:
                return event
    raise AssertionError(f"the peer ended before {event_type}")
