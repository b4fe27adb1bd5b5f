"""The browser page in headless Chromium, offline, against ``realtalk app-server --web``.

The page does what a person does: it opens the address the app-server printed, starts
a WebRTC conversation through ``thread/realtime/start`` (the app-server relays the
offer to the embedded emulator and the answer back), speaks through Chromium's fake
microphone (a WAV of espeak-ng), types to the agent, and must show the transcript, the
agent panel and the model's audio arriving and playing.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from .conftest import QUESTION, AppServerProcess, save_artifacts

WAIT_S = 60.0


def _words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Agent, list the files." -> 4 words)."""
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).split()


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _lines(driver: webdriver.Chrome, role: str) -> list[str]:
    """Finished transcript lines of ``role`` (``user`` / ``assistant``)."""
    elements = driver.find_elements(By.CSS_SELECTOR, f"#transcript li.{role}:not(.live)")
    return [str(e.text) for e in elements]


def _wait(driver: webdriver.Chrome, what: str, check: Callable[[webdriver.Chrome], object]) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(check, message=what)


def _wait_turn(driver: webdriver.Chrome, task: str) -> WebElement:
    """The agent panel's entry for ``task``, once it finished."""

    def finished(d: webdriver.Chrome) -> WebElement | None:
        for turn in d.find_elements(By.CSS_SELECTOR, "#agent-turns li.turn"):
            done = turn.get_attribute("data-state") != "working"
            if done and turn.find_element(By.CLASS_NAME, "turn-task").text == task:
                return turn
        return None

    turn = _wait(driver, f"the agent's turn for {task!r}", finished)
    assert isinstance(turn, WebElement)
    return turn


@pytest.mark.timeout(180)
def test_the_page_talks_hears_and_shows_the_agent(
    app_server: AppServerProcess, chromium: webdriver.Chrome
) -> None:
    driver = chromium
    try:
        driver.get(app_server.web_url)
        _wait(driver, "the page connects", lambda d: _text(d, "status").startswith("ready"))
        # The token left the address bar (it lives in this tab's sessionStorage).
        assert "token" not in str(driver.current_url)

        driver.find_element(By.ID, "start").click()
        _wait(driver, "the conversation starts", lambda d: _text(d, "status").startswith("talking"))
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-thread-id")

        # The fake microphone's question went over WebRTC to the model, which heard it
        # (the emulator's offline speech recognition); its transcript came back through
        # the app-server's notifications. It starts with "agent," so the model handed it
        # to the agent: the agent panel shows that turn, done, with the agent's answer,
        # and the model speaks the answer.
        heard = _wait(
            driver,
            f"the transcript of the spoken {QUESTION!r}",
            lambda d: [line for line in _lines(d, "user") if _words(line) == _words(QUESTION)],
        )
        spoken = _wait_turn(driver, heard[0])
        assert spoken.get_attribute("data-state") == "done"
        assert [m.text for m in spoken.find_elements(By.CLASS_NAME, "turn-message") if m.text]
        _wait(
            driver,
            "the model's spoken answer to the spoken question",
            lambda d: any(line.startswith("The agent says: ") for line in _lines(d, "assistant")),
        )

        # A typed request for the agent: the agent panel shows the task, its state and
        # the agent's answer; the model speaks the answer.
        box = driver.find_element(By.ID, "text")
        box.send_keys("agent, run `ls`", Keys.ENTER)
        typed = _wait_turn(driver, "agent, run `ls`")
        assert typed.find_element(By.CLASS_NAME, "turn-status").text.startswith("done in ")
        # The command it ran, with its output.
        assert typed.find_element(By.CLASS_NAME, "command-line").text == "$ ls"
        assert typed.find_element(By.CLASS_NAME, "command-output").text == "hello.txt"
        messages = [m.text for m in typed.find_elements(By.CLASS_NAME, "turn-message")]
        assert messages[-1] == "I ran `ls`. It printed: hello.txt"
        spoken_answer = "The agent says: I ran `ls`. It printed: hello.txt"
        _wait(
            driver,
            "the model's spoken answer in the transcript",
            lambda d: any(line.endswith(spoken_answer) for line in _lines(d, "assistant")),
        )

        # The model's audio arrived over WebRTC, not silence, and the page plays it.
        meter = driver.find_element(By.ID, "media")
        _wait(
            driver,
            "model audio received",
            lambda d: (
                float(meter.get_attribute("data-received-seconds") or 0) > 1.0
                and float(meter.get_attribute("data-received-energy") or 0) > 0.0
            ),
        )
        assert int(meter.get_attribute("data-sent-bytes") or 0) > 0  # the microphone's audio
        playing = driver.execute_script(
            "const a = document.getElementById('speaker');"
            "return a.srcObject !== null && !a.paused && a.currentTime > 0;"
        )
        assert playing is True

        # The person's words and the tasks are shown as said, never as the internal
        # delegation XML (the agent's own answers are shown as the agent wrote them).
        tasks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#agent-turns .turn-task")]
        assert tasks and all("<" not in text for text in tasks + _lines(driver, "user"))
        assert not driver.find_elements(By.CSS_SELECTOR, "#transcript li.error")
    finally:
        shot = save_artifacts(driver, "browser-page")
        print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000


@pytest.mark.timeout(120)
def test_the_page_asks_before_the_agent_runs_a_command(
    app_server: AppServerProcess, chromium: webdriver.Chrome, workspace: Path
) -> None:
    driver = chromium
    try:
        driver.get(app_server.web_url)
        _wait(driver, "the page connects", lambda d: _text(d, "status").startswith("ready"))
        Select(driver.find_element(By.ID, "approval")).select_by_value("untrusted")
        driver.find_element(By.ID, "text").send_keys("agent, run `touch made.txt`", Keys.ENTER)
        # The app-server asks the page (a server-to-client request); the page asks the person.
        question = _wait(
            driver,
            "the approval question",
            lambda d: d.find_elements(By.CSS_SELECTOR, "#agent-turns .turn-approval"),
        )[0]
        assert "The agent asks to run: touch made.txt" in question.text
        assert not (workspace / "made.txt").exists()
        question.find_element(By.CLASS_NAME, "approval-accept").click()
        turn = _wait_turn(driver, "agent, run `touch made.txt`")
        assert turn.get_attribute("data-state") == "done"
        assert (workspace / "made.txt").exists()
        assert not driver.find_elements(By.CSS_SELECTOR, "#agent-turns .turn-approval")
        assert driver.find_element(By.ID, "approval").get_attribute("disabled") is not None
    finally:
        save_artifacts(driver, "browser-page-approval")


def _frames(driver: webdriver.Chrome) -> list[tuple[str, dict[str, Any]]]:
    """The JSON-RPC messages over the page's WebSocket since the last call, each with
    ``sent`` or ``received`` (from Chromium's DevTools log)."""
    frames = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        message = json.loads(entry["message"])["message"]
        way = {"Network.webSocketFrameSent": "sent", "Network.webSocketFrameReceived": "received"}
        if message["method"] in way:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                payload = json.loads(message["params"]["response"]["payloadData"])
                frames.append((way[message["method"]], payload))
    return frames


@pytest.mark.timeout(120)
def test_cancel_stops_a_running_delegation_and_the_model_says_so(
    app_server: AppServerProcess, chromium: webdriver.Chrome
) -> None:
    driver = chromium
    try:
        driver.get(app_server.web_url)
        _wait(driver, "the page connects", lambda d: _text(d, "status").startswith("ready"))
        driver.find_element(By.ID, "text").send_keys("agent, run `sleep 30`", Keys.ENTER)
        running = _wait(
            driver,
            "the delegation's command running",
            lambda d: d.find_elements(
                By.CSS_SELECTOR, "#agent-turns li.turn[data-state=working] .command-line"
            ),
        )
        assert running[0].text == "$ sleep 30"
        _frames(driver)  # what was sent so far
        driver.find_element(By.CSS_SELECTOR, "#agent-turns li.turn .turn-cancel").click()
        turn = _wait_turn(driver, "agent, run `sleep 30`")
        assert turn.get_attribute("data-state") == "interrupted"
        assert turn.find_element(By.CLASS_NAME, "turn-status").text.startswith("cancelled after")
        assert not turn.find_elements(By.CLASS_NAME, "turn-cancel")
        # The page cancelled the delegation, so the model was told at once (what it says
        # then is tests/app_server/test_cancel_handoff.py's: the fake microphone's
        # looping question talks over it here), not only the turn.
        frames = _frames(driver)
        (cancel,) = [m for way, m in frames if m.get("method") == "thread/realtime/cancelHandoff"]
        answers = [m for way, m in frames if way == "received" and m.get("id") == cancel["id"]]
        assert answers == [{"id": cancel["id"], "result": {"cancelled": True}}]
        assert "turn/interrupt" not in [m.get("method") for _, m in frames]
    finally:
        save_artifacts(driver, "browser-page-cancel")


@pytest.fixture
def foreign_site(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Another local web site (another origin); returns a page URL for some HTML."""
    root = tmp_path / "foreign"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()

    def page(html: str) -> str:
        (root / "index.html").write_text(html)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    try:
        yield page
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_a_page_from_another_origin_cannot_drive_the_app_server(
    app_server: AppServerProcess, chromium: webdriver.Chrome, foreign_site: Callable[[str], str]
) -> None:
    # Even holding the page token (the worst case), another site's page is refused.
    token = urlsplit(app_server.web_url).fragment.removeprefix("token=")
    port = urlsplit(app_server.ws_url).port
    html = f"""<!doctype html><title>waiting</title><script>
    const token = btoa({token!r}).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    const ws = new WebSocket("ws://127.0.0.1:{port}/", ["realtalk.jsonrpc", "realtalk.bearer." + token]);
    ws.onopen = () => {{ document.title = "OPEN"; }};
    ws.onclose = () => {{ if (document.title === "waiting") document.title = "REFUSED"; }};
    </script>"""
    chromium.get(foreign_site(html))
    _wait(chromium, "the foreign page's attempt", lambda d: d.title != "waiting")
    assert chromium.title == "REFUSED"
    # The same attempt from the page's own origin is accepted (the check can pass).
    chromium.get(app_server.web_url)
    _wait(chromium, "the page connects", lambda d: _text(d, "status").startswith("ready"))
