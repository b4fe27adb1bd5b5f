"""``realtalk bench speech`` runs and reports what the README quotes."""

from __future__ import annotations

from realtalk.bench._speech import bench_speech


async def test_quick_speech_bench_reports_accuracy_and_latency() -> None:
    result = await bench_speech(quick=True)
    recognition = result["recognition"]
    assert recognition["commands"]["utterances"] == 8
    # The default espeak-ng voice saying the emulator's own phrases: all understood.
    assert recognition["commands"]["exact"] == 1.0
    assert recognition["commands"]["intent"] == 1.0
    assert recognition["free"]["taken_for_commands"] == 0
    assert 0.0 <= recognition["free"]["word_error_rate"] <= 1.0
    assert set(recognition["by_voice"]) == {"en"}
    tts = result["tts_ms"]
    assert tts["long_audio_s"] > 5 * tts["short_audio_s"]  # length follows the text
    first_audio = result["first_audio_ms"]
    assert first_audio["websocket_median"] > 0 and first_audio["webrtc_median"] > 0
