"""The offline edit grammar of ``vmb chat``: plain words -> explicit changes to the conditions.

``parse_line`` turns one line into a list of :class:`Action` (commands such as ``generate`` or
``describe PATH``, and edits such as ``faster``, ``in D minor``, ``add piano, no drums``,
``more like 2``, ``45 seconds``, ``darker``). It is deterministic and has no side effects: the
session applies the actions. Clauses are split on commas, semicolons and "and then".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vmb_agent.errors import InputError
from vmb_agent.theory import parse_key

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

    kind: str  # command name, or an edit: tempo_scale, tempo, key, mode, add, remove, like,
    # unlike, duration, level, style, seed, hints (vocabulary words), text, search
    value: object = None
    extra: dict[str, object] = field(default_factory=dict)


def parse_line(line: str) -> list[Action]:
    """Parse one line typed in ``vmb chat`` into actions; raises ``InputError`` for words it
    does not understand (the message says what it does understand)."""
    text = line.strip()
    if not text:
        return []
    lowered = text.lower().strip(" .!")
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
        actions.extend(_parse_clause(clause))
    return actions


def _clauses(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|;|\band then\b|\bthen\b|\bbut\b)\s*", text)
    clauses: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        # "add piano and cello" stays one clause; "faster and in D minor" splits.
        sub = re.split(r"\s+and\s+(?=(?:no|without|add|with|remove|drop|more|less|in|faster|slower|"
                       r"darker|brighter|calmer))", part)  # fmt: skip
        clauses.extend(s.strip() for s in sub if s.strip())
    return clauses


_NUMBER = r"(\d+(?:\.\d+)?)"


def _parse_clause(clause: str) -> list[Action]:
    c = re.sub(r"^(?:make it|make the music|make this|it should be|please|a bit|slightly)\s+", "",
               clause).strip()  # fmt: skip
    intensity = 2.0 if re.search(r"\b(much|way|a lot|lots)\b", clause) else 1.0
    if re.search(r"\b(a bit|slightly|a little)\b", clause):
        intensity = 0.5
    bare = re.sub(r"\b(much|way|a lot|lots|a bit|slightly|a little|even)\b", "", c).strip()
    bare = re.sub(r"\s+", " ", bare)

    if bare in ("faster", "quicker", "speed up", "speed it up", "more upbeat"):
        return [Action("tempo_scale", 1 + TEMPO_STEP * intensity)]
    if bare in ("slower", "slow down", "slow it down", "more laid back"):
        return [Action("tempo_scale", 1 / (1 + TEMPO_STEP * intensity))]
    if bare in _LEVEL_WORDS:
        attribute, sign = _LEVEL_WORDS[bare]
        return [Action("level", attribute, {"delta": sign * LEVEL_STEP * intensity})]

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

    m = re.fullmatch(r"(?:no|without|remove|drop|lose|less|cut|mute)\s+(?:the\s+)?(.+)", bare)
    if m:
        return [Action("remove", name) for name in _names(m.group(1))]
    m = re.fullmatch(
        r"(?:add|with|plus|more|include|use)\s+(?:some\s+|a\s+|an\s+|the\s+)?(.+)", bare
    )
    if m:
        return [Action("add", name) for name in _names(m.group(1))]
    m = re.fullmatch(r"(?:as|style|like a|in the style of)\s+(.+)", bare)
    if m:
        return [Action("style", m.group(1))]
    # Anything else: the describe stage's vocabulary (moods, genres, scenes, instruments).
    from vmb_agent.describe import parse_text_attributes

    hints, _ = parse_text_attributes(clause)
    if hints.matched:
        return [Action("hints", hints)]
    raise InputError(
        f"I don't understand {clause!r}. Try: faster, slower, in D minor, add piano, no drums, "
        "more like 2, 45 seconds, darker, brighter, generate, play, search, describe PATH, help."
    )


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def _names(text: str) -> list[str]:
    names = re.split(r"\s*(?:,|\band\b|&|\bor\b)\s*", text)
    return [re.sub(r"^(?:some|a|an|the)\s+", "", n).strip() for n in names if n.strip()]
