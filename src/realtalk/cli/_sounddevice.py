"""The real ``AudioDevice``: PortAudio through the optional ``sounddevice`` package.

Deliberately thin (device listing, raw mono int16 streams, error mapping); the logic
is in ``_device.py``. ``sounddevice`` is imported lazily so realtalk works without the
``audio`` extra until someone asks for a microphone or speaker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from realtalk.cli._device import AudioDevice, AudioDeviceError, DeviceInfo, DeviceKind

__all__ = ["AUDIO_EXTRA_HINT", "SoundDeviceBackend", "load_sounddevice"]

logger = logging.getLogger(__name__)

AUDIO_EXTRA_HINT = (
    "needs the audio extra: pip install 'realtalk[audio]' "
    "(and the PortAudio library, e.g. apt-get install libportaudio2)"
)


def load_sounddevice(purpose: str = "microphone support") -> AudioDevice:
    """The PortAudio device, or a one-line ``AudioDeviceError`` saying what to install.

    ``purpose`` starts the message, e.g. "microphone support needs the audio extra: ...".
    """
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        # ImportError: the extra is not installed; OSError: libportaudio is missing.
        raise AudioDeviceError(f"{purpose} {AUDIO_EXTRA_HINT}") from exc
    except Exception as exc:  # sounddevice.PortAudioError from Pa_Initialize at import
        raise AudioDeviceError(f"could not initialise PortAudio: {exc}") from exc
    return SoundDeviceBackend(sounddevice)


class _Stream:
    def __init__(self, stream: Any, *, error: type[Exception], role: str) -> None:
        self._stream = stream
        self._error = error
        self._role = role
        self._closed = False

    def start(self) -> None:
        try:
            self._stream.start()
        except self._error as exc:
            raise AudioDeviceError(f"could not start the {self._role}: {exc}") from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.stop()
        finally:
            self._stream.close()


class SoundDeviceBackend:
    """``AudioDevice`` over a ``sounddevice`` module (passed in: imported lazily)."""

    def __init__(self, sd: Any) -> None:
        self._sd = sd

    def _default_index(self, kind: DeviceKind) -> int | None:
        try:
            return int(self._sd.query_devices(kind=kind)["index"])
        except (self._sd.PortAudioError, ValueError):
            return None

    def list_devices(self) -> list[DeviceInfo]:
        try:
            raw = list(self._sd.query_devices())
        except self._sd.PortAudioError as exc:
            raise AudioDeviceError(f"could not list audio devices: {exc}") from exc
        default_in = self._default_index("input")
        default_out = self._default_index("output")
        return [
            DeviceInfo(
                index=int(d["index"]),
                name=str(d["name"]),
                max_input_channels=int(d["max_input_channels"]),
                max_output_channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                is_default_input=d["index"] == default_in,
                is_default_output=d["index"] == default_out,
            )
            for d in raw
        ]

    def supports_rate(self, device: DeviceInfo, *, kind: DeviceKind, samplerate: int) -> bool:
        check = self._sd.check_input_settings if kind == "input" else self._sd.check_output_settings
        try:
            check(device=device.index, channels=1, dtype="int16", samplerate=samplerate)
        except (self._sd.PortAudioError, ValueError):
            return False
        return True

    def _open(self, factory: Any, device: DeviceInfo, kind: DeviceKind, **kwargs: Any) -> _Stream:
        role = "microphone" if kind == "input" else "speaker"
        try:
            stream = factory(device=device.index, channels=1, dtype="int16", **kwargs)
        except (self._sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(
                f"could not open the {role} {device.name!r}: {exc}; "
                "pick another with --input-device/--output-device (realtalk talk --list-devices)"
            ) from exc
        return _Stream(stream, error=self._sd.PortAudioError, role=role)

    def open_input(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[bytes], None],
    ) -> _Stream:
        def on_audio(indata: Any, frames: int, time: Any, status: Any) -> None:
            if status:
                logger.debug("microphone status", extra={"status": str(status)})
            try:
                callback(bytes(indata))
            except Exception:  # never let an error kill PortAudio's thread
                logger.exception("microphone callback failed")

        return self._open(
            self._sd.RawInputStream,
            device,
            "input",
            samplerate=samplerate,
            blocksize=blocksize,
            callback=on_audio,
        )

    def open_output(
        self,
        device: DeviceInfo,
        *,
        samplerate: int,
        blocksize: int,
        callback: Callable[[int], bytes],
    ) -> _Stream:
        def on_audio(outdata: Any, frames: int, time: Any, status: Any) -> None:
            if status:
                logger.debug("speaker status", extra={"status": str(status)})
            try:
                outdata[:] = callback(frames)
            except Exception:  # play silence rather than kill PortAudio's thread
                logger.exception("speaker callback failed")
                outdata[:] = bytes(len(outdata))

        return self._open(
            self._sd.RawOutputStream,
            device,
            "output",
            samplerate=samplerate,
            blocksize=blocksize,
            callback=on_audio,
        )
