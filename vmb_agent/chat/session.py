"""The state of a ``vmb chat`` session and the offline mode that edits it.

The state is the pipeline's two bridges plus explicit controls: the current description (text
bridge), the last search's matches and the chosen reference ids (music bridge), overrides the
user asked for in words, the seed and the last generation. Both chat modes read and update it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vmb_agent.chat.edits import Action, parse_line
from vmb_agent.describe.text import TextHints
from vmb_agent.errors import InputError, VMBError, check_range
from vmb_agent.sdk import VMB
from vmb_agent.theory import normalize_instrument, parse_key
from vmb_agent.types import (
    Conditions,
    GenerationOverrides,
    GenerationResult,
    MusicDescription,
    SearchResult,
    TrackMatch,
)

DEFAULT_TEMPO = 100.0
DEFAULT_DURATION_S = 30.0
SEARCH_K = 5

HELP = """\
Commands:
  describe PATH        describe an image or video (the text bridge)
  text: PROSE          use your own words as the description
  search [TEXT]        find reference tracks for the current description
  more like 2          use match #2 as a reference (less like 2, no references)
  generate             render music (go, again)      play / open   listen to the last result
  show                 the current description, references and settings
  undo                 take back the last edit       reset   start over      quit
Edits (combine with commas): faster, much slower, 120 bpm, in D minor, minor, add strings,
  no drums, piano only, use piano and cello, swap piano for guitar, 45 seconds, 1:30, shorter,
  darker, brighter, calmer, more energetic, melancholic, style jazz, seed 7, another take"""


@dataclass
class ChatState:
    description: MusicDescription | None = None
    matches: list[TrackMatch] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    overrides: GenerationOverrides = field(default_factory=GenerationOverrides)
    seed: int | None = None
    last_result: GenerationResult | None = None

    def base_tempo(self) -> float:
        for value in (
            self.overrides.tempo_bpm,
            self.description.attributes.tempo_bpm if self.description else None,
            self.last_result.requested.tempo_bpm if self.last_result else None,
        ):
            if value:
                return float(value)
        return DEFAULT_TEMPO

    def base_instruments(self) -> list[str]:
        """The instruments the next generation would play: what "add X" / "no X" edit."""
        if self.overrides.instruments is not None:
            return list(self.overrides.instruments)
        if self.description is None and self.last_result is not None:
            return list(self.last_result.requested.instruments)
        return list(self.planned().instruments)

    def base_duration(self) -> float:
        for value in (
            self.overrides.duration_s,
            self.description.attributes.duration_s if self.description else None,
            self.last_result.requested.duration_s if self.last_result else None,
        ):
            if value:
                return float(value)
        return DEFAULT_DURATION_S

    def generation_overrides(self) -> GenerationOverrides:
        """The overrides ``generate`` sends: the user's, with the chat's default length."""
        if self.overrides.duration_s is None and (
            self.description is None or not self.description.attributes.duration_s
        ):
            return self.overrides.model_copy(update={"duration_s": DEFAULT_DURATION_S})
        return self.overrides

    def planned(self) -> Conditions:
        """The conditions ``generate`` would resolve now from the description and the overrides
        (references left out: they are read only when generating, and change instruments only
        when neither the description nor the user named any)."""
        from vmb_agent.generation.conditions import resolve_conditions

        return resolve_conditions(self.effective_description(), None, self.generation_overrides())

    def base_level(self, name: str) -> float:
        value = getattr(self.overrides, name)
        if value is None and self.description is not None:
            value = getattr(self.description.attributes, name)
        if value is None and self.last_result is not None:
            value = getattr(self.last_result.requested, name)
        return 0.5 if value is None else float(value)

    def base_key(self) -> str | None:
        if self.overrides.key:
            return self.overrides.key
        if self.description and self.description.attributes.key:
            return self.description.attributes.key
        return self.last_result.requested.key if self.last_result else None

    def effective_description(self) -> MusicDescription | None:
        """The description with the overrides written into its attributes and its prose written
        again from them: what ``show`` prints, search looks for and ``generate`` starts from.

        The length goes into the prose only: the attributes keep the described length, which
        the generator needs to stretch the description's sections to the length asked for (the
        override carries the new length)."""
        from vmb_agent.describe.prose import rewrite

        if self.description is None:
            return None
        changes: dict[str, object] = {
            name: value
            for name in ("tempo_bpm", "key", "instruments", "energy", "valence")
            if (value := getattr(self.overrides, name)) is not None
        }
        if self.overrides.style:  # the style named in words leads the genres
            genres = self.description.attributes.genres
            changes["genres"] = list(dict.fromkeys([self.overrides.style, *genres]))
        if not changes and self.overrides.duration_s is None:
            return self.description
        attributes = self.description.attributes.model_copy(update=changes)
        said = (
            attributes
            if self.overrides.duration_s is None
            else attributes.model_copy(update={"duration_s": self.overrides.duration_s})
        )
        text = rewrite(self.description, said)
        return self.description.model_copy(update={"attributes": attributes, "text": text})


class ChatSession:
    """Offline mode: understands commands and plain edits deterministically (no LLM)."""

    def __init__(self, vmb: VMB, out: Callable[[str], None] = print) -> None:
        self.vmb = vmb
        self.out = out
        self.state = ChatState()
        # (overrides, description) before each edit, for undo
        self._history: list[tuple[GenerationOverrides, MusicDescription | None]] = []
        self.finished = False

    # -- one line ------------------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Handle one typed line; every VMBError is reported as one line and the session goes on.

        A line is all or nothing: when one of its edits fails ("no piano, kazoo"), the edits
        before it on the same line are taken back too."""
        s = self.state
        before = (s.overrides, s.description, list(s.references), s.seed, len(self._history))
        try:
            for action in parse_line(line):
                self.apply(action)
        except VMBError as exc:
            s.overrides, s.description, s.references, s.seed, depth = before
            del self._history[depth:]
            self.out(f"error: {exc}")

    def apply(self, action: Action) -> None:
        handler = getattr(self, f"_do_{action.kind}", None)
        if handler is None:  # an edit of the explicit conditions
            self._history.append((self.state.overrides, self.state.description))
            try:
                self._edit(action)
            except (VMBError, ValueError) as exc:
                self.state.overrides, self.state.description = self._history.pop()
                raise InputError(" ".join(str(exc).split())) from None
            return
        handler(action)

    # -- edits ---------------------------------------------------------------------------------

    def _set(self, **changes: object) -> None:
        """Change overrides; names and ranges are checked now (an unknown style is refused at
        the edit, not at the next generate). ``None`` clears a field."""
        from vmb_agent.generation.conditions import check_overrides

        merged = {**self.state.overrides.model_dump(exclude_none=True), **changes}
        overrides = GenerationOverrides.model_validate(merged)
        check_overrides(overrides)
        self.state.overrides = overrides

    def _set_instruments(self, instruments: list[str]) -> None:
        from vmb_agent.generation.conditions import MAX_INSTRUMENTS

        if not instruments:
            raise InputError(
                "that leaves no instruments; say which should play, e.g. 'piano only'."
            )
        if len(set(instruments)) > MAX_INSTRUMENTS:
            raise InputError(
                f"{len(set(instruments))} instruments is too many; at most {MAX_INSTRUMENTS} "
                "play at once. Drop one first, e.g. 'no flute'."
            )
        self._set(instruments=list(dict.fromkeys(instruments)))
        self.out("instruments: " + ", ".join(self.state.overrides.instruments or []))

    def _edit(self, action: Action) -> None:
        s = self.state
        if action.kind == "tempo_scale":
            old = s.base_tempo()
            new = round(min(300.0, max(30.0, old * float(action.value))), 1)
            self._set(tempo_bpm=new)
            self.out(f"tempo {old:g} -> {new:g} bpm")
        elif action.kind == "tempo":
            check_range("tempo", float(action.value), 30, 300)
            self._set(tempo_bpm=float(action.value))
            self.out(f"tempo {float(action.value):g} bpm")
        elif action.kind == "key":
            self._set(key=str(action.value))
            self.out(f"key {action.value}")
        elif action.kind == "mode":
            current = s.base_key()
            tonic = (
                parse_key(current).name.split()[0]
                if current
                else ("A" if action.value == "minor" else "C")
            )
            key = parse_key(f"{tonic} {action.value}").name
            self._set(key=key)
            self.out(f"key {key}")
        elif action.kind in ("add", "remove", "only", "replace"):
            instruments = list(self._instruments_after(action))
            if s.overrides.instruments is None and instruments == s.base_instruments():
                # nothing changes: leave the band to the style and the description
                self.out("instruments: " + ", ".join(instruments) + " (unchanged)")
                return
            self._set_instruments(instruments)
        elif action.kind == "duration_scale":
            old = s.base_duration()
            new = round(min(600.0, max(1.0, old * float(action.value))), 1)
            self._set(duration_s=new)
            self.out(f"duration {old:g} -> {new:g} s")
        elif action.kind == "duration":
            seconds = check_range("duration", float(action.value), 1, 600)
            self._set(duration_s=seconds)
            self.out(f"duration {seconds:g} s")
        elif action.kind == "level":
            name = str(action.value)
            old = s.base_level(name)
            new = round(min(1.0, max(0.0, old + float(action.extra["delta"]))), 2)
            self._set(**{name: new})
            self.out(f"{name} {old:.2f} -> {new:.2f}")
        elif action.kind == "style":
            self._set(style=str(action.value))
            self.out(f"style {action.value}")
        elif action.kind == "seed":
            seed = int(action.value) if action.value is not None else random.randrange(2**31)
            self.state.seed = seed
            self.out(f"seed {seed}")
        elif action.kind == "hints":
            self._apply_hints(action.value)
        elif action.kind == "like":
            number = int(action.value)
            if not 1 <= number <= len(s.matches):
                raise InputError(
                    f"there is no match #{number}; "
                    + (f"choose 1 to {len(s.matches)}." if s.matches else "run 'search' first.")
                )
            track_id = s.matches[number - 1].id
            if track_id not in s.references:
                s.references.append(track_id)
            self.out(f"references: {self._references_text()}")
        elif action.kind == "unlike":
            if action.value is None:
                s.references.clear()
            else:
                number = int(action.value)
                if 1 <= number <= len(s.matches):
                    s.references = [r for r in s.references if r != s.matches[number - 1].id]
            self.out(f"references: {self._references_text()}")
        else:  # pragma: no cover - parse_line only produces the kinds above
            raise InputError(f"unknown edit {action.kind!r}.")

    def _instruments_after(self, action: Action) -> Iterator[str]:
        """The instrument list after one instrument edit (names are canonical already)."""
        current = self.state.base_instruments()
        if action.kind == "only":
            yield from action.value  # type: ignore[misc]
            return
        name = normalize_instrument(str(action.value))
        if name not in current and action.kind in ("remove", "replace"):
            self.out(f"({name} was not playing)")
        if action.kind == "replace":
            new = normalize_instrument(str(action.extra["new"]))
            # in the old one's place (it played that role), or added when it was not there
            yield from (new if i == name else i for i in current)
            if name not in current:
                yield new
            return
        yield from (i for i in current if i != name or action.kind == "add")
        if action.kind == "add" and name not in current:
            yield name

    def _apply_hints(self, hints: TextHints) -> None:
        """Vocabulary words ("melancholic", "lofi hip hop", "with a harp"): moods and genres
        join the description; instruments, levels, tempo, key and length become overrides."""
        s = self.state
        if s.description is not None and (hints.moods or hints.genres):
            a = s.description.attributes
            attributes = a.model_copy(
                update={
                    "moods": list(dict.fromkeys([*hints.moods, *a.moods])),
                    "genres": list(dict.fromkeys([*hints.genres, *a.genres])),
                }
            )
            s.description = s.description.model_copy(update={"attributes": attributes})
        changes: dict[str, object] = {}
        # A genre word brings its usual instruments into the hints ("jazz" -> piano, bass, sax,
        # drums); those follow from the style. Only instruments named outright edit the list.
        said = set()
        for word in hints.matched:
            try:
                said.add(normalize_instrument(word))
            except InputError:
                pass
        added = [normalize_instrument(n) for n in hints.instruments]
        added = [n for n in added if n in said]
        removed = {normalize_instrument(n) for n in hints.removed_instruments}
        if added or removed:
            instruments = list(dict.fromkeys([*s.base_instruments(), *added]))
            changes["instruments"] = [i for i in instruments if i not in removed]
        if hints.energy is not None:
            changes["energy"] = round(hints.energy, 2)
        if hints.valence is not None:
            changes["valence"] = round(hints.valence, 2)
        tempo = hints.tempo_bpm or hints.suggested_tempo_bpm
        if tempo:
            changes["tempo_bpm"] = float(tempo)
        if hints.key:
            changes["key"] = hints.key
        if hints.duration_s:
            changes["duration_s"] = float(hints.duration_s)
        if changes:
            self._set(**changes)
        shown = ", ".join(f"{k} {v}" for k, v in changes.items())
        words = ", ".join(hints.moods + hints.genres)
        self.out(f"understood {', '.join(hints.matched)}" + (f": {words}" if words else "")
                 + (f"; {shown}" if shown else ""))  # fmt: skip

    # -- commands ------------------------------------------------------------------------------

    def _do_help(self, action: Action) -> None:
        self.out(HELP)

    def _do_quit(self, action: Action) -> None:
        self.finished = True
        self.out("bye")

    def _do_undo(self, action: Action) -> None:
        if not self._history:
            self.out("nothing to undo")
            return
        self.state.overrides, self.state.description = self._history.pop()
        self.out("undone; " + self._overrides_text())

    def _do_reset(self, action: Action) -> None:
        self.state = ChatState()
        self._history.clear()
        self.out("start over: describe an image or video, or type 'text: your idea'.")

    def _do_describe(self, action: Action) -> None:
        path = str(action.value)
        self.out(f"describing {path} ...")
        self.state.description = self.vmb.describe(
            self.vmb.policy.check_read(path, what="image or video")
        )
        self.state.matches.clear()
        self._show_description()

    def _do_text(self, action: Action) -> None:
        if not action.value:
            raise InputError("type the description after 'text:', e.g. 'text: calm piano at dusk'.")
        self.state.description = self.vmb.describe(str(action.value), kind="text")
        self._show_description()

    def _do_search(self, action: Action) -> None:
        query = str(action.value) if action.value else None
        description = self.state.effective_description()
        if query is None and description is None:
            raise InputError(
                "nothing to search for: describe something first, or 'search calm piano'."
            )
        found: SearchResult = self.vmb.search(
            query, description=description, mode="dual", k=SEARCH_K
        )
        self.state.matches = list(found.matches)
        if not found.matches:
            self.out("no matches" + (f" ({'; '.join(found.notes)})" if found.notes else ""))
            return
        for number, match in enumerate(found.matches, 1):
            t = match.track
            facts = ", ".join(
                x for x in (f"{t.tempo_bpm:.0f} bpm" if t.tempo_bpm else "", t.key or "",
                            f"{t.duration_s:.0f} s") if x
            )  # fmt: skip
            self.out(f"  {number}. {match.title} [{match.id}] ({facts}) score {match.score:.2f}")
        for note in found.notes:
            self.out(f"  note: {note}")
        self.out("say 'more like N' to use a match as a reference.")

    def _do_references(self, action: Action) -> None:
        self.out(f"references: {self._references_text()}")

    def _do_generate(self, action: Action) -> None:
        s = self.state
        if s.description is None and s.last_result is None:
            raise InputError("nothing to generate yet: 'describe PATH' or 'text: your idea' first.")
        overrides = s.generation_overrides()
        self.out("generating ...")
        result = self.vmb.generate(
            s.effective_description() or self._text_from_last_result(),
            reference_ids=s.references,
            overrides=overrides,
            seed=s.seed,
        )
        s.last_result = result
        s.seed = result.seed
        m = result.measured
        measured = ", ".join(
            x for x in (f"{m.tempo_bpm:.0f} bpm" if m.tempo_bpm else "", m.key or "",
                        f"{m.loudness_lufs:.1f} LUFS" if m.loudness_lufs is not None else "") if x
        )  # fmt: skip
        self.out(
            f"wrote {result.audio_path} ({result.duration_s:.1f} s; measured {measured}; "
            f"seed {result.seed})"
        )
        self.out(f"playing {', '.join(result.requested.instruments)} ({result.requested.style})")
        if result.midi_path:
            self.out(f"midi  {result.midi_path}")
        for warning in result.warnings:
            self.out(f"warning: {warning}")

    def _do_play(self, action: Action) -> None:
        if self.state.last_result is None:
            self.out("nothing generated yet; say 'generate' first.")
            return
        path = self.state.last_result.video_path or self.state.last_result.audio_path
        command = _player_command(Path(path))
        if command is None:
            self.out(f"no audio player found; the file is {path}")
            return
        self.out(f"playing {path}")
        subprocess.run(command, check=False, stdin=subprocess.DEVNULL)

    def _do_show(self, action: Action) -> None:
        if self.state.description is not None:
            self._show_description()
        else:
            self.out("no description yet.")
        self.out(f"references: {self._references_text()}")
        self.out(self._overrides_text())
        if self.state.last_result is not None:
            self.out(f"last result: {self.state.last_result.audio_path}")

    # -- text ------------------------------------------------------------------------------------

    def _show_description(self) -> None:
        d = self.state.effective_description()
        if d is None:
            return
        a = d.attributes
        self.out(d.text)
        try:  # what will play: the style's band with the description's suggestions in it
            instruments = self.state.base_instruments()
        except VMBError:
            instruments = list(a.instruments)
        facts = [
            f"tempo {a.tempo_bpm:.0f} bpm" if a.tempo_bpm else "",
            f"key {a.key}" if a.key else "",
            "instruments " + ", ".join(instruments) if instruments else "",
            "moods " + ", ".join(a.moods) if a.moods else "",
            "genres " + ", ".join(a.genres) if a.genres else "",
            f"energy {a.energy:.2f}, valence {a.valence:.2f}",
        ]
        self.out("  " + "; ".join(f for f in facts if f))

    def _references_text(self) -> str:
        titles = {m.id: m.title for m in self.state.matches}
        return ", ".join(f"{titles.get(r, r)} [{r}]" for r in self.state.references) or "(none)"

    def _overrides_text(self) -> str:
        set_values = self.state.overrides.model_dump(exclude_none=True)
        shown = ", ".join(f"{k}={v}" for k, v in set_values.items()) or "(none)"
        return f"your settings: {shown}"

    def _text_from_last_result(self) -> str:
        r = self.state.last_result
        assert r is not None
        return f"{r.requested.style} music, {' '.join(r.requested.instruments)}"


def _player_command(path: Path) -> list[str] | None:
    """A command that plays or opens ``path``: $VMB_PLAYER, else the first player installed."""
    configured = os.environ.get("VMB_PLAYER")
    if configured:
        return [*configured.split(), str(path)]
    for candidate in (["afplay"], ["paplay"], ["aplay", "-q"], ["ffplay", "-nodisp", "-autoexit",
                      "-loglevel", "quiet"], ["xdg-open"], ["open"]):  # fmt: skip
        if shutil.which(candidate[0]):
            return [*candidate, str(path)]
    return None
