"""MIDI -> stereo audio through a SoundFont synthesizer (tinysoundfont, 35-500x real time).

SoundFont choice, first that exists: ``soundfont=`` argument > ``VMB_SOUNDFONT`` > Debian's
FluidR3_GM (``fluid-soundfont-gm``) > FluidR3Mono GM shipped with this package
(``vmb_agent/data/soundfonts``, MIT) > the small TimGM6mb inside the ``pretty_midi`` wheel.
``shipped`` (or ``fluidr3mono``) as the argument or ``VMB_SOUNDFONT`` names the shipped font,
``timgm6mb`` the pretty_midi one.
Compressed ``.sf3`` fonts (the shipped one included) are decoded once to a standard ``.sf2`` in
``VMB_CACHE_DIR`` (:mod:`vmb_agent.rendering.soundfont_sf3`, ~3 s the first time), so no process
decodes the Vorbis samples again. tinysoundfont holds a whole font as floats (250 MB for the
decoded FluidR3Mono), so an SF2 over :data:`SUBSET_MIN_BYTES` is loaded as a subset with only the
presets a render plays (a few MB each, ~30 ms to cut; they sound the same, to -100 dB).
Per-font gains (:data:`FONT_GAIN_DB`) keep the render level comparable: tinysoundfont clips with
FluidR3 at unity gain, so that font renders at -6 dB. (MuseScore_General's piano renders
~23 dB quieter than FluidR3Mono's in tinysoundfont, which is why it is not the default.)
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmb_agent.errors import BackendUnavailableError, InputError, OutOfRangeError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Iterator

    import pretty_midi

DEBIAN_FONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
)
SHIPPED_FONT = Path(__file__).resolve().parents[1] / "data" / "soundfonts" / "FluidR3Mono_GM.sf3"
#: default gain (dB) by font file name (lower case), measured so fonts render at a comparable
#: level: tinysoundfont's unity gain clips with FluidR3; FluidR3Mono at 0 dB is within 0.2 dB of
#: TimGM6mb on average over generated pop/rock/jazz/cinematic pieces (docs/generation.md).
FONT_GAIN_DB = {"fluidr3_gm.sf2": -6.0, "fluidr3mono_gm.sf3": 0.0, "timgm6mb.sf2": 0.0}
DRUM_CHANNEL = 9
MAX_CHANNELS = 16
DEFAULT_TAIL_S = 1.5
_MAX_VOICES = 256
_FLUSH_SAMPLES = 4096

log = logging.getLogger(__name__)
#: SF2 fonts at least this big are loaded per render as a subset of the presets it plays
SUBSET_MIN_BYTES = 32 << 20
#: how much subset sample data (as tinysoundfont's floats) stays loaded for reuse
SUBSET_CACHE_BYTES = 256 << 20
_cache_lock = threading.Lock()
_synth_cache: dict[tuple, tuple[Any, int, threading.Lock]] = {}
_subset_bytes: dict[tuple, int] = {}


@dataclass(frozen=True)
class SoundFontChoice:
    path: Path  # what tinysoundfont loads (for an .sf3: the decoded .sf2 in the cache)
    gain_db: float
    source: str  # "argument" | "VMB_SOUNDFONT" | "debian" | "shipped" | "pretty_midi"
    original: Path | None = None  # the .sf3 that ``path`` was decoded from


#: ``VMB_SOUNDFONT`` / ``soundfont=`` names for the shipped font and for pretty_midi's
SHIPPED_NAMES = {"shipped", "fluidr3mono"}
TIMGM_NAMES = {"timgm6mb", "timgm"}


def shipped_soundfont() -> Path:
    """The General MIDI font shipped inside this package: FluidR3Mono GM (.sf3, 23.6 MB, MIT)."""
    return SHIPPED_FONT


def bundled_soundfont() -> Path:
    """The General MIDI font inside the pretty_midi wheel (TimGM6mb, 6 MB): the last resort."""
    import importlib.util

    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise BackendUnavailableError("pretty_midi is not installed; pip install pretty_midi")
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def choose_soundfont(soundfont: Path | str | None = None) -> SoundFontChoice:
    """Pick the SoundFont to render with (see the module docstring for the order); an ``.sf3``
    comes back as its decoded ``.sf2`` (decoded on first use, then read from the cache)."""
    from vmb_agent.settings import get_settings

    named, source = (soundfont, "argument") if soundfont is not None else \
        (get_settings().soundfont, "VMB_SOUNDFONT")  # fmt: skip
    if named is not None and str(named).lower() in TIMGM_NAMES:
        named = bundled_soundfont()
    if named is not None and str(named).lower() not in SHIPPED_NAMES:
        return _checked_font(Path(named), source)
    if named is None:
        for path in DEBIAN_FONTS:
            if path.is_file():
                return SoundFontChoice(path, _font_gain(path), "debian")
    shipped = shipped_soundfont()
    try:
        return _decoded(shipped, "shipped")
    except (InputError, OSError) as exc:  # missing, or a libsndfile without Ogg Vorbis
        log.warning("cannot use the shipped SoundFont %s (%s); using TimGM6mb", shipped, exc)
    path = bundled_soundfont()
    if not path.is_file():
        raise BackendUnavailableError(
            f"no SoundFont found: {path} is missing; set VMB_SOUNDFONT to a .sf2 file "
            "or install Debian's fluid-soundfont-gm."
        )
    return SoundFontChoice(path, _font_gain(path), "pretty_midi")


def _font_gain(path: Path) -> float:
    return FONT_GAIN_DB.get(path.name.lower(), 0.0)


def _decoded(path: Path, source: str) -> SoundFontChoice:
    from vmb_agent.rendering.soundfont_sf3 import decoded_sf2

    return SoundFontChoice(decoded_sf2(path), _font_gain(path), source, original=path)


def _checked_font(path: Path, source: str) -> SoundFontChoice:
    path = path.expanduser()
    if not path.is_file():
        raise InputError(f"SoundFont {str(path)!r} ({source}) not found; give a .sf2 or .sf3 "
                         "file, or 'shipped' / 'timgm6mb' for the bundled fonts.")
    if path.suffix.lower() not in (".sf2", ".sf3", ".sfo"):
        raise InputError(f"SoundFont {str(path)!r} is not a .sf2/.sf3/.sfo file.")
    from vmb_agent.rendering.soundfont_sf3 import is_sf3

    if is_sf3(path):
        return _decoded(path, source)
    return SoundFontChoice(path, _font_gain(path), source)


def _subset_index(choice: SoundFontChoice) -> Any:
    """The font's tables when it is a plain SF2 big enough to load by subsets, else None."""
    try:
        if choice.path.stat().st_size < SUBSET_MIN_BYTES:
            return None
        from vmb_agent.rendering.soundfont_sf3 import index_sf2, is_sf3

        if choice.path.suffix.lower() == ".sfo" or is_sf3(choice.path):
            return None
        return index_sf2(choice.path)
    except (OSError, InputError):  # unreadable or odd: tinysoundfont loads it whole (or says why)
        return None


def _presets_played(available: set[tuple[int, int]], instruments: list[Any]) -> frozenset:
    """The (bank, program) presets tinysoundfont will pick for these instruments, following its
    own lookup: drums try (128, program), (128, 0), then (0, program); melodic parts (0, program);
    a part whose preset is missing falls back to program 0 (as :func:`render_midi` does)."""

    def lookup(program: int, drum: bool) -> tuple[int, int] | None:
        chain = [(128, program), (128, 0), (0, program)] if drum else [(0, program)]
        return next((c for c in chain if c in available), None)

    keep = set()
    for inst in instruments:
        found = lookup(inst.program, inst.is_drum) or lookup(0, inst.is_drum)
        if found is not None:
            keep.add(found)
    if not keep and available:
        keep.add(min(available))
    return frozenset(keep)


def _load_synth(
    choice: SoundFontChoice, sample_rate: int, gain_db: float, instruments: Iterable[Any] = ()
) -> tuple[Any, int, Any]:
    """A cached tinysoundfont ``Synth`` with the font loaded. A large SF2 (the decoded shipped
    font: 62 M frames, 250 MB as tinysoundfont's floats) is loaded as a subset holding only the
    presets these instruments play (a few MB each, ~30 ms to build); subsets are kept for reuse
    up to :data:`SUBSET_CACHE_BYTES`, least recently used dropped first."""
    index = _subset_index(choice)
    presets = _presets_played(index.presets, list(instruments)) if index is not None else None
    key = (str(choice.path), sample_rate, gain_db, presets)
    with _cache_lock:
        if key in _synth_cache:
            _synth_cache[key] = entry = _synth_cache.pop(key)  # most recently used last
            return entry
        try:  # TinySoundFont, vendored and compiled with the package (no PyAudio dependency)
            from vmb_agent.rendering._tinysoundfont_synth import Synth
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the SoundFont renderer (the compiled module vmb_agent.rendering._tinysoundfont)"
                f" cannot be loaded ({exc}); reinstall vmb-agent, which compiles it (a source"
                " install needs a C++ compiler)"
            ) from None
        synth = Synth(gain=gain_db, samplerate=sample_rate)
        try:
            if index is None:
                font: str | bytes = str(choice.path)
            else:
                from vmb_agent.rendering.soundfont_sf3 import subset_sf2

                font = subset_sf2(index, presets)
            sfid = synth.sfload(font, max_voices=_MAX_VOICES)
        except Exception as exc:  # noqa: BLE001 - tinysoundfont raises plain Exceptions for bad files
            raise InputError(f"cannot load SoundFont {str(choice.path)!r}: {exc}") from None
        entry = (synth, sfid, threading.Lock())
        _synth_cache[key] = entry
        if index is not None:
            _subset_bytes[key] = 2 * len(font)  # tinysoundfont holds 16-bit samples as floats
            _evict_subsets(keep=key)
        return entry


def _evict_subsets(keep: tuple) -> None:
    """Drop the least recently used subset synths past :data:`SUBSET_CACHE_BYTES`."""
    for key in [k for k in list(_subset_bytes) if k not in _synth_cache]:
        del _subset_bytes[key]  # the cache was replaced (tests do that)
    total = sum(_subset_bytes.values())
    for key in list(_synth_cache):
        if total <= SUBSET_CACHE_BYTES:
            break
        if key in _subset_bytes and key != keep:
            total -= _subset_bytes.pop(key)
            del _synth_cache[key]


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
    the chosen font's gain from :data:`FONT_GAIN_DB` (-6 dB for FluidR3, 0 for the others).
    """
    if not 8000 <= sample_rate <= 192000:
        raise OutOfRangeError(
            f"sample_rate={sample_rate} is out of range; allowed: 8000 to 192000."
        )
    pm = _as_pretty_midi(midi)
    choice = choose_soundfont(soundfont)
    gain = choice.gain_db if gain_db is None else float(gain_db)
    synth, sfid, lock = _load_synth(choice, sample_rate, gain, pm.instruments)

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


#: instruments rendered at once by :func:`render_instruments` (this machine class has 2 cores)
RENDER_THREADS = max(1, min(2, os.cpu_count() or 1))


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
    Parts come in order; up to :data:`RENDER_THREADS` render at once (each instrument has its
    own synth, and the engine releases the GIL while it renders), so a caller that sums them
    holds at most that many extra tracks, not all.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import pretty_midi

    pm = _as_pretty_midi(midi)
    if n_samples is None:
        end_s = max((n.end for inst in pm.instruments for n in inst.notes), default=0.0)
        n_samples = round((end_s + tail_s) * sample_rate)

    def render_one(inst: pretty_midi.Instrument) -> np.ndarray:
        single = pretty_midi.PrettyMIDI(resolution=pm.resolution)
        single.instruments.append(inst)
        return render_midi(single, sample_rate=sample_rate, soundfont=soundfont,
                           n_samples=n_samples)  # fmt: skip

    with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool:
        window: list[tuple[str, Future[np.ndarray]]] = []
        for inst in pm.instruments:
            window.append((inst.name, pool.submit(render_one, inst)))
            if len(window) >= RENDER_THREADS:
                name, part = window.pop(0)
                yield name, part.result()
        for name, part in window:
            yield name, part.result()


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
    "shipped_soundfont",
]
