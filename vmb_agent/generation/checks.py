"""Listen-free musical checks on a composition (used by tests and the benchmark).

* strong-beat melody notes are chord tones or scale tones;
* every section ends on a cadence chord (tonic or dominant);
* sections that share material repeat it (the opening bars' pitch classes match).
"""

from __future__ import annotations

from vmb_agent.generation.composer import Composition


def _strong(beat: float, beats_per_bar: int) -> bool:
    position = beat % beats_per_bar
    strong = (0.0, 2.0) if beats_per_bar == 4 else (0.0,)
    return any(abs(position - s) < 1e-6 for s in strong)


def melody_chord_or_scale_share(composition: Composition) -> float:
    """Share of melody notes on strong beats whose pitch class is in the chord or the scale."""
    scale = set(composition.key.scale)
    strong = [n for n in composition.melody if _strong(n.start, composition.beats_per_bar)]
    if not strong:
        return 1.0
    good = 0
    for note in strong:
        chord = composition.chord_at(note.start)
        tones = set(chord.pitch_classes) if chord is not None else set()
        good += note.pitch % 12 in tones or note.pitch % 12 in scale
    return good / len(strong)


def section_cadences(composition: Composition) -> tuple[int, int]:
    """(sections whose last chord is the tonic or the dominant, sections)."""
    key = composition.key
    ok = 0
    sections = composition.sections
    for index in range(len(sections)):
        slots = [s for s in composition.chords if s.section == index]
        if slots and slots[-1].chord.root in (key.tonic, (key.tonic + 7) % 12):
            ok += 1
    return ok, len(sections)


def repeated_material(composition: Composition) -> float:
    """For sections that reuse earlier material (theme/climax = A, contrast = B): the share of
    beats in their first two bars whose sounding melody pitch class equals the first
    occurrence's at the same beat (1.0 = literal return, ornaments and octave shifts allowed)."""
    bpb = composition.beats_per_bar
    first: dict[str, list[int | None]] = {}
    scores: list[float] = []
    for section in composition.sections:
        if section.material not in ("A", "B") or section.n_bars < 2:
            continue
        start = section.start_bar * bpb
        beats = [start + b for b in range(2 * bpb)]
        sounding: list[int | None] = []
        for beat in beats:
            notes = [
                n for n in composition.melody if n.start - 1e-6 <= beat < n.start + n.length - 1e-6
            ]
            sounding.append(notes[-1].pitch % 12 if notes else None)
        if all(pc is None for pc in sounding):
            continue
        if section.material not in first:
            first[section.material] = sounding
            continue
        reference = first[section.material]
        pairs = [
            (a, b)
            for a, b in zip(sounding, reference, strict=True)
            if a is not None or b is not None
        ]
        scores.append(sum(a == b for a, b in pairs) / max(1, len(pairs)))
    return sum(scores) / len(scores) if scores else 0.0


__all__ = ["melody_chord_or_scale_share", "repeated_material", "section_cadences"]
