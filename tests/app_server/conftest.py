"""Fixtures: the emulator (realtime + Responses), an app-server listener, clients."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from realtalk.app_server import AppServer, AppServerOptions, Client, RealtimeAudioChunk
from realtalk.conversation import Settings
from realtalk.emulator import Emulator, EmulatorOptions, RealtimeSessionRecord, ResponsesEmulator
from realtalk.protocol import OutputModality

TIMEOUT = 10.0
API_KEY = "sk-test-key"


@dataclass
class Backend:
    """The emulator; it serves the Responses API next to the realtime API."""

    emulator: Emulator
    responses: ResponsesEmulator

    @property
    def base_url(self) -> str:
        return self.emulator.base_url


async def start_backend(**options: Any) -> Backend:
    values: dict[str, Any] = {"audio_realtime": False}
    values.update(options)
    emulator = Emulator(EmulatorOptions(**values))
    await emulator.start()
    return Backend(emulator, emulator.responses)


BackendFactory = Callable[..., Awaitable[Backend]]


@pytest.fixture
async def backend_factory() -> AsyncIterator[BackendFactory]:
    created: list[Backend] = []

    async def make(**options: Any) -> Backend:
        backend = await start_backend(**options)
        created.append(backend)
        return backend

    yield make
    for backend in created:
        await backend.emulator.aclose()


@pytest.fixture
async def backend(backend_factory: BackendFactory) -> Backend:
    return await backend_factory()


def make_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": base_url,
        "startup_context": "",
        "transport": "websocket",
        "sideband_max_retries": 1,
        "sideband_retry_base_ms": 10,
    }
    values.update(overrides)
    return Settings(**values)


ServerFactory = Callable[..., Awaitable[AppServer]]


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    created: list[AppServer] = []

    async def make(
        settings: Settings, *, auth_token: str | None = None, allowed_origins: tuple[str, ...] = ()
    ) -> AppServer:
        server = AppServer(settings, AppServerOptions(default_cwd=tmp_path))
        created.append(server)
        await server.start_websocket(
            "127.0.0.1", 0, auth_token=auth_token, allowed_origins=allowed_origins
        )
        return server

    yield make
    for server in created:
        await server.aclose()


@pytest.fixture
async def server(backend: Backend, server_factory: ServerFactory) -> AppServer:
    return await server_factory(make_settings(backend.base_url))


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client_factory() -> AsyncIterator[ClientFactory]:
    created: list[Client] = []

    async def make(url: str, *, experimental: bool = True, **kwargs: Any) -> Client:
        client = await Client.connect(url, **kwargs)
        created.append(client)
        await client.initialize("realtalk_tests", experimental_api=experimental)
        return client

    yield make
    for client in created:
        await client.aclose()


@pytest.fixture
async def client(server: AppServer, client_factory: ClientFactory) -> Client:
    return await client_factory(server.url)


def pcm_b64(ms: int = 20, fill: int = 0) -> str:
    return base64.b64encode(bytes([fill]) * (48 * ms)).decode()


def chunk(ms: int = 20, fill: int = 0) -> RealtimeAudioChunk:
    return RealtimeAudioChunk(data=pcm_b64(ms, fill), sample_rate=24000, num_channels=1)


async def start_realtime(
    client: Client,
    backend: Backend,
    *,
    output_modality: OutputModality = OutputModality.AUDIO,
    **kwargs: Any,
) -> tuple[str, RealtimeSessionRecord]:
    """A thread with a running realtime conversation, and its emulator session."""
    before = len(backend.emulator.sessions)
    thread_id = (await client.thread_start()).thread.id
    await client.realtime_start(thread_id, output_modality=output_modality, **kwargs)
    await client.wait_for("thread/realtime/started", lambda p: p.thread_id == thread_id)
    await backend.emulator.wait_for_sessions(before + 1, timeout=TIMEOUT)
    return thread_id, backend.emulator.sessions[before]
