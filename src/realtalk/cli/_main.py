"""``realtalk`` command line: demo, talk, exec, emulator, app-server, bench."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import select
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from realtalk._argtypes import non_negative_arg, seconds_arg
from realtalk._errors import RealtalkError
from realtalk._logfile import close_run_log
from realtalk._loop import run as run_loop
from realtalk._secrets import scrub
from realtalk._signals import cancel_on_signals
from realtalk.tls import describe_tls_failure

__all__ = ["build_parser", "main", "run"]


def _add_conversation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="config file (default: $XDG_CONFIG_HOME/realtalk/config.toml)")
    p.add_argument("--base-url", help="API base URL, e.g. https://api.openai.com/v1")
    p.add_argument("--ws-base-url", help="realtime WebSocket base URL override")
    p.add_argument("--version", choices=["v1", "v2"], help="realtime protocol version (default v2)")
    p.add_argument("--mode", choices=["conversational", "transcription"])
    p.add_argument("--voice", help="output voice (see the version's voice list)")
    p.add_argument("--model", help="realtime model (default gpt-realtime-1.5)")
    p.add_argument("--output-modality", choices=["audio", "text"])
    p.add_argument("--transport", choices=["webrtc", "websocket"], help="default webrtc")
    p.add_argument("--agent-cmd", help='background agent command, e.g. "my-agent exec"')
    p.add_argument("--events-jsonl", metavar="PATH", help="write every wire message as JSON lines")
    p.add_argument(
        "--timeout",
        type=seconds_arg,
        default=120.0,
        help="idle limit: give up after this many seconds with no server event, agent "
        "progress or input while waiting for an answer (a running agent task is never cut "
        "short; [agent] timeout_s bounds it)",
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds_arg,
        metavar="SECONDS",
        help="longest wait to connect or create a call (default: connect_timeout_s, else 15)",
    )
    p.add_argument(
        "--rotate-after-s",
        type=seconds_arg,
        metavar="S",
        help="renew the realtime session after S seconds, at a turn boundary, with the "
        "conversation restored (default 3300: before the server's 60-minute cap)",
    )
    p.add_argument(
        "--reconnect-retries",
        type=non_negative_arg,
        metavar="N",
        help="attempts to re-open a lost realtime session, history restored (default 6; "
        "0: a lost session ends the conversation)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")


_COMMANDS: dict[str, str] = {
    "demo": "run a short scripted conversation offline",
    "talk": "talk to the model (type lines, use the microphone, or stream a WAV file)",
    "exec": "run the coding agent alone on one prompt (sandboxed), streaming what it does",
    "emulator": "run the offline OpenAI Realtime/Responses emulator",
    "app-server": "JSON-RPC app-server (stdio, or --listen ws://...)",
    "bench": "benchmarks; each prints one JSON object",
}


def _add_talk_arguments(talk: argparse.ArgumentParser) -> None:
    from realtalk.cli._talk_options import add_audio_arguments

    _add_conversation_arguments(talk)
    talk.add_argument("--text", help="say this once, wait for the answer, exit")
    talk.add_argument("--audio-in", metavar="FILE.wav", help="stream a WAV file at real-time pace")
    talk.add_argument("--audio-out", metavar="FILE.wav", help="write the model's audio")
    talk.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the live console (transcript, agent panel, status); default: on when stdin "
        "and stdout are a terminal; --no-console prints plain lines",
    )
    add_audio_arguments(talk)
    talk.add_argument(
        "--app-server",
        metavar="URL",
        help="talk through a running app-server (ws://HOST:PORT), or 'stdio' to spawn one; "
        "uses the websocket transport (WebRTC through an app-server is a browser's job)",
    )
    talk.add_argument(
        "--app-server-token",
        metavar="TOKEN",
        help="bearer token for --app-server (default $REALTALK_APP_SERVER_TOKEN)",
    )


def _add_command_arguments(name: str, sub: argparse.ArgumentParser) -> None:
    # Imports stay inside: each command's options pull in its own stack (aiortc, aiohttp,
    # audio devices), and `realtalk --help` or `realtalk bench` need not pay for the others.
    if name == "demo":
        _add_conversation_arguments(sub)
    elif name == "talk":
        _add_talk_arguments(sub)
    elif name == "exec":
        from realtalk.cli._exec import add_exec_arguments

        add_exec_arguments(sub)
    elif name == "emulator":
        from realtalk.emulator import add_emulator_arguments

        add_emulator_arguments(sub)
    elif name == "app-server":
        from realtalk.cli._app_server import add_app_server_arguments

        add_app_server_arguments(sub)
    else:
        from realtalk.bench import add_bench_arguments

        add_bench_arguments(sub)


class _VersionAction(argparse.Action):
    """``realtalk --version``: reads the installed package's metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("realtalk")
        except PackageNotFoundError:
            installed = "(version unknown: the package is not installed)"
        print(f"realtalk {installed}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``realtalk`` parser; with ``command``, only that subcommand gets its options."""
    parser = argparse.ArgumentParser(
        prog="realtalk", description="Talk to a coding agent through a realtime speech model."
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in _COMMANDS.items():
        child = sub.add_parser(name, help=help_text)
        if command is None or command == name:
            _add_command_arguments(name, child)
    return parser


def _command_word(argv: Sequence[str]) -> str:
    """The subcommand named on the command line ('' if none: no options to load)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return ""


_LOGGED_COMMANDS = frozenset({"demo", "talk", "exec", "app-server"})
"""Commands that write the per-run log file (see ``realtalk._logfile``)."""


def _configure_logging(*, verbose: bool, command: str = "") -> None:
    # Expected failures reach the user as one clear line (see main); log records
    # are for -v, where they carry the details, and for the run's log file.
    from realtalk import __version__
    from realtalk._logfile import LOG_FORMAT, open_run_log
    from realtalk._secrets import ScrubbingFormatter

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_realtalk_stderr", False)]:
        root.removeHandler(old)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    stderr.setFormatter(ScrubbingFormatter(LOG_FORMAT))
    stderr._realtalk_stderr = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    level = logging.DEBUG if verbose else logging.CRITICAL
    logged = command in _LOGGED_COMMANDS
    root.setLevel(min(level, logging.INFO) if logged else level)
    if logged and open_run_log(command, version=__version__) is None:
        root.setLevel(level)


async def _until_terminated(run: Coroutine[Any, Any, int]) -> int:
    """Run ``run``; SIGTERM/SIGHUP cancel it so it closes cleanly, exit 128 + signal."""
    with cancel_on_signals(signal.SIGTERM, signal.SIGHUP) as termination:
        try:
            return await run
        except asyncio.CancelledError:
            if termination.signal is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            return 128 + int(termination.signal)


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "emulator":
        from realtalk.emulator import run_emulator_from_args

        return await run_emulator_from_args(args)
    if args.command == "talk":
        _refuse_talk_without_key(args)
        from realtalk.cli._talk import run_talk

        return await _until_terminated(run_talk(args))
    if args.command == "exec":
        from realtalk.cli._exec import run_exec

        return await _until_terminated(run_exec(args))
    if args.command == "demo":
        from realtalk.cli._demo import run_demo

        return await _until_terminated(run_demo(args))
    if args.command == "bench":
        from realtalk.bench import run_bench

        return await run_bench(args)
    if args.command == "app-server":
        from realtalk.cli._app_server import run_app_server

        return await run_app_server(args)
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces choices


def _refuse_talk_without_key(args: argparse.Namespace) -> None:
    """``talk`` on the real-API path without ``OPENAI_API_KEY``: refuse at once, naming it.

    Before the conversation's modules are imported and before any connection. Talking
    through a running app-server (``--app-server ws://...``) uses that server's key.

    Raises:
        ConfigError: No key, and a base URL (not the offline emulator) is in force.
    """
    if getattr(args, "list_devices", False) or args.app_server not in (None, "stdio"):
        return
    from realtalk.cli._offline import require_api_key
    from realtalk.cli._settings import resolve_cli_settings

    settings, offline = resolve_cli_settings(args)
    if not offline:
        require_api_key(settings)


async def _started(args: argparse.Namespace) -> int:
    """The command, with the garbage collector back on once its modules are loaded."""
    _collect_again()
    return await _dispatch(args)


def _collect_again() -> None:
    # Start-up allocates a few hundred thousand long-lived objects (modules, classes)
    # and frees almost none: collecting meanwhile is wasted work (~10 % of start-up).
    # They move to the permanent generation, so later collections skip them too.
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


_SIGPIPE_EXIT = 128 + 13  # what a shell reports for a writer killed by SIGPIPE


def _stdout_reader_gone() -> bool:
    """True when stdout is a pipe whose reader closed it; stdout then points to /dev/null.

    A pipe with no reader polls as an error. Pointing the descriptor at /dev/null lets
    the interpreter's last flush succeed instead of raising again at exit.
    """
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, 0)
        gone = any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return gone


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``realtalk`` command line; returns the exit status."""
    gc.disable()
    try:
        return _main(argv)
    finally:
        _collect_again()  # on every path, e.g. --help or a bad option


def run() -> None:
    """The ``realtalk`` console script: :func:`main`, then a fast exit.

    Once the command returned, everything it opened is closed and flushed (files, sockets,
    subprocesses, the run log); what is left is the interpreter freeing its modules one by
    one (~60-80 ms here), which nobody waits for: skip it. An exception still takes the
    normal way out, with its traceback.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or stream.closed:  # e.g. the stdio app-server closed it
            continue
        try:
            stream.flush()
        except OSError:  # as the interpreter's own exit would report it
            code = code or 120
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_word(words)).parse_args(words)
    _configure_logging(verbose=bool(getattr(args, "verbose", False)), command=args.command)
    try:
        return run_loop(_started(args))
    except KeyboardInterrupt:
        return 130
    except RealtalkError as exc:
        print(f"realtalk: error: {scrub(str(exc))}", file=sys.stderr)
        return 1
    except TimeoutError as exc:  # an OSError whose text is often empty
        detail = f": {exc}" if str(exc) else " waiting for an answer"
        print(f"realtalk: error: timed out{detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
            return _SIGPIPE_EXIT  # e.g. `realtalk exec ... | head`: not an error to report
        message = describe_tls_failure(exc) or str(exc)
        print(f"realtalk: error: {scrub(message)}", file=sys.stderr)
        return 1
    finally:
        close_run_log()


if __name__ == "__main__":  # pragma: no cover
    run()
