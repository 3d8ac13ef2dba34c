"""The prose half of the text bridge: 40-150 words a musician can work from.

Sentences are assembled from the attributes and the measurements behind them, most important
first (character, tempo/key, instrumentation, grounding, form), then trimmed or padded to the word
limits. Deterministic: the same description always reads the same.
"""

from __future__ import annotations

import re

from vmb_agent.describe.vocabulary import load_vocabulary
from vmb_agent.types import MusicAttributes, MusicDescription, Section

MIN_WORDS, MAX_WORDS = 40, 150


def tempo_word(bpm: float) -> str:
    for limit, word in ((66, "slow"), (90, "relaxed"), (110, "moderate"), (130, "upbeat"),
                        (155, "fast")):  # fmt: skip
        if bpm < limit:
            return word
    return "very fast"


def energy_words(energy: float) -> str:
    if energy < 0.25:
        return "sparse and hushed, with long sustained notes"
    if energy < 0.45:
        return "gentle and unhurried, with soft dynamics"
    if energy < 0.65:
        return "steady, with a clear pulse and moderate dynamics"
    if energy < 0.8:
        return "driving, with busy rhythms and strong accents"
    return "intense and loud, with dense, propulsive rhythm"


def harmony_words(key: str | None, valence: float) -> str:
    if key and key.endswith("major"):
        return "bright and consonant" if valence >= 0.65 else "open and lightly coloured"
    return "dark and minor-key" if valence < 0.3 else "minor-key with a warm undertone"


def colour_name(hex_colour: str) -> str:
    """Nearest named colour in the vocabulary (squared RGB distance)."""
    colours = load_vocabulary().colours
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return min(
        colours,
        key=lambda n: (sum((x - y) ** 2 for x, y in zip(colours[n], (r, g, b), strict=True)), n),
    )


def level_word(value: float, words: tuple[str, str, str]) -> str:
    return words[0] if value < 0.33 else words[1] if value < 0.66 else words[2]


def compose(
    attributes: MusicAttributes,
    *,
    kind: str,
    features: dict[str, float],
    palette: list[str],
    sections: list[Section],
    cuts_s: list[float],
    context: str | None,
    text: str | None = None,
) -> str:
    """Write the description. ``features`` are the summary features of the source."""
    a = attributes
    moods = _join(a.moods[:3]) or "neutral"
    genre = a.genres[0] if a.genres else "instrumental"
    article = "An" if moods[0] in "aeiou" else "A"
    tempo = f"{a.tempo_bpm:.0f} BPM ({tempo_word(a.tempo_bpm)})" if a.tempo_bpm else "a free tempo"
    # A drum kit does not carry a melody: the first pitched instrument leads.
    ordered = sorted(a.instruments or ["piano"], key=lambda name: name == "drums")
    lead, *rest = ordered
    carries = "carry" if lead.endswith("s") and not lead.endswith("ss") else "carries"
    sentences = [
        (
            f"{article} {moods} {genre} piece in {a.key or 'a free key'} at about {tempo}, "
            f"in {a.time_signature}."
        ),
        f"The {lead} {carries} the melody"
        + (f" over {_join(rest)}." if rest else ", unaccompanied."),
        (
            f"The arrangement is {energy_words(a.energy)}; "
            f"the harmony is {harmony_words(a.key, a.valence)}."
        ),
    ]
    optional: list[str] = []
    if kind in ("image", "video"):
        colours = _join(list(dict.fromkeys(colour_name(c) for c in palette[:3])))
        light = level_word(features.get("brightness", 0.5) * 1.4, ("dark", "mid-toned", "bright"))
        vivid = level_word(
            features.get("saturation", 0.4) * 1.5, ("muted", "moderately saturated", "vivid")
        )
        warm = (
            "warm"
            if features.get("warmth", 0.0) > 0.08
            else "cool"
            if features.get("warmth", 0.0) < -0.04
            else "neutral"
        )
        busy = level_word(
            features.get("complexity", 0.3) * 1.5,
            ("smooth, simple", "moderately detailed", "busy, detailed"),
        )
        sentences.append(
            f"It follows the {kind}'s {light}, {vivid}, {warm} palette ({colours}) "
            f"and its {busy} surfaces."
        )
    if kind == "video":
        sentences.append(_video_sentence(features, cuts_s))
        if len(sections) > 1:
            optional.append(_form_sentence(sections))
    if kind == "text" and text:
        sentences.append(f"It realises the brief \u201c{_clip_words(text, 14)}\u201d.")
    if context:
        optional.append(
            f"The context \u201c{_clip_words(context, 10)}\u201d steers the style towards "
            f"{_join(a.genres[:2]) or genre}."
        )
    if a.duration_s:
        optional.append(f"It should last about {a.duration_s:.0f} seconds.")
    return _fit([*sentences, *optional])


def rewrite(description: MusicDescription, attributes: MusicAttributes | None = None) -> str:
    """The description's prose written again for ``attributes`` (default: its own), from the
    same source facts (kind, features, palette, sections, cuts, context): what an edit in
    ``vmb chat`` changes reads the same as a fresh description would."""
    brief = None
    if description.source.kind == "text":  # the prompt lives on only in its prose sentence
        found = re.search(r"It realises the brief \u201c(.*?)\u201d\.", description.text)
        brief = found.group(1) if found else None
    return compose(
        attributes or description.attributes,
        kind=description.source.kind,
        features=dict(description.features),
        palette=list(description.palette),
        sections=list(description.sections),
        cuts_s=list(description.cuts_s),
        context=description.source.context,
        text=brief,
    )


def _video_sentence(features: dict[str, float], cuts_s: list[float]) -> str:
    motion = level_word(features.get("motion_level", 0.5), ("little", "moderate", "lively"))
    cuts = len(cuts_s)
    if cuts == 0:
        edit = "a single continuous shot"
    else:
        shown = ", ".join(f"{c:.1f}" for c in cuts_s[:4]) + (", ..." if cuts > 4 else "")
        edit = (
            f"{cuts} hard cut{'s' if cuts > 1 else ''} (at {shown} s) that accents should land on"
        )
    return f"The footage has {motion} motion and {edit}."


def _form_sentence(sections: list[Section]) -> str:
    parts = [f"{s.label} {_seconds(s.start_s)}-{_seconds(s.end_s)} s" for s in sections[:6]]
    return "Form: " + "; ".join(parts) + ("; ..." if len(sections) > 6 else "") + "."


def _fit(sentences: list[str]) -> str:
    """Keep whole sentences up to ``MAX_WORDS``; pad to ``MIN_WORDS`` with neutral advice."""
    kept: list[str] = []
    count = 0
    for sentence in sentences:
        words = len(sentence.split())
        if count + words > MAX_WORDS:
            continue
        kept.append(sentence)
        count += words
    for filler in (
        "Keep the texture uncluttered so the main idea stays clear.",
        "Let phrases breathe at the ends of four-bar groups.",
        "Dynamics should follow the energy rather than stay flat throughout.",
    ):
        if count >= MIN_WORDS:
            break
        kept.append(filler)
        count += len(filler.split())
    return " ".join(kept)


def _seconds(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _clip_words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit]) + ("..." if len(words) > limit else "")
