"""MIDI -> stereo audio through a SoundFont synthesizer (tinysoundfont, 35-500x real time).

SoundFont choice, first that exists: ``soundfont=`` argument > ``VMB_SOUNDFONT`` > Debian's
FluidR3_GM (``fluid-soundfont-gm``) > the small GM font shipped inside the ``pretty_midi`` wheel.
tinysoundfont clips with FluidR3 at unity gain, so that font renders about -6 dB by default.
MuseScore ``.sf3`` fonts render near-silent in tinysoundfont (they need pyfluidsynth).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmb_agent.errors import BackendUnavailableError, InputError, OutOfRangeError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    import pretty_midi

DEBIAN_FONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
)
#: default gain (dB) by font file name; tinysoundfont's unity gain clips with FluidR3.
FONT_GAIN_DB = {"fluidr3_gm.sf2": -6.0}
DRUM_CHANNEL = 9
MAX_CHANNELS = 16
DEFAULT_TAIL_S = 1.5
_MAX_VOICES = 256
_FLUSH_SAMPLES = 4096

_cache_lock = threading.Lock()
_synth_cache: dict[tuple[str, int, float], tuple[Any, int, threading.Lock]] = {}


@dataclass(frozen=True)
class SoundFontChoice:
    path: Path
    gain_db: float
    source: str  # "argument" | "VMB_SOUNDFONT" | "debian" | "pretty_midi"


def bundled_soundfont() -> Path:
    """The General MIDI font inside the pretty_midi wheel (TimGM6mb, 6 MB)."""
    import importlib.util

    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise BackendUnavailableError("pretty_midi is not installed; pip install pretty_midi")
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def choose_soundfont(soundfont: Path | str | None = None) -> SoundFontChoice:
    """Pick the SoundFont to render with (see the module docstring for the order)."""
    if soundfont is not None:
        return _checked_font(Path(soundfont), "argument")
    from vmb_agent.settings import get_settings

    configured = get_settings().soundfont
    if configured is not None:
        return _checked_font(configured, "VMB_SOUNDFONT")
    for path in DEBIAN_FONTS:
        if path.is_file():
            return SoundFontChoice(path, FONT_GAIN_DB.get(path.name.lower(), 0.0), "debian")
    path = bundled_soundfont()
    if not path.is_file():
        raise BackendUnavailableError(
            f"no SoundFont found: {path} is missing; set VMB_SOUNDFONT to a .sf2 file "
            "or install Debian's fluid-soundfont-gm."
        )
    return SoundFontChoice(path, 0.0, "pretty_midi")


def _checked_font(path: Path, source: str) -> SoundFontChoice:
    path = path.expanduser()
    if not path.is_file():
        raise InputError(f"SoundFont {str(path)!r} ({source}) not found; give a .sf2 file.")
    if path.suffix.lower() not in (".sf2", ".sf3", ".sfo"):
        raise InputError(f"SoundFont {str(path)!r} is not a .sf2/.sf3/.sfo file.")
    return SoundFontChoice(path, FONT_GAIN_DB.get(path.name.lower(), 0.0), source)


def _load_synth(choice: SoundFontChoice, sample_rate: int, gain_db: float) -> tuple[Any, int, Any]:
    """A cached tinysoundfont ``Synth`` with the font loaded (parsing FluidR3 takes a while)."""
    key = (str(choice.path), sample_rate, gain_db)
    with _cache_lock:
        if key in _synth_cache:
            return _synth_cache[key]
        try:
            import tinysoundfont
        except ImportError:
            raise BackendUnavailableError(
                "the SoundFont renderer tinysoundfont is not installed; "
                "pip install --no-deps tinysoundfont"
            ) from None
        synth = tinysoundfont.Synth(gain=gain_db, samplerate=sample_rate)
        try:
            sfid = synth.sfload(str(choice.path), max_voices=_MAX_VOICES)
        except Exception as exc:  # noqa: BLE001 - tinysoundfont raises plain Exceptions for bad files
            raise InputError(f"cannot load SoundFont {str(choice.path)!r}: {exc}") from None
        entry = (synth, sfid, threading.Lock())
        _synth_cache[key] = entry
        return entry


def _as_pretty_midi(midi: pretty_midi.PrettyMIDI | Path | str) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    if isinstance(midi, pretty_midi.PrettyMIDI):
        return midi
    path = Path(midi)
    if not path.is_file():
        raise InputError(f"MIDI file not found: {str(path)!r}.")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # noqa: BLE001 - mido/pretty_midi raise many types for corrupt files
        raise InputError(f"cannot read MIDI file {str(path)!r}: {exc}") from None


def _assign_channels(instruments: list[Any]) -> list[int]:
    """One MIDI channel per instrument; drums on channel 10. Past 15 melodic parts, parts
    with the same program share a channel, the rest wrap around."""
    channels: list[int] = []
    free = [c for c in range(MAX_CHANNELS) if c != DRUM_CHANNEL]
    by_program: dict[int, int] = {}
    for inst in instruments:
        if inst.is_drum:
            channels.append(DRUM_CHANNEL)
        elif inst.program in by_program and not free:
            channels.append(by_program[inst.program])
        elif free:
            chan = free.pop(0)
            by_program.setdefault(inst.program, chan)
            channels.append(chan)
        else:
            channels.append(len(channels) % (MAX_CHANNELS - 1))
    return channels


# Event kinds in the order they apply at the same sample: note-offs first so a repeated note
# re-strikes, then controllers, then note-ons.
_OFF, _CC, _BEND, _ON = 0, 1, 2, 3


def _events(pm: pretty_midi.PrettyMIDI, channels: list[int], sample_rate: int) -> list[tuple]:
    events: list[tuple] = []
    for inst, chan in zip(pm.instruments, channels, strict=True):
        for note in inst.notes:
            start = round(note.start * sample_rate)
            end = max(start + 1, round(note.end * sample_rate))
            events.append((start, _ON, chan, note.pitch, note.velocity))
            events.append((end, _OFF, chan, note.pitch, 0))
        for cc in inst.control_changes:
            events.append((round(cc.time * sample_rate), _CC, chan, cc.number, cc.value))
        for bend in inst.pitch_bends:
            events.append((round(bend.time * sample_rate), _BEND, chan, bend.pitch + 8192, 0))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def render_midi(
    midi: pretty_midi.PrettyMIDI | Path | str,
    *,
    sample_rate: int = 44100,
    soundfont: Path | str | None = None,
    gain_db: float | None = None,
    n_samples: int | None = None,
    tail_s: float = DEFAULT_TAIL_S,
) -> np.ndarray:
    """Render MIDI to a ``(n, 2)`` float32 stereo array at ``sample_rate``.

    ``n_samples`` fixes the output length exactly (notes past it are cut); otherwise the audio
    lasts until the last note ends plus ``tail_s`` seconds of release. ``gain_db`` defaults to
    the chosen font's safe gain (-6 dB for FluidR3, 0 otherwise).
    """
    if not 8000 <= sample_rate <= 192000:
        raise OutOfRangeError(
            f"sample_rate={sample_rate} is out of range; allowed: 8000 to 192000."
        )
    pm = _as_pretty_midi(midi)
    choice = choose_soundfont(soundfont)
    gain = choice.gain_db if gain_db is None else float(gain_db)
    synth, sfid, lock = _load_synth(choice, sample_rate, gain)

    if n_samples is None:
        end_s = max((n.end for inst in pm.instruments for n in inst.notes), default=0.0)
        n_samples = round((end_s + tail_s) * sample_rate)
    n_samples = max(0, int(n_samples))
    out = np.zeros((n_samples, 2), dtype=np.float32)
    if n_samples == 0:
        return out
    raw = memoryview(out).cast("B")
    frame_bytes = 2 * 4

    channels = _assign_channels(pm.instruments)
    with lock:
        _reset(synth)
        for inst, chan in zip(pm.instruments, channels, strict=True):
            try:
                synth.program_select(chan, sfid, 0, inst.program, is_drums=inst.is_drum)
            except RuntimeError:  # the font lacks this preset: fall back to its piano
                synth.program_select(chan, sfid, 0, 0, is_drums=inst.is_drum)
        pos = 0
        for when, kind, chan, a, b in _events(pm, channels, sample_rate):
            if when >= n_samples:
                break
            if when > pos:
                synth.generate_simple(
                    when - pos, buffer=raw[pos * frame_bytes : when * frame_bytes]
                )
                pos = when
            if kind == _ON:
                synth.noteon(chan, a, b)
            elif kind == _OFF:
                synth.noteoff(chan, a)
            elif kind == _CC:
                synth.control_change(chan, a, b)
            else:
                synth.pitchbend(chan, a)
        if pos < n_samples:
            synth.generate_simple(n_samples - pos, buffer=raw[pos * frame_bytes :])
        _reset(synth)
    return out


def render_instruments(
    midi: pretty_midi.PrettyMIDI | Path | str,
    *,
    sample_rate: int = 44100,
    soundfont: Path | str | None = None,
    n_samples: int | None = None,
    tail_s: float = DEFAULT_TAIL_S,
) -> Iterator[tuple[str, np.ndarray]]:
    """Each instrument rendered alone, all to the same length: ``(name, (n, 2) float32)``.

    Their sum is the mix, and they are the stems: the two agree exactly. (Rendered together,
    tinysoundfont updates envelopes and LFOs in blocks that start at each event of any
    instrument, so a part alone differs from its share of a joint render by up to -20 dB.)
    One part at a time is made, so a caller that sums them holds one extra track, not all.
    """
    import pretty_midi

    pm = _as_pretty_midi(midi)
    if n_samples is None:
        end_s = max((n.end for inst in pm.instruments for n in inst.notes), default=0.0)
        n_samples = round((end_s + tail_s) * sample_rate)
    for inst in pm.instruments:
        single = pretty_midi.PrettyMIDI(resolution=pm.resolution)
        single.instruments.append(inst)
        yield inst.name, render_midi(single, sample_rate=sample_rate, soundfont=soundfont,
                                     n_samples=n_samples)  # fmt: skip


def _reset(synth: Any) -> None:
    """Stop every voice and reset the channels, so a cached synth starts clean: tinysoundfont
    ends voices with a ~10 ms quick release, which is rendered away into a scratch buffer
    (otherwise it would bleed into the next render)."""
    for font in synth.soundfonts.values():
        font.reset()
    synth.generate_simple(_FLUSH_SAMPLES)


__all__ = [
    "SoundFontChoice",
    "bundled_soundfont",
    "choose_soundfont",
    "render_instruments",
    "render_midi",
]
