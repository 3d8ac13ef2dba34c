"""Drums: the style's 16-step groove per bar, a fill before each new section, crashes at section
changes and on video cuts; lighter (no ghosts, fewer hats) just above the part's entry energy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.generation import styles as st

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.generation.composer.containers import Part
    from vmb_agent.generation.composer.context import Context
    from vmb_agent.generation.form import SectionPlan

_HATS = (42, 46, 54)


def write_drums(ctx: Context, index: int, part: Part) -> None:
    """The groove in every bar of the sections the part plays, then the cut accents."""
    groove = dict(st.GROOVES.get(part.pattern, st.GROOVES["pop"]))
    if ctx.double_time and part.pattern in st.DOUBLE_TIME_KICK:
        groove[st.KICK] = st.DOUBLE_TIME_KICK[part.pattern]
    fill = st.FILLS[st.GROOVE_FILL.get(part.pattern, "default")]
    for s_index, section in enumerate(ctx.plan):
        if not ctx.active(part, section):
            continue
        thin = section.energy < part.min_energy + 0.12 and section.role != "climax"
        has_next = s_index + 1 < len(ctx.plan)
        for bar in range(section.start_bar, section.end_bar):
            bar_start = bar * ctx.bpb
            last_bar = bar == section.end_bar - 1
            use_fill = last_bar and has_next and section.n_bars >= 2
            pattern = _with_fill(groove, fill) if use_fill else dict(groove)
            _play_bar(ctx, index, part, section, pattern, bar_start, use_fill, thin)
            if bar == section.start_bar and section.energy >= 0.45 and s_index > 0:
                ctx.add(index, st.CRASH, bar_start, 1.0, ctx.velocity(part, section, 1.05))
    for beat in ctx.accents:
        section = ctx.section_at(beat)
        if section is not None and ctx.active(part, section):
            ctx.add(index, st.CRASH, beat, 1.0, ctx.velocity(part, section, 1.0))
            ctx.add(index, 36, beat, 0.25, ctx.velocity(part, section, 1.0))


def _with_fill(groove: dict[int, str], fill: dict[int, str]) -> dict[int, str]:
    """The groove with its last beat replaced by the fill."""
    pattern = dict(groove)
    for drum, fill_steps in fill.items():
        base = pattern.get(drum, "-" * 16)
        pattern[drum] = base[:12] + fill_steps[12:16]
    for drum in list(pattern):  # the fill replaces the groove's last beat
        if drum not in fill:
            pattern[drum] = pattern[drum][:12] + "----"
    return pattern


def _play_bar(ctx: Context, index: int, part: Part, section: SectionPlan,
              pattern: dict[int, str], bar_start: float, use_fill: bool,
              thin: bool) -> None:  # fmt: skip
    """One bar of 16-step strings; off-pulse steps only sound inside a fill."""
    steps = ctx.bpb * 4
    for drum, cells in pattern.items():
        for step in range(min(steps, len(cells))):
            mark = cells[step]
            if mark == "-" or (thin and (mark == "." or (drum in _HATS and step % 4))):
                continue
            in_fill = use_fill and step >= 12
            if not in_fill and step % int(ctx.pulse * 4):
                continue
            start = bar_start + step / 4.0
            if start >= ctx.grid.final_beat - 1e-6:
                continue
            vel = ctx.velocity(part, section, st.ACCENT_VELOCITY[mark])
            ctx.add(index, drum, start, 0.25, vel)
