"""What the pretrained music models hear in a user's recording, for ``library add``.

Basic Pitch's notes (:mod:`~vmb_agent.library.transcribe`) are stored beside the library as a
JSON sidecar (``<library>/transcriptions/<track id>.json``), so an audio track can condition a
piece like a MIDI file, and they choose the tempo's metrical level. musicnn's tags
(:mod:`~vmb_agent.library.tagger`, both models over up to a minute spread across the track)
give the genres, moods and instruments the user did not: each VMB name the tags suggest with at
least its kind's :data:`MIN_PROBABILITY`, the most probable first. Audio the models cannot judge
(silent, under 1 s, NaN) gets no notes and no tags, and says why in the track's tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vmb_agent.library.tagger import map_tags
from vmb_agent.library.transcribe import Transcription, transcribe
from vmb_agent.types import TrackInfo

#: seconds of audio the tagger hears per track (evenly spaced 3 s excerpts)
TAGGED_SECONDS = 60.0
#: a suggested VMB name is kept from this probability on (musicnn's tags rarely pass 0.6)
MIN_PROBABILITY = {"genre": 0.2, "mood": 0.25, "instrument": 0.25}
#: at most this many names of each kind are taken from the tags
MAX_NAMES = {"genre": 3, "mood": 3, "instrument": 4}
#: tags kept on the track
KEPT_TAGS = 10


@dataclass
class Heard:
    """The notes and tags of one recording, and the VMB names the tags suggest."""

    transcription: Transcription
    tags: list[tuple[str, float]] = field(default_factory=list)  # most probable first
    suggested: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # kind -> names
    tags_missing_reason: str | None = None


def listen(samples: np.ndarray, sample_rate: int) -> Heard:
    """Transcribe and tag ``samples`` (mono or multichannel, any rate)."""
    from vmb_agent.library.tagger import merged_tags

    transcription = transcribe(samples, sample_rate)
    tags = merged_tags(samples, sample_rate, TAGGED_SECONDS)
    if not tags:
        return Heard(transcription, tags_missing_reason="the audio tagger could not judge it "
                     "(silent, shorter than 1 s or not finite)")  # fmt: skip
    ranked = sorted(tags.items(), key=lambda item: -item[1])
    mapped = map_tags(tuple(ranked))
    suggested = {
        kind: [(name, p) for name, p in mapped[kind] if p >= MIN_PROBABILITY[kind]][: MAX_NAMES[kind]]
        for kind in MIN_PROBABILITY
    }
    return Heard(transcription, ranked[:KEPT_TAGS], suggested)


def heard_names(track: TrackInfo) -> dict[tuple[str, str], float]:
    """(kind, VMB name) -> probability, for names the audio tagger gave this track (not the
    user: a name also in the user's own tags is the user's)."""
    if not track.audio_tags:
        return {}

    given = " ".join(str(v) for v in track.tags.values()).lower()
    mapped = map_tags(tuple((t.tag, t.probability) for t in track.audio_tags))
    return {(kind, name): p for kind, names in mapped.items() for name, p in names
            if name not in given}  # fmt: skip


def transcription_path(library_dir: Path, track_id: str) -> Path:
    return library_dir / "transcriptions" / f"{track_id}.json"


def store_transcription(transcription: Transcription, library_dir: Path, track_id: str) -> Path:
    """Write the sidecar atomically (a reader never sees half a file) and return its path."""
    from vmb_agent.files import atomic_output

    path = transcription_path(library_dir, track_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(transcription.to_dict(), separators=(",", ":")))
    return path
