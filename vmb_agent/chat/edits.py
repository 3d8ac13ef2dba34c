"""The offline edit grammar of ``vmb chat``: plain words -> explicit changes to the conditions.

``parse_line`` turns one line into a list of :class:`Action` (commands such as ``generate`` or
``describe PATH``, and edits such as ``faster``, ``in D minor``, ``add piano, no drums``,
``piano only``, ``swap piano for guitar``, ``more like 2``, ``45 seconds``, ``darker``). It is
deterministic and has no side effects: the session applies the actions. Clauses are split on
commas, semicolons and "and then"; a clause that is only instrument names continues the
instrument edit before it ("only piano, cello and bass", "no drums, bass").

Instrument edits are a table (:data:`INSTRUMENT_EDITS`) of patterns -> what they do to the list
of instruments that would play: ``add``, ``remove``, ``only`` (the list becomes exactly these)
and ``replace``. Names are checked here, so actions carry canonical names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vmb_agent.errors import InputError
from vmb_agent.theory import normalize_instrument, parse_key

#: relative tempo steps ("faster" = x1.15, "much faster" = x1.3)
TEMPO_STEP = 0.15
#: relative energy/valence steps on the 0-1 scale
LEVEL_STEP = 0.2

COMMANDS = {
    "help": ("help", "?", "commands"),
    "quit": ("quit", "exit", "bye", "q"),
    "generate": ("generate", "go", "render", "compose", "make it", "again", "regenerate"),
    "play": ("play", "open", "listen"),
    "show": ("show", "status", "state", "where are we"),
    "reset": ("reset", "start over", "clear"),
    "references": ("references", "refs"),
    "undo": ("undo",),
}

# word -> (attribute, direction)
_LEVEL_WORDS: dict[str, tuple[str, int]] = {
    "darker": ("valence", -1), "sadder": ("valence", -1), "gloomier": ("valence", -1),
    "moodier": ("valence", -1), "brighter": ("valence", 1), "happier": ("valence", 1),
    "lighter": ("valence", 1), "cheerier": ("valence", 1), "sunnier": ("valence", 1),
    "calmer": ("energy", -1), "softer": ("energy", -1), "quieter": ("energy", -1),
    "gentler": ("energy", -1), "mellower": ("energy", -1), "more relaxed": ("energy", -1),
    "more energetic": ("energy", 1), "more intense": ("energy", 1), "bigger": ("energy", 1),
    "louder": ("energy", 1), "punchier": ("energy", 1), "more epic": ("energy", 1),
    "less intense": ("energy", -1), "less energetic": ("energy", -1),
}  # fmt: skip


@dataclass
class Action:
    """One thing the user asked for: a command or an edit, with its argument."""

    kind: str  # command name, or an edit: tempo_scale, tempo, key, mode, add, remove, only
    # (value: the names), replace (value: old name, extra["new"]), like, unlike, duration,
    # duration_scale, level, style, seed, hints (vocabulary words), text, search
    value: object = None
    extra: dict[str, object] = field(default_factory=dict)


def parse_line(line: str) -> list[Action]:
    """Parse one line typed in ``vmb chat`` into actions; raises ``InputError`` for words it
    does not understand (the message says what it does understand)."""
    text = line.strip()
    if not text:
        return []
    lowered = text.lower().strip(" .!")
    lowered = re.sub(r"\bnothing but\b", "only", lowered)  # before "but" splits clauses
    # Commands that take the rest of the line verbatim (paths and prose keep their case).
    for prefix, kind in (("describe ", "describe"), ("text:", "text"), ("search", "search"),
                         ("find", "search"), ("style ", "style")):  # fmt: skip
        if lowered.startswith(prefix):
            rest = text[len(prefix) :].strip().strip(":").strip()
            if kind == "describe" and not rest:
                raise InputError("describe needs a path, e.g. 'describe vmb_agent/examples/x.jpg'.")
            if kind == "search" and rest.lower() in ("", "references", "for references", "refs"):
                rest = ""
            return [Action(kind, rest or None)]
    for name, words in COMMANDS.items():
        if lowered in words:
            return [Action(name)]
    actions: list[Action] = []
    for clause in _clauses(lowered):
        previous = actions[-1] if actions else None
        names = _instrument_names(clause) if previous is not None else None
        if names and previous is not None and previous.kind in ("add", "remove", "only"):
            # "only piano, cello" / "no drums, bass": the list goes on after the comma
            if previous.kind == "only":
                previous.value = list(dict.fromkeys([*previous.value, *names]))  # type: ignore[misc]
            else:
                actions.extend(Action(previous.kind, name) for name in names)
            continue
        actions.extend(_parse_clause(clause))
    return actions


#: words that start a new clause after "and" ("faster and in D minor"); other "and"s join names
_CLAUSE_STARTS = (
    "no|without|add|with|remove|drop|lose|cut|mute|more|less|in|faster|slower|darker|brighter|"
    "calmer|only|just|use|swap|replace|switch|bring|make|take"
)


def _clauses(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|;|\band then\b|\bthen\b|\bbut\b)\s*", text)
    clauses: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        # "add piano and cello" stays one clause; "faster and in D minor" splits.
        sub = re.split(rf"\s+and\s+(?=(?:{_CLAUSE_STARTS})\b)", part)
        clauses.extend(s.strip() for s in sub if s.strip())
    return clauses


_NUMBER = r"(\d+(?:\.\d+)?)"
#: relative length steps ("shorter" = x0.75, "longer" = x1/0.75)
DURATION_STEP = 0.75

# The verbs of the instrument edits (regex alternations; longer phrases first).
_SWAP = r"(?:swap|replace|switch|change|trade)"
_INSTEAD = r"(?:instead of|in place of|rather than)"
_ADD = (
    r"(?:also use|use also|also add|bring back|bring in|add in|add|with|plus|include|also|"
    r"more|put in)"
)
# ("nothing but X" arrives here as "only X": parse_line rewrites it before "but" splits clauses)
_ONLY = r"(?:only use|use only|just use|use just|only play|play only|only|just|solo|use)"
_ALONE = r"(?:only|alone|on (?:its|their) own|and nothing else|solo)"
_REMOVE = r"(?:no|without|remove|drop|lose|less|cut|mute|skip|get rid of|take out|leave out|kill)"

#: instrument edits, tried in order: (pattern, kind). ``names`` is a list of instruments;
#: ``old`` / ``new`` one instrument each. Order matters: "use piano instead of guitar" and
#: "use piano too" must be seen before the plain "use piano" (= only piano).
INSTRUMENT_EDITS: tuple[tuple[str, str], ...] = (
    (rf"{_SWAP}\s+(?P<old>.+?)\s+(?:for|with|to|by|into)\s+(?P<new>.+)", "replace"),
    (rf"(?:use\s+|play\s+|with\s+)?(?P<new>.+?)\s+{_INSTEAD}\s+(?P<old>.+)", "replace"),
    (rf"{_ADD}\s+(?P<names>.+)", "add"),
    (r"(?:use\s+|add\s+)?(?P<names>.+?)\s+(?:too|as well|back)", "add"),
    (rf"{_ONLY}\s+(?:with\s+)?(?P<names>.+)", "only"),
    (rf"(?:use\s+|with\s+)?(?P<names>.+?)\s+{_ALONE}", "only"),
    (rf"{_REMOVE}\s+(?P<names>.+)", "remove"),
    (r"(?:take|leave|cut)\s+(?P<names>.+?)\s+out", "remove"),
)


def _parse_clause(clause: str) -> list[Action]:
    c = re.sub(r"^(?:make it|make the music|make this|it should be|please|a bit|slightly)\s+", "",
               clause).strip()  # fmt: skip
    intensity = 2.0 if re.search(r"\b(much|way|a lot|lots)\b", clause) else 1.0
    if re.search(r"\b(a bit|slightly|a little)\b", clause):
        intensity = 0.5
    bare = re.sub(r"\b(much|way|a lot|lots|a bit|slightly|a little|even)\b", "", c).strip()
    bare = re.sub(r"\s+", " ", bare)
    plain = re.sub(r"^just\s+", "", bare)  # "just a bit faster"

    if plain in ("faster", "quicker", "speed up", "speed it up", "more upbeat"):
        return [Action("tempo_scale", 1 + TEMPO_STEP * intensity)]
    if plain in ("slower", "slow down", "slow it down", "more laid back"):
        return [Action("tempo_scale", 1 / (1 + TEMPO_STEP * intensity))]
    if plain in _LEVEL_WORDS:
        attribute, sign = _LEVEL_WORDS[plain]
        return [Action("level", attribute, {"delta": sign * LEVEL_STEP * intensity})]
    if plain in ("shorter", "make it shorter", "trim it"):
        return [Action("duration_scale", DURATION_STEP**intensity)]
    if plain in ("longer", "make it longer", "extend it"):
        return [Action("duration_scale", 1 / DURATION_STEP**intensity)]

    m = re.fullmatch(
        rf"(?:at\s+)?(?:tempo\s+)?{_NUMBER}\s*(?:bpm|beats per minute)|tempo\s+{_NUMBER}", bare
    )
    if m:
        return [Action("tempo", float(m.group(1) or m.group(2)))]

    m = re.fullmatch(rf"(?:make it\s+|length\s+|duration\s+)?{_NUMBER}\s*(s|sec|secs|seconds?|"
                     r"m|min|mins|minutes?)(?:\s+long)?", bare)  # fmt: skip
    if m:
        seconds = float(m.group(1)) * (60 if m.group(2).startswith("m") else 1)
        return [Action("duration", seconds)]
    m = re.fullmatch(r"(\d+):(\d{2})(?:\s+long)?", bare)
    if m:
        return [Action("duration", int(m.group(1)) * 60 + int(m.group(2)))]

    m = re.fullmatch(r"(?:in|key(?: of)?|in the key of|change key to|key to)\s+(.+)", bare)
    if m:
        try:
            key = parse_key(m.group(1), default_mode="major")
        except InputError:
            pass
        else:
            return [Action("key", key.name)]
    if bare in ("in minor", "minor", "minor key"):
        return [Action("mode", "minor")]
    if bare in ("in major", "major", "major key"):
        return [Action("mode", "major")]

    m = re.fullmatch(
        r"(?:more like|like|use|add reference|reference|refs?)\s+((?:#?\d+[\s,&and]*)+)", bare
    )
    if m:
        return [Action("like", n) for n in _numbers(m.group(1))]
    m = re.fullmatch(r"(?:less like|not like|drop reference|remove reference|no reference)"
                     r"\s+((?:#?\d+[\s,&and]*)+)", bare)  # fmt: skip
    if m:
        return [Action("unlike", n) for n in _numbers(m.group(1))]
    if bare in ("no references", "without references", "clear references", "drop references"):
        return [Action("unlike", None)]

    m = re.fullmatch(r"seed\s+(\d+)", bare)
    if m:
        return [Action("seed", int(m.group(1)))]
    if bare in (
        "new seed",
        "another one",
        "another take",
        "variation",
        "different take",
        "try again",
    ):
        return [Action("seed", None)]

    # Instruments. A pattern whose words are not instruments ("with a melancholic feel", "more
    # jazz") falls through to the style and vocabulary parsers below; if none of them knows the
    # clause either, the unknown instrument's error (with its suggestions) is the answer.
    unknown: InputError | None = None
    for pattern, kind in INSTRUMENT_EDITS:
        m = re.fullmatch(pattern, bare)
        if m is None:
            continue
        actions, error = _instrument_actions(kind, m)
        if actions:
            return actions
        unknown = unknown or error

    m = re.fullmatch(r"(?:as|style|like a|in the style of)\s+(.+)", bare)
    if m:
        return [Action("style", m.group(1))]
    # Anything else: the describe stage's vocabulary (moods, genres, scenes, instruments).
    from vmb_agent.describe import parse_text_attributes

    hints, _ = parse_text_attributes(clause)
    if hints.matched:
        return [Action("hints", hints)]
    if unknown is not None:
        raise unknown
    raise InputError(
        f"I don't understand {clause!r}. Try: faster, slower, in D minor, add piano, no drums, "
        "piano only, more like 2, 45 seconds, darker, brighter, generate, play, search, "
        "describe PATH, help."
    )


def _instrument_actions(kind: str, m: re.Match[str]) -> tuple[list[Action], InputError | None]:
    """The actions for one matched instrument pattern, or none and the unknown-name error when
    its words name no instrument (the clause may mean something else: "more jazz"). A list
    that names some instruments and one unknown word ("add piano and kazoo") is a typo: its
    error is raised here, not passed over."""
    if kind == "replace":
        old, old_error = _checked_names(m.group("old"))
        new, new_error = _checked_names(m.group("new"))
        if (old and new_error) or (new and old_error):
            raise new_error or old_error  # type: ignore[misc] - one side is an instrument
        if len(old) != 1 or len(new) != 1:
            return [], old_error or new_error
        return [Action("replace", old[0], {"new": new[0]})], None
    names, error = _checked_names(m.group("names"))
    if not names:
        return [], error
    if kind == "only":
        return [Action("only", names)], None
    return [Action(kind, name) for name in names], None


def _checked_names(text: str) -> tuple[list[str], InputError | None]:
    """Canonical instrument names in ``text`` and the first unknown name's error; raises that
    error when ``text`` mixes instruments and unknown words."""
    canonical: list[str] = []
    failed: InputError | None = None
    for name in _names(text):
        try:
            canonical.append(normalize_instrument(name))
        except InputError as exc:
            failed = failed or exc
    if canonical and failed is not None:
        raise failed
    return list(dict.fromkeys(canonical)), failed


def _instrument_names(clause: str) -> list[str]:
    """``clause`` as a bare list of instrument names ("cello and bass"), else []."""
    try:
        names, error = _checked_names(clause)
    except InputError:
        return []
    return [] if error else names


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def _names(text: str) -> list[str]:
    names = re.split(r"\s*(?:,|\band\b|&|\bor\b|\bnor\b|/|\+)\s*", text)
    cleaned = [re.sub(r"^(?:(?:the|some|a|an|any|my|more)\s+)+", "", n).strip() for n in names]
    return [re.sub(r"\s+(?:parts?|tracks?|sounds?|lines?)$", "", n) for n in cleaned if n]
