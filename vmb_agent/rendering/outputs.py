"""Writers for the rendered outputs: WAV, MIDI and the piano-roll PNG (Pillow, no matplotlib).

Writers take a final path that ``files.atomic_output`` handed out, so a failure never leaves a
half-written file behind.

The piano roll is drawn to be read without the MIDI file beside it: a header (what it is), a
band of section labels, the notes (pitch up, with C rows labelled), the drums as named lanes, a
time axis in bars *and* seconds (bars from the tempo map, so a cue's uneven bars show as such),
the video's cuts (solid: set on a downbeat; dashed: not), and a legend. Colours come from one
table, :data:`FAMILY_COLOURS`: an instrument's General MIDI family decides its hue, the same
in every file, and its place in the family a fixed shade, so violin and cello differ slightly
but both read as strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vmb_agent.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pretty_midi
    from PIL import ImageDraw, ImageFont

    from vmb_agent.generation.composer.containers import Composition
    from vmb_agent.types import Conditions

    Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

WAV_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, bit_depth: int = 24) -> None:
    import soundfile

    if bit_depth not in WAV_SUBTYPES:
        raise InputError(f"bit depth {bit_depth} is not supported; allowed: 16, 24.")
    clipped = np.clip(audio, -1.0, 1.0)
    raw = open(path, "wb")  # noqa: SIM115 - closed below, where a full disk may also show
    checked = _CheckedFile(raw)
    try:
        soundfile.write(checked, clipped, sample_rate, subtype=WAV_SUBTYPES[bit_depth], format="WAV")
        checked.close()
    except Exception:  # soundfile reports a failed write as its own error (or an assert)
        checked.close()
        if checked.error is None:
            raise
        checked.error.filename = str(path)  # the machine's refusal (no space, quota), not a bug
        raise checked.error from None
    if checked.error is not None:
        checked.error.filename = str(path)
        raise checked.error


class _CheckedFile:
    """A file for libsndfile's virtual I/O that keeps an ``OSError`` instead of raising it.

    libsndfile writes through C callbacks: an exception raised there is printed and lost, and
    libsndfile reports only "System error". Kept here, a full disk surfaces as ENOSPC.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        return self._guard(self.raw.write, data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self.raw.seek, offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def close(self) -> None:
        """Close the file; a failed final flush is kept like any other write error."""
        try:
            self.raw.close()
        except OSError as exc:
            self.error = self.error or exc

    def _guard(self, call: Callable[..., int], *args: int | bytes) -> int:
        if self.error is not None:
            return 0
        try:
            return call(*args)
        except OSError as exc:
            self.error = exc
            return 0


def write_midi(path: Path, midi: pretty_midi.PrettyMIDI) -> None:
    midi.write(str(path))


def midi_bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    """The MIDI file's bytes (for determinism checks) without touching the disk."""
    import io

    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Piano roll
# --------------------------------------------------------------------------------------------

RGB = tuple[int, int, int]

#: General MIDI family (program // 8) -> (name, colour). One table for every file: the same
#: family is always the same hue. Neighbouring families that often play together (piano and
#: bass, strings and ensemble) are given hues far apart.
FAMILY_COLOURS: tuple[tuple[str, RGB], ...] = (
    ("piano", (236, 90, 80)),  # 0-7
    ("tuned percussion", (255, 150, 200)),  # celesta, glockenspiel, vibraphone, bells
    ("organ", (196, 132, 72)),
    ("guitar", (244, 186, 60)),
    ("bass", (72, 128, 236)),
    ("strings", (96, 196, 112)),  # violin, viola, cello, contrabass, harp, timpani
    ("ensemble", (50, 190, 230)),  # string sections, choir
    ("brass", (250, 136, 40)),
    ("reed", (196, 110, 236)),  # saxophones, oboe, clarinet, bassoon
    ("pipe", (150, 215, 255)),  # flute, piccolo, recorder
    ("synth lead", (255, 84, 196)),
    ("synth pad", (156, 140, 255)),
    ("synth effects", (184, 184, 120)),
    ("ethnic", (232, 204, 150)),  # sitar, banjo, koto, kalimba, bagpipe, fiddle
    ("percussive", (206, 150, 130)),  # steel drums, taiko
    ("sound effects", (140, 140, 140)),
)
DRUM_COLOUR: RGB = (200, 200, 200)
#: a fixed variant per place in the family (program % 8): (hue turn in degrees, lightness).
#: Small turns keep the family's hue; lightness does most of the telling apart. Chosen so that
#: family members that play together (cello and harp, strings and choir, two pads, two leads,
#: two guitars) stay apart in every style's band (tests/test_pianoroll.py measures it).
_VARIANTS = ((0, 0.60), (12, 0.78), (-12, 0.40), (14, 0.42), (-14, 0.80), (0, 0.88), (16, 0.70),
             (-10, 0.30))  # fmt: skip
#: drum lanes, top to bottom: (label, GM drum notes); other notes go to "perc"
DRUM_LANES: tuple[tuple[str, frozenset[int]], ...] = (
    ("cymbal", frozenset({49, 51, 52, 53, 55, 57, 59})),
    ("hi-hat", frozenset({42, 44, 46})),
    ("tom", frozenset({41, 43, 45, 47, 48, 50})),
    ("snare", frozenset({37, 38, 39, 40})),
    ("kick", frozenset({35, 36})),
    ("perc", frozenset()),
)

# layout (pixels)
_HEADER_H, _SECTION_H, _AXIS_H, _DRUM_H = 20, 18, 36, 60
_GUTTER_W, _LEGEND_W, _PAD = 44, 200, 6
_BACKGROUND: RGB = (22, 24, 30)
_PANEL: RGB = (30, 33, 41)
_GRID: RGB = (44, 47, 58)
_BAR_LINE: RGB = (52, 56, 68)
_SECTION_LINE: RGB = (110, 114, 132)
_TEXT: RGB = (214, 216, 224)
_DIM_TEXT: RGB = (140, 144, 160)
_CUT: RGB = (255, 236, 120)


def instrument_colour(program: int, is_drum: bool = False) -> RGB:
    """The roll's colour for a GM program: its family's hue, in its fixed variant."""
    import colorsys

    if is_drum:
        return DRUM_COLOUR
    red, green, blue = (c / 255 for c in FAMILY_COLOURS[(program // 8) % 16][1])
    hue, _, saturation = colorsys.rgb_to_hls(red, green, blue)
    turn, lightness = _VARIANTS[program % 8]
    rgb = colorsys.hls_to_rgb((hue + turn / 360) % 1.0, lightness, saturation)
    return (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255))


def time_to_x(t: float, duration_s: float, width: int) -> float:
    """Where time ``t`` is drawn on a roll ``width`` pixels wide (between the pitch gutter and
    the legend)."""
    left, right = _GUTTER_W, width - _LEGEND_W - _PAD
    span = max(duration_s, 1e-3)
    return float(round(left + (right - left) * min(max(t, 0.0), span) / span))  # whole pixels


def family_name(program: int, is_drum: bool = False) -> str:
    return "drums" if is_drum else FAMILY_COLOURS[(program // 8) % 16][0]


@dataclass
class RollTimeline:
    """What the roll shows besides the notes: bars, sections, cuts, roles and a title."""

    bar_starts_s: list[float] = field(default_factory=list)
    sections: list[tuple[float, str]] = field(default_factory=list)  # (start s, label)
    cuts_s: list[float] = field(default_factory=list)
    hits_s: list[float] = field(default_factory=list)  # cuts set on downbeats
    roles: dict[str, list[str]] = field(default_factory=dict)  # instrument -> roles it plays
    title: str = ""


def roll_timeline(composition: Composition, conditions: Conditions) -> RollTimeline:
    """The timeline of a composed piece: bar starts from the tempo map when it was scored to
    picture (bars may differ in length), else from the composition's grid."""
    tempo_map = conditions.tempo_map
    if tempo_map is not None and tempo_map.bars:
        bars = [bar.start_s for bar in tempo_map.bars]
        hits = list(tempo_map.hits_s)
        tempo = (f"{tempo_map.base_bpm:.0f} BPM (map {tempo_map.min_bpm:.0f}-"
                 f"{tempo_map.max_bpm:.0f})")  # fmt: skip
    else:
        bars, hits = [], []
        for bar in range(10_000):  # 600 s at 300 BPM in 2/4 is 750 bars
            start = composition.beat_time(bar * composition.beats_per_bar)
            if start >= composition.duration_s - 1e-6:
                break
            bars.append(start)
        tempo = f"{composition.tempo_bpm:.0f} BPM"
    sections = []
    for plan in composition.sections:
        label = plan.label if len(plan.label) > 1 else f"{plan.label} ({plan.role})"
        sections.append((composition.beat_time(plan.start_bar * composition.beats_per_bar), label))
    roles: dict[str, list[str]] = {}
    for part in composition.parts:
        roles.setdefault(part.instrument, [])
        if part.role not in roles[part.instrument]:
            roles[part.instrument].append(part.role)
    cuts = f" · {len(conditions.cuts_s)} cuts" if conditions.cuts_s else ""
    title = (f"{conditions.style} · {conditions.key} · {tempo} · {conditions.time_signature} · "
             f"{composition.duration_s:.1f} s{cuts}")  # fmt: skip
    return RollTimeline(bars, sections, list(conditions.cuts_s), hits, roles, title)


def draw_piano_roll(
    path: Path, midi: pretty_midi.PrettyMIDI, duration_s: float, *, width: int = 1400,
    height: int = 520, section_starts_s: list[float] | None = None,
    timeline: RollTimeline | None = None,
) -> None:  # fmt: skip
    """The piano roll PNG (see the module docstring for what it shows). ``timeline`` gives bars,
    sections, cuts and roles; without one, bars and seconds come from the MIDI file's own tempo
    and ``section_starts_s`` marks unlabelled section starts."""
    from PIL import Image, ImageDraw

    timeline = timeline or _timeline_from_midi(midi, duration_s, section_starts_s or [])
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(11)
    has_drums = any(inst.is_drum and inst.notes for inst in midi.instruments)

    # the frame: x for time, the roll's rows for pitch
    left, right = _GUTTER_W, width - _LEGEND_W - _PAD
    top = _HEADER_H + _SECTION_H
    axis_top = height - _AXIS_H
    drum_top = axis_top - (_DRUM_H if has_drums else 0)
    roll_bottom = drum_top - (4 if has_drums else 0)
    span = max(duration_s, 1e-3)

    def x_at(t: float) -> float:
        return time_to_x(t, span, width)

    pitched = [n.pitch for inst in midi.instruments if not inst.is_drum for n in inst.notes]
    low = min(pitched, default=48) - 2
    high = max(pitched, default=84) + 2
    row = (roll_bottom - top) / max(1, high - low + 1)

    def y_at(pitch: int) -> float:
        return top + (high - pitch) * row

    draw.rectangle([left, top, right, roll_bottom], fill=_PANEL)
    if has_drums:
        draw.rectangle([left, drum_top, right, axis_top - 2], fill=_PANEL)

    # octaves: a line under each C, its name in the gutter beside its row
    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            y = y_at(pitch) + row
            draw.line([(left, y), (right, y)], fill=_GRID)
            label_y = y - row / 2 - 7
            if top <= label_y <= roll_bottom - 12:
                draw.text((4, label_y), f"C{pitch // 12 - 1}", fill=_DIM_TEXT, font=font)

    # bars: a faint line each, the axis in bars and seconds below
    _draw_time_axis(draw, font, timeline.bar_starts_s, span, x_at, top, axis_top, roll_bottom,
                    drum_top, has_drums)  # fmt: skip

    # sections: a line at each start and the label in the band above the roll
    starts = [t for t, _ in timeline.sections]
    for i, (start, label) in enumerate(timeline.sections):
        x0 = x_at(start)
        x1 = x_at(starts[i + 1]) if i + 1 < len(starts) else x_at(span)
        shade = (40, 44, 56) if i % 2 == 0 else (34, 37, 47)
        draw.rectangle([x0, _HEADER_H, x1, top - 2], fill=shade)
        if i > 0:
            draw.line([(x0, _HEADER_H), (x0, axis_top)], fill=_SECTION_LINE, width=1)
        _text_within(draw, (x0 + 4, _HEADER_H + 2), label, x1 - x0 - 6, font, _TEXT)

    # notes
    entries: list[tuple[str, RGB, str]] = []
    for inst in midi.instruments:
        if not inst.notes:
            continue
        name = inst.name or family_name(inst.program, inst.is_drum)
        colour = instrument_colour(inst.program, inst.is_drum)
        entries.append((name, colour, _legend_detail(name, inst, timeline.roles)))
        if inst.is_drum:
            _draw_drums(draw, font, inst.notes, x_at, drum_top, axis_top - 2, colour)
            continue
        for note in inst.notes:
            x0 = x_at(note.start)
            x1 = max(x0 + 1, x_at(note.end) - 1)
            y0 = y_at(note.pitch)
            level = 0.7 + 0.3 * note.velocity / 127  # louder notes brighter, colour still clear
            draw.rectangle([x0, y0, x1, y0 + max(1.0, row - 1)],
                           fill=tuple(int(c * level) for c in colour))  # fmt: skip

    # cuts over everything: solid where the cue set them on a downbeat, dashed where not
    hits = timeline.hits_s
    for cut in timeline.cuts_s:
        x = x_at(cut)
        on_beat = any(abs(cut - h) < 0.05 for h in hits)
        if on_beat:
            draw.line([(x, _HEADER_H), (x, axis_top)], fill=_CUT, width=2)
        else:
            for y in range(_HEADER_H, axis_top, 8):
                draw.line([(x, y), (x, min(y + 4, axis_top))], fill=_CUT, width=1)
        draw.polygon([(x - 4, _HEADER_H), (x + 4, _HEADER_H), (x, _HEADER_H + 6)], fill=_CUT)

    # header and legend
    draw.text((left, 3), timeline.title or "piano roll", fill=_TEXT, font=font)
    _draw_legend(draw, font, entries, timeline, width - _LEGEND_W, top, height)
    image.save(str(path), format="PNG", optimize=False)


def _timeline_from_midi(
    midi: pretty_midi.PrettyMIDI, duration_s: float, section_starts_s: list[float]
) -> RollTimeline:
    """Bars from the MIDI file's own tempo changes and meter (4/4 when it names none)."""
    changes = midi.time_signature_changes
    numerator = changes[0].numerator if changes else 4
    beats = midi.get_beats()
    bars = [float(t) for t in beats[::numerator] if t < duration_s]
    sections = [(t, "") for t in section_starts_s]
    return RollTimeline(bar_starts_s=bars, sections=sections)


def _draw_time_axis(draw: ImageDraw.ImageDraw, font: Font, bars: list[float], span: float,
                    x_at: Callable[[float], float], top: float, axis_top: float,
                    roll_bottom: float, drum_top: float, has_drums: bool) -> None:  # fmt: skip
    """Bar lines and numbers (every bar ticked, numbers as often as they fit) above a seconds
    scale (a round step that leaves room for each label)."""
    bar_y, sec_y = axis_top + 2, axis_top + 20
    draw.text((4, bar_y), "bar", fill=_DIM_TEXT, font=font)
    draw.text((4, sec_y + 1), "time", fill=_DIM_TEXT, font=font)
    pixels = x_at(span) - x_at(0.0)
    if bars:
        mean_bar_px = pixels / max(1, len(bars)) if len(bars) > 1 else pixels
        every = next((n for n in (1, 2, 4, 8, 16, 32, 64) if n * mean_bar_px >= 26), 128)
        every_line = 1 if mean_bar_px >= 5 else every  # bars closer than 5 px would be a mesh
        for number, start in enumerate(bars, start=1):
            x = x_at(start)
            if (number - 1) % every_line == 0:
                draw.line([(x, top), (x, roll_bottom)], fill=_BAR_LINE)
                if has_drums:
                    draw.line([(x, drum_top), (x, axis_top - 2)], fill=_BAR_LINE)
                draw.line([(x, axis_top - 1), (x, axis_top + 3)], fill=_DIM_TEXT)
            if (number - 1) % every == 0:
                draw.text((x + 2, bar_y), str(number), fill=_TEXT, font=font)
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120) if s * pixels / span >= 48), 300)
    for i in range(int(span // step + 1e-9) + 1):
        t = i * step
        x = x_at(t)
        label = f"{int(t) // 60}:{int(t) % 60:02d}"
        draw.line([(x, sec_y - 3), (x, sec_y)], fill=_DIM_TEXT)
        centred = x - draw.textlength(label, font=font) / 2
        draw.text((max(x_at(0.0), centred), sec_y + 1), label, fill=_DIM_TEXT, font=font)


def _legend_detail(name: str, inst: pretty_midi.Instrument, roles: dict[str, list[str]]) -> str:
    """The legend's second line: the parts (roles) an instrument plays and its colour's family,
    e.g. "bass · strings family" for a cello playing the bass line."""
    if inst.is_drum:
        return "drum kit"
    family = family_name(inst.program)
    played = ", ".join(role for role in roles.get(name, []) if role != name)
    return " · ".join(x for x in (played, f"{family} family" if family != name else "") if x)


def _drum_lane(pitch: int) -> int:
    other = len(DRUM_LANES) - 1
    return next((i for i, (_, pitches) in enumerate(DRUM_LANES) if pitch in pitches), other)


def _draw_drums(draw: ImageDraw.ImageDraw, font: Font, notes: list[pretty_midi.Note],
                x_at: Callable[[float], float], y0: float, y1: float,
                colour: RGB) -> None:  # fmt: skip
    """One lane per kind of drum that plays (kick at the bottom), labelled in the gutter."""
    used = sorted({_drum_lane(note.pitch) for note in notes})
    lane_h = (y1 - y0) / max(1, len(used))
    row_of = {lane: row for row, lane in enumerate(used)}
    for row, lane in enumerate(used):
        draw.text((4, y0 + row * lane_h + lane_h / 2 - 7), DRUM_LANES[lane][0], fill=_DIM_TEXT,
                  font=font)  # fmt: skip
    for note in notes:
        x = x_at(note.start)
        y = y0 + row_of[_drum_lane(note.pitch)] * lane_h + 2
        level = 0.55 + 0.45 * note.velocity / 127
        draw.rectangle([x, y, x + 2, y + max(1.0, lane_h - 4)],
                       fill=tuple(int(c * level) for c in colour))  # fmt: skip


def _draw_legend(draw: ImageDraw.ImageDraw, font: Font, entries: list[tuple[str, RGB, str]],
                 timeline: RollTimeline, x: float, top: float, height: int) -> None:  # fmt: skip
    """Instrument swatches (name, then its roles), then the marks."""
    y = top
    for name, colour, detail in entries:
        if y > height - 40:
            break
        draw.rectangle([x, y + 2, x + 12, y + 12], fill=colour)
        _text_within(draw, (x + 18, y), name, _LEGEND_W - 24, font, _TEXT)
        _text_within(draw, (x + 18, y + 12), detail, _LEGEND_W - 24, font, _DIM_TEXT)
        y += 28
    y += 4
    marks: list[tuple[str, str]] = []
    if timeline.cuts_s:
        if timeline.hits_s:
            marks.append(("solid", "cut on a downbeat"))
        if any(all(abs(c - h) >= 0.05 for h in timeline.hits_s) for c in timeline.cuts_s):
            marks.append(("dashed", "cut (not a section start)"))
    if len(timeline.sections) > 1:
        marks.append(("section", "section start"))
    for kind, label in marks:
        if y > height - 14:
            break
        mid = y + 7
        if kind == "solid":
            draw.line([(x, mid), (x + 12, mid)], fill=_CUT, width=2)
        elif kind == "dashed":
            draw.line([(x, mid), (x + 4, mid)], fill=_CUT)
            draw.line([(x + 8, mid), (x + 12, mid)], fill=_CUT)
        else:
            draw.line([(x, mid), (x + 12, mid)], fill=_SECTION_LINE, width=2)
        _text_within(draw, (x + 18, y), label, _LEGEND_W - 24, font, _TEXT)
        y += 16


def _text_within(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, room: float,
                 font: Font, fill: RGB) -> None:  # fmt: skip
    """``text`` cut at a word (with an ellipsis) to fit ``room`` pixels; nothing if none fits."""
    if room <= 8 or not text:
        return
    if draw.textlength(text, font=font) > room:
        words = text.split()
        while words and draw.textlength(" ".join(words) + "…", font=font) > room:
            words.pop()
        if not words:
            return
        text = " ".join(words) + "…"
    draw.text(xy, text, fill=fill, font=font)


def _font(size: int) -> Font:
    """Pillow's built-in font at ``size`` (a scalable one with FreeType, else the bitmap)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed-size bitmap font
        return ImageFont.load_default()


__all__ = [
    "DRUM_LANES",
    "FAMILY_COLOURS",
    "RollTimeline",
    "draw_piano_roll",
    "family_name",
    "instrument_colour",
    "midi_bytes",
    "roll_timeline",
    "time_to_x",
    "write_midi",
    "write_wav",
]
