"""Voice recordings the network made for <Record>: the resources and their audio. No I/O here.

The audio is silence of the recording's length (the emulator has no microphone); what the caller
"said" is kept beside it so a <Play> of the recording can tell a test what the listener hears.
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass, field
from datetime import datetime

from shared.events import utcnow

SAMPLE_RATE = 8000  # Hz: telephone audio, as Twilio's recordings are
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM

# A recording's media path: /2010-04-01/Accounts/<AC>/Recordings/<RE>[.wav|.mp3|.json]
MEDIA_PATH = re.compile(
    r"/Accounts/(?P<account>AC[0-9a-fA-F]{32})/Recordings/(?P<sid>RE[0-9a-fA-F]{32})"
    r"(?:\.(?P<extension>wav|mp3|json))?$"
)


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    seconds: int
    speech: str  # what the caller said, for whoever plays the recording back
    date_created: datetime = field(default_factory=utcnow)


class RecordingStore:
    """Recordings by SID, oldest first. Not thread-safe: the caller holds a lock."""

    def __init__(self) -> None:
        self.recordings: dict[str, Recording] = {}

    def add(self, recording: Recording) -> Recording:
        self.recordings[recording.sid] = recording
        return recording

    def get(self, sid: str) -> Recording | None:
        return self.recordings.get(sid)

    def delete(self, sid: str) -> bool:
        """Forget a recording; False when there was none."""
        return self.recordings.pop(sid, None) is not None

    def of_call(self, call_sid: str | None = None) -> list[Recording]:
        """Recordings newest first (Twilio's list order), of one call when `call_sid` is given."""
        found = [r for r in self.recordings.values() if call_sid is None or r.call_sid == call_sid]
        return sorted(found, key=lambda r: r.date_created, reverse=True)


def silence_wav(seconds: int) -> bytes:
    """A WAV file of `seconds` of silence, 8 kHz mono 16-bit."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(SAMPLE_WIDTH)
        audio.setframerate(SAMPLE_RATE)
        audio.writeframes(b"\x00" * (SAMPLE_RATE * SAMPLE_WIDTH * max(seconds, 0)))
    return buffer.getvalue()
