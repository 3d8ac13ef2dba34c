"""Turning files into library tracks: content-hash ids, analysis, moods and a caption."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from vmb_agent.errors import InputError, UnsupportedFormatError
from vmb_agent.library.audio_features import AUDIO_SUFFIXES
from vmb_agent.library.midi import MIDI_SUFFIXES
from vmb_agent.theory import normalize_instrument, parse_key
from vmb_agent.types import TrackInfo

SUPPORTED_SUFFIXES = AUDIO_SUFFIXES + MIDI_SUFFIXES


def content_id(path: str | os.PathLike[str]) -> str:
    """Track id: the first 16 hex digits of the SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], dict[str, str]]:
    """Files to ingest (folders searched recursively, sorted) and refusals for named files."""
    files: list[Path] = []
    refused: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                                and not p.name.startswith(".")))
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            refused[str(path)] = (f"unsupported format {path.suffix or '(none)'!r}; allowed: "
                                  f"{', '.join(SUPPORTED_SUFFIXES)}")
    seen: set[Path] = set()
    unique = [f for f in files if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, refused


def derive_moods(key: str | None, tempo: float | None, energy: float | None) -> list[str]:
    """Coarse moods from mode, tempo and energy (documented heuristics, not a classifier)."""
    minor = key is not None and key.endswith("minor")
    tempo = tempo or 100.0
    energy = 0.5 if energy is None else energy
    if tempo < 84 or energy < 0.3:
        moods = ["melancholic", "somber"] if minor else ["calm", "peaceful"]
    elif tempo >= 120 or energy > 0.7:
        moods = ["dramatic", "tense"] if minor else ["happy", "energetic"]
    else:
        moods = ["dark", "serious"] if minor else ["warm", "bright"]
    if energy > 0.75 and "energetic" not in moods:
        moods.append("energetic")
    return moods


def _pace(tempo: float | None) -> str:
    if tempo is None:
        return ""
    if tempo < 72:
        return "slow"
    if tempo < 100:
        return "moderate"
    if tempo < 132:
        return "lively"
    return "fast"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def make_caption(track: TrackInfo, *, era: str | None = None, form: str | None = None) -> str:
    """One sentence describing the track, e.g. 'calm baroque four-part chorale in E minor at
    72 BPM with choir, 3/4 meter, by J.S. Bach (Baroque, bach chorales)'."""
    mood = track.moods[0] if track.moods else ""
    genre = track.genres[0] if track.genres else ("piece" if track.format == "midi" else "music")
    kind = form or ("piece" if track.format == "midi" else "recording")
    if genre in kind:  # "folk folk song" -> "folk song"
        genre = ""
    head = " ".join(w for w in (mood, _pace(track.tempo_bpm), genre, kind) if w)
    parts = [head]
    if track.key:
        parts.append(f"in {track.key}")
    if track.tempo_bpm:
        parts.append(f"at {track.tempo_bpm:.0f} BPM")
    if track.instruments:
        parts.append(f"with {_join(track.instruments[:5])}")
    text = " ".join(parts)
    extras = []
    if track.time_signature:
        extras.append(f"{track.time_signature} meter")
    if track.duration_s:
        minutes, seconds = divmod(round(track.duration_s), 60)
        extras.append(f"{minutes}:{seconds:02d} long")
    if track.percussiveness is not None and track.percussiveness > 0.5:
        extras.append("percussive")
    if track.brightness is not None:
        extras.append("bright timbre" if track.brightness > 0.6 else
                      "dark timbre" if track.brightness < 0.3 else "")
    if track.composer and track.composer != "traditional":
        extras.append(f"by {track.composer}")
    elif track.composer == "traditional":
        extras.append("traditional tune")
    extras = [e for e in extras if e]
    if extras:
        text += ", " + ", ".join(extras)
    context = [c for c in (era, track.collection) if c]
    if context:
        text += f" ({', '.join(context)})"
    if track.genres[1:]:
        text += "; " + ", ".join(track.genres[1:])
    if track.moods[1:]:
        text += "; " + ", ".join(track.moods[1:])
    title = track.title.strip()
    return f"{title}: {text}." if title else f"{text}."


def _clean_title(path: Path) -> str:
    return " ".join(path.stem.replace("_", " ").replace("-", " ").split()) or path.name


def _tag_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [v.strip().lower() for v in value.replace(";", ",").replace("/", ",").split(",")
            if v.strip()]


def _instruments_from_tags(tags: dict[str, str]) -> list[str]:
    names: list[str] = []
    for raw in _tag_list(tags.get("instruments") or tags.get("instrument")):
        try:
            name = normalize_instrument(raw)
        except InputError:
            continue
        if name not in names:
            names.append(name)
    return names


def analyze_file(path: Path, track_id: str, tags: dict[str, str]) -> TrackInfo:
    """Measure one audio or MIDI file and describe it as a :class:`TrackInfo` (with caption)."""
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        track = _analyze_midi_file(path, track_id, tags)
    elif suffix in AUDIO_SUFFIXES:
        track = _analyze_audio_file(path, track_id, tags)
    else:
        raise UnsupportedFormatError(
            f"{path.name!r} has an unsupported format; allowed: {', '.join(SUPPORTED_SUFFIXES)}."
        )
    track.caption = make_caption(track, era=tags.get("era"), form=tags.get("form"))
    return track


def _common(path: Path, track_id: str, tags: dict[str, str], fmt: str) -> dict:
    genres = _tag_list(tags.get("genre") or tags.get("genres"))
    moods = _tag_list(tags.get("mood") or tags.get("moods"))
    return {
        "id": track_id,
        "title": tags.get("title") or _clean_title(path),
        "path": str(path.resolve()),
        "format": fmt,
        "genres": genres,
        "moods": moods,
        "composer": tags.get("composer") or tags.get("artist"),
        "collection": tags.get("collection") or tags.get("album"),
        "tags": dict(tags),
    }


def _analyze_audio_file(path: Path, track_id: str, tags: dict[str, str]) -> TrackInfo:
    from vmb_agent.library.audio_features import analyze_audio, audio_metadata_tags, load_audio

    merged = {**audio_metadata_tags(path), **tags}  # the caller's tags win over the file's
    samples, sr = load_audio(path)
    features = analyze_audio(samples, sr)
    fields = _common(path, track_id, merged, "audio")
    if not fields["moods"]:
        fields["moods"] = derive_moods(features.key, features.tempo_bpm, features.energy)
    return TrackInfo(
        **fields,
        duration_s=features.duration_s,
        tempo_bpm=features.tempo_bpm,
        tempo_confidence=features.tempo_confidence,
        key=features.key,
        key_confidence=features.key_confidence,
        instruments=_instruments_from_tags(merged),
        loudness_lufs=features.loudness_lufs,
        energy=features.energy,
        brightness=features.brightness,
        percussiveness=features.percussiveness,
        onset_density=features.onset_density,
    )


def _analyze_midi_file(path: Path, track_id: str, tags: dict[str, str]) -> TrackInfo:
    from vmb_agent.library.midi import analyze_midi, load_midi, midi_title

    pm = load_midi(path)
    features = analyze_midi(pm)
    if features.duration_s <= 0 or not any(inst.notes for inst in pm.instruments):
        raise InputError(f"MIDI file {str(path)!r} contains no notes.")
    merged = dict(tags)
    if "title" not in merged and (title := midi_title(path)):
        merged["title"] = title
    fields = _common(path, track_id, merged, "midi")
    # Energy of a score: note density and loudness (velocity) on a 0-1 scale.
    energy = min(1.0, 0.6 * min(features.note_density / 8.0, 1.0)
                 + 0.4 * features.mean_velocity / 127.0)
    if not fields["moods"]:
        fields["moods"] = derive_moods(features.key, features.tempo_bpm, energy)
    instruments = list(features.instruments)
    for extra in _instruments_from_tags(merged):
        if extra not in instruments:
            instruments.append(extra)
    return TrackInfo(
        **fields,
        duration_s=features.duration_s,
        tempo_bpm=features.tempo_bpm,
        tempo_confidence=1.0 if features.tempo_bpm else None,
        key=features.key,
        key_confidence=features.key_confidence,
        time_signature=features.time_signature,
        instruments=instruments,
        energy=round(energy, 3),
        note_density=features.note_density,
        percussiveness=1.0 if "drums" in instruments and len(instruments) == 1 else None,
    )


def key_name_or_none(text: str | None) -> str | None:
    return None if not text else parse_key(text).name
