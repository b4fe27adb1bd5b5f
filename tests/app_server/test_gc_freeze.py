"""The app-server freezes live threads' objects out of full garbage collections."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtalk.app_server import AppServer, AppServerOptions, Client, add_app_server_arguments

from .conftest import TIMEOUT, Backend, make_settings, start_realtime


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


async def test_a_started_conversation_is_frozen_and_closing_the_server_unfreezes(
    server: AppServer, client: Client, backend: Backend
) -> None:
    policy = server.registry.long_lived
    assert policy is not None
    gc.unfreeze()
    await start_realtime(client, backend)
    async with asyncio.timeout(TIMEOUT):
        await policy.ran.wait()
    assert policy.freezes >= 1
    assert gc.get_freeze_count() > 0
    await server.aclose()
    assert gc.get_freeze_count() == 0


async def test_no_gc_freeze_leaves_the_collector_alone(tmp_path: Path, backend: Backend) -> None:
    options = AppServerOptions(default_cwd=tmp_path, gc_freeze=False)
    async with AppServer(make_settings(backend.base_url), options) as server:
        assert server.registry.long_lived is None


def test_the_cli_flag_turns_it_off() -> None:
    parser = argparse.ArgumentParser()
    add_app_server_arguments(parser)
    assert parser.parse_args([]).gc_freeze is True
    assert parser.parse_args(["--no-gc-freeze"]).gc_freeze is False
