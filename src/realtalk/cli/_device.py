"""Local sound devices for ``realtalk talk --mic/--speaker``: the logic, not the driver.

The driver is behind a seam: ``AudioDevice`` lists devices and opens raw mono PCM16
streams whose callbacks run on the driver's own thread. The real implementation
(``_sounddevice.py``, PortAudio) is thin; everything that can go wrong in between lives
here, in ``_capture.py`` and ``_playback.py``, and is tested with an in-memory device.

Threads. PortAudio calls stream callbacks on its own thread:

* capture (``MicCapture``) hands each block to the event loop with
  ``loop.call_soon_threadsafe`` into a bounded ``BlockQueue`` (**drop oldest**, counted),
  and a task on the loop resamples to pcm24k and feeds the conversation;
* playback (``Speaker``) reads from a lock-protected ``JitterBuffer`` that the loop
  fills (**drop oldest** beyond ~2 s, silence when empty, cleared on barge-in).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from realtalk._errors import ConfigError
from realtalk.transports import PCM24K_RATE

__all__ = [
    "FRAME_MS",
    "AudioDevice",
    "AudioDeviceError",
    "AudioPlayback",
    "AudioStream",
    "DeviceInfo",
    "DeviceKind",
    "block_frames",
    "choose_rate",
    "format_devices",
    "is_quiet",
    "parse_device_spec",
    "post_threadsafe",
    "select_device",
]

FRAME_MS = 20
DeviceKind = Literal["input", "output"]
_ROLE = {"input": "microphone", "output": "speaker"}
_FLAG = {"input": "--input-device", "output": "--output-device"}


class AudioDeviceError(ConfigError):
    """Local audio is unavailable: missing library, no such device, or it failed to open."""


@dataclass(frozen=True)
class DeviceInfo:
    """One sound device as the driver reports it."""

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False

    def channels(self, kind: DeviceKind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


class AudioStream(Protocol):
    """An open device stream; callbacks run on the driver's thread once started."""

    def start(self) -> None: ...

    def close(self) -> None:
        """Stop and release the stream (idempotent)."""
        ...


class AudioDevice(Protocol):
    """The sound-device seam: PortAudio in production, buffers in tests."""

    def list_devices(self) -> list[DeviceInfo]: ...

    def supports_rate(self, device: DeviceInfo, *, kind: DeviceKind, samplerate: int) -> bool: ...

    def open_input(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[bytes], None],
    ) -> AudioStream:
        """Open mono PCM16 capture; ``callback`` gets each block's bytes."""
        ...

    def open_output(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[int], bytes],
    ) -> AudioStream:
        """Open mono PCM16 playback; ``callback(frames)`` returns exactly ``frames * 2`` bytes."""
        ...


class AudioPlayback(Protocol):
    """Where the conversation's audio goes (``TalkRuntime`` calls it on the loop thread).

    It is also the conversation's playback clock (``realtalk.protocol.PlaybackClock``):
    on barge-in the interrupted answer is truncated where *it* stopped playing.
    """

    def play(self, pcm24k: bytes, item_id: str | None = None) -> None:
        """Queue audio of the assistant item ``item_id`` (None: not known, e.g. WebRTC)."""
        ...

    def interrupt(self) -> None:
        """The person started talking: drop what has not been played yet."""
        ...

    def played_ms(self, item_id: str) -> float | None:
        """How much of ``item_id`` has been played (None: this player did not play it)."""
        ...


# --- pure helpers ---------------------------------------------------------------------


def block_frames(samplerate: int, ms: int = FRAME_MS) -> int:
    """Frames in one ``ms`` block at ``samplerate`` (20 ms at 24 kHz -> 480)."""
    if samplerate <= 0 or ms <= 0:
        raise ValueError("samplerate and block length must be positive")
    return max(1, samplerate * ms // 1000)


def is_quiet(pcm: bytes, *, threshold: int = 32) -> bool:
    """True when every PCM16 sample is within +-``threshold`` (about -60 dBFS)."""
    samples = memoryview(pcm[: len(pcm) - len(pcm) % 2]).cast("h")
    return max(samples, default=0) <= threshold and min(samples, default=0) >= -threshold


def parse_device_spec(text: str | None) -> str | int | None:
    """``--input-device`` value: an index when it is a number, else a name."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    return int(text) if text.isdigit() else text


def format_devices(devices: list[DeviceInfo], kind: DeviceKind | None = None) -> str:
    """One line per device (``*`` marks a default), filtered to ``kind`` if given."""
    lines = []
    for d in devices:
        if kind is not None and d.channels(kind) < 1:
            continue
        default = (d.is_default_input and kind != "output") or (
            d.is_default_output and kind != "input"
        )
        lines.append(
            f"{'*' if default else ' '} {d.index:3d}: {d.name} "
            f"({d.max_input_channels} in, {d.max_output_channels} out, "
            f"{d.default_samplerate:g} Hz)"
        )
    return "\n".join(lines)


def _no_device(kind: DeviceKind, reason: str, devices: list[DeviceInfo]) -> AudioDeviceError:
    # Without a speaker the conversation still works: say how to go on without one.
    alternative = " (or pass --no-speaker)" if kind == "output" else ""
    choices = format_devices(devices, kind)
    if not choices:
        return AudioDeviceError(f"{reason}; this machine has no audio {kind} devices{alternative}")
    listing = "; ".join(line.strip().lstrip("* ") for line in choices.splitlines())
    return AudioDeviceError(
        f"{reason}; choose one with {_FLAG[kind]} NAME|INDEX{alternative}: {listing} "
        "(realtalk talk --list-devices)"
    )


def select_device(
    devices: list[DeviceInfo], spec: str | int | None, *, kind: DeviceKind
) -> DeviceInfo:
    """Pick the device for ``spec``: the default, an index, or a (unique) name.

    Raises:
        AudioDeviceError: no such device, ambiguous name, or no device of that kind.
    """
    usable = [d for d in devices if d.channels(kind) >= 1]
    role = _ROLE[kind]
    if spec is None:
        for d in usable:
            if d.is_default_input if kind == "input" else d.is_default_output:
                return d
        raise _no_device(kind, f"no default {role} found", devices)
    if isinstance(spec, int):
        for d in usable:
            if d.index == spec:
                return d
        raise _no_device(kind, f"no {role} with index {spec}", devices)
    exact = [d for d in usable if d.name == spec]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in usable if spec.casefold() in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _no_device(kind, f"no {role} named {spec!r}", devices)
    raise _no_device(kind, f"{spec!r} matches several devices", matches)


def choose_rate(device: AudioDevice, info: DeviceInfo, *, kind: DeviceKind) -> int:
    """24 kHz when the device (or the driver's resampler) takes it, else its own rate."""
    if device.supports_rate(info, kind=kind, samplerate=PCM24K_RATE):
        return PCM24K_RATE
    rate = int(info.default_samplerate)
    if rate <= 0:
        raise AudioDeviceError(f"{_ROLE[kind]} {info.name!r} reports no usable sample rate")
    return rate


def post_threadsafe(
    loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object
) -> None:
    """Schedule ``callback`` on ``loop`` from a driver thread; a closed loop drops it."""
    # RuntimeError: the loop is shutting down, there is no one left to deliver to.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)
