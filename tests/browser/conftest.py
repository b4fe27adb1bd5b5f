"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by selenium) and
``realtalk app-server --web`` as a real subprocess, offline.

Screenshots go to ``$REALTALK_TEST_ARTIFACTS`` (default: ``.artifacts/`` at the
repository root, ignored by git).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from ..cli._run import clean_env

REPO: Final = Path(__file__).resolve().parents[2]
# Read at import: the suite's autouse fixture scrubs REALTALK_* from the environment.
ARTIFACTS: Final = Path(os.environ.get("REALTALK_TEST_ARTIFACTS") or REPO / ".artifacts")
CHROMIUM: Final = "/usr/bin/chromium"
CHROMEDRIVER: Final = "/usr/bin/chromedriver"
START_TIMEOUT_S: Final = 30.0
QUESTION: Final = "agent, list the files"
"""What the fake microphone says (espeak-ng)."""


class AppServerProcess:
    """``realtalk app-server --listen ws://127.0.0.1:0 --web`` with its output lines."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "realtalk",
                "app-server",
                "--listen",
                "ws://127.0.0.1:0",
                "--web",
            ],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append)),
        ]
        for thread in self._threads:
            thread.start()
        self.ws_url = self._line("READY ")
        self.web_url = self._line("WEB ")

    @staticmethod
    def _pump(stream: IO[str], put: object) -> None:
        assert callable(put)
        for line in stream:
            put(line.rstrip("\n"))
        put(None)

    def _line(self, prefix: str) -> str:
        while True:
            try:
                line = self.stdout.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line; stderr: {self.stderr}") from None
            if line is None:
                raise AssertionError(f"the app-server exited; stderr: {self.stderr}")
            if line.startswith(prefix):
                return line.removeprefix(prefix)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=START_TIMEOUT_S)
        return code


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    work = tmp_path / "workspace"
    work.mkdir()
    (work / "hello.txt").write_text("hello\n")
    return work


@pytest.fixture
def app_server(workspace: Path, tmp_path: Path) -> Iterator[AppServerProcess]:
    server = AppServerProcess(workspace, clean_env(tmp_path))
    try:
        yield server
    finally:
        assert server.stop() == 0, server.stderr


@pytest.fixture
def question_wav(tmp_path: Path) -> Path:
    """espeak-ng saying :data:`QUESTION`, between silences (Chromium loops the file)."""
    spoken = tmp_path / "spoken.wav"
    subprocess.run(["espeak-ng", "-w", str(spoken), QUESTION], check=True, timeout=30)
    with wave.open(str(spoken), "rb") as source:
        params = source.getparams()
        speech = source.readframes(source.getnframes())
    second = params.framerate * params.sampwidth * params.nchannels
    path = tmp_path / "question.wav"
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        # Lead-in: the capture starts before the media connection is up. Chromium loops
        # the file: if a slow start cut the first pass, the second says it again, and
        # the long tail keeps repeats out of the way of the rest of the test.
        out.writeframes(bytes(2 * second) + speech + bytes(40 * second))
    return path


def _chromium_options(profile: Path, microphone: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    # "performance": the DevTools events, among them the WebSocket frames the page sends.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


@pytest.fixture
def chromium(tmp_path: Path, question_wav: Path) -> Iterator[webdriver.Chrome]:
    for tool in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(tool), (
            f"{tool} is missing: run `make sysdeps` (apt-get install chromium chromium-driver)"
        )
    driver = webdriver.Chrome(
        options=_chromium_options(tmp_path / "chromium-profile", question_wav),
        service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")),
    )
    try:
        yield driver
    finally:
        driver.quit()


def save_artifacts(driver: webdriver.Chrome, name: str) -> Path:
    """Screenshot (PNG) and the page's text next to it; returns the PNG's path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(png))
    text = driver.execute_script("return document.body.innerText")
    (ARTIFACTS / f"{name}.txt").write_text(str(text), encoding="utf-8")
    return png
