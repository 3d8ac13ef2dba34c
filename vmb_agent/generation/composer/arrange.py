"""Arrangement: which instrument plays which role (melody, counter, chords, arp, pad, bass, drums).

The style's own parts come first for the instruments it lists; other requested instruments take
the free role they play best (``styles.roles_for``); the first that can sing carries the tune; a
lone keyboard, guitar or harp accompanies itself; every requested instrument is heard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st
from vmb_agent.generation.composer.containers import Part

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.form import SectionPlan

_ROLE_ORDER = {r: i for i, r in enumerate(("melody", "counter", "chords", "arp", "pad", "bass"))}
_SELF_ACCOMPANYING = {
    "piano", "bright piano", "electric piano", "harpsichord", "acoustic guitar", "nylon guitar",
    "electric guitar", "harp", "organ", "accordion", "marimba", "vibraphone", "celesta",
}  # fmt: skip


def arrange(style: st.StyleSpec, instruments: list[str]) -> list[Part]:
    """Give every instrument a role: the style's own part when the style lists it; otherwise the
    first listed instrument that can sing carries the melody and the others take the role they
    play best that is still free. A lone keyboard/guitar/harp accompanies itself."""
    wanted = list(dict.fromkeys(instruments))
    parts = [_style_part(spec) for spec in style.parts if spec.instrument in wanted]
    placed = {p.instrument for p in parts}
    if "melody" not in {p.role for p in parts}:
        singer = next((n for n in wanted if n not in placed and _can_sing(n)), None)
        if singer is not None:
            parts.append(_new_part(style, "melody", singer))
            placed.add(singer)
    for name in wanted:
        if name not in placed:
            parts.append(_new_part(style, _free_role(name, parts), name))
            placed.add(name)
    _give_the_tune_a_carrier(parts)
    _accompany_a_lone_player(parts)
    return parts


def ensure_every_part_plays(parts: list[Part], plan: list[SectionPlan]) -> None:
    """A requested instrument must be heard: lower its entry point to the loudest section."""
    if not plan:
        for part in parts:
            part.min_energy = 0.0
        return
    loudest = max(section.energy for section in plan)
    for part in parts:
        part.min_energy = min(part.min_energy, loudest)


def _style_part(spec: st.PartSpec) -> Part:
    register = spec.register or st.ROLE_REGISTER.get(spec.role, (48, 84))
    return Part(spec.role, spec.instrument, spec.pattern, spec.min_energy, spec.velocity, register)


def _new_part(style: st.StyleSpec, role: str, name: str) -> Part:
    """A part the style does not list: its pattern, entry and velocity from the style's own."""
    base = next((s for s in style.parts if s.role == role), None)
    pattern = _groove_of(style) if role == "drums" else st.default_pattern(role, style)
    entry = (
        0.0 if role in ("melody", "chords", "bass", "pad") else (base.min_energy if base else 0.3)
    )
    return Part(role, name, pattern, entry, base.velocity if base else 80,
                st.ROLE_REGISTER.get(role, (48, 84)))  # fmt: skip


def _can_sing(name: str) -> bool:
    return "melody" in st.roles_for(name) or name in _SELF_ACCOMPANYING


def _free_role(name: str, parts: list[Part]) -> str:
    """The role ``name`` plays best that no part has yet (a second melody becomes a counter)."""
    taken = {p.role for p in parts}
    roles = st.roles_for(name)
    role = next((r for r in roles if r not in taken), roles[0])
    if role == "melody" and "melody" in taken:
        role = "counter"
    return role


def _give_the_tune_a_carrier(parts: list[Part]) -> None:
    """No part sings: the instrument that plays melody best carries the tune as well."""
    pitched = [p for p in parts if p.role != "drums"]
    if pitched and "melody" not in {p.role for p in parts}:
        carrier = max(
            pitched,
            key=lambda p: ("melody" in st.roles_for(p.instrument), -_ROLE_ORDER.get(p.role, 9)),
        )
        parts.append(Part("melody", carrier.instrument, "", 0.0, carrier.velocity + 8, (60, 84)))


def _accompany_a_lone_player(parts: list[Part]) -> None:
    """A lone keyboard, guitar or harp plays its own arpeggio (or chords) and bass."""
    roles = {p.role for p in parts}
    solo = {p.instrument for p in parts if p.role != "drums"}
    if len(solo) == 1 and next(iter(solo)) in _SELF_ACCOMPANYING:
        name = next(iter(solo))
        if not roles & {"chords", "arp", "pad"}:
            parts.append(Part("arp", name, "alberti", 0.0, 60, (48, 67)))
        if "bass" not in roles:
            parts.append(Part("bass", name, "whole", 0.0, 66, (31, 50)))


def _groove_of(style: st.StyleSpec) -> str:
    for spec in style.parts:
        if spec.role == "drums":
            return spec.pattern
    return "pop"
