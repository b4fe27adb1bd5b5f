"""The ``talk`` options for the microphone and speaker.

Kept apart from ``_talk_audio`` (the devices, the renderer and the conversation
stack), so ``realtalk talk --help`` builds its parser without importing any of them.
"""

from __future__ import annotations

import argparse

__all__ = ["HEADPHONES_NOTE", "add_audio_arguments"]

HEADPHONES_NOTE = (
    "Use headphones with --mic: from loudspeakers the model hears its own voice, "
    "takes it for the person and interrupts itself (or pass --no-speaker)."
)


def add_audio_arguments(talk: argparse.ArgumentParser) -> None:
    """The ``talk`` flags for the local microphone and speaker."""
    group = talk.add_argument_group(
        "microphone and speaker (pip install 'realtalk[audio]')", description=HEADPHONES_NOTE
    )
    group.add_argument(
        "--mic",
        action="store_true",
        help="talk through the microphone; the server detects turns. "
        "Type a line to send it as text; an empty line or Ctrl-C quits",
    )
    group.add_argument(
        "--speaker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="play the model's audio on the output device (default: on with --mic)",
    )
    group.add_argument(
        "--push-to-talk",
        action="store_true",
        help="with --mic in the console: no server turn detection; Ctrl-T starts talking and "
        "Ctrl-T again sends what you said (a toggle: terminals report no key release)",
    )
    group.add_argument("--input-device", metavar="NAME|INDEX", help="microphone to use")
    group.add_argument("--output-device", metavar="NAME|INDEX", help="speaker to use")
    group.add_argument(
        "--list-devices", action="store_true", help="list audio devices (* = default) and exit"
    )
