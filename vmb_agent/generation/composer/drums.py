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
            # the fill takes the last beat the bar plays (a 2/4 bar before a hit: its 2nd)
            fill_at = round((min(ctx.played_beats(bar), ctx.bpb) - 1) * 4)
            pattern = _with_fill(groove, fill, fill_at) if use_fill else dict(groove)
            _play_bar(ctx, index, part, section, pattern, bar_start, fill_at if use_fill else None,
                      thin)  # fmt: skip
            if bar == section.start_bar and section.energy >= 0.45 and s_index > 0:
                ctx.add(index, st.CRASH, bar_start, 1.0, ctx.velocity(part, section, 1.05))
    played = {(n.pitch, round(n.start, 4)) for n in ctx.notes if n.part == index}
    for beat in ctx.accents:
        section = ctx.section_at(beat)
        before = ctx.section_at(beat - 0.5)
        if section is not None and not ctx.active(part, section) and before is not None \
                and ctx.active(part, before):  # fmt: skip
            section = before  # a fill into a quiet section ends on a crash, then the drums stop
        if section is not None and ctx.active(part, section):
            for pitch, length in ((st.CRASH, 1.0), (36, 0.25)):
                if (pitch, round(beat, 4)) not in played:  # one hit per drum, not two at once
                    ctx.add(index, pitch, beat, length, ctx.velocity(part, section, 1.0))


def _with_fill(groove: dict[int, str], fill: dict[int, str], fill_at: int = 12) -> dict[int, str]:
    """The groove with the beat from step ``fill_at`` replaced by the fill (its last beat);
    nothing after it."""
    pattern = dict(groove)
    for drum, fill_steps in fill.items():
        base = pattern.get(drum, "-" * 16)
        pattern[drum] = (base[:fill_at] + fill_steps[12:16]).ljust(16, "-")
    for drum in list(pattern):  # the fill replaces the groove's last beat
        if drum not in fill:
            pattern[drum] = pattern[drum][:fill_at].ljust(16, "-")
    return pattern


def _play_bar(ctx: Context, index: int, part: Part, section: SectionPlan,
              pattern: dict[int, str], bar_start: float, fill_at: int | None,
              thin: bool) -> None:  # fmt: skip
    """One bar of 16-step strings; off-pulse steps only sound inside a fill (from step
    ``fill_at``)."""
    steps = ctx.bpb * 4
    for drum, cells in pattern.items():
        for step in range(min(steps, len(cells))):
            mark = cells[step]
            if mark == "-" or (thin and (mark == "." or (drum in _HATS and step % 4))):
                continue
            in_fill = fill_at is not None and step >= fill_at
            if not in_fill and step % int(ctx.pulse * 4):
                continue
            start = bar_start + step / 4.0
            if start >= ctx.grid.final_beat - 1e-6:
                continue
            vel = ctx.velocity(part, section, st.ACCENT_VELOCITY[mark])
            ctx.add(index, drum, start, 0.25, vel)
