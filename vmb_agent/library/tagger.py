"""Music audio tags (genres, moods, instruments) from musicnn, mapped to VMB's vocabulary.

``tag_audio`` runs the numpy port of musicnn (:mod:`vmb_agent.library.musicnn`) over 3 s patches,
averages the tag probabilities over the patches (as musicnn's own ``top_tags`` does) and maps the
50 tags of the chosen model to VMB's names through :data:`TAG_MAP`. Two models: ``MTT_musicnn``
(MagnaTagATune: instruments, timbre, a few genres) and ``MSD_musicnn`` (Million Song Dataset:
mostly genres, eras and moods). Input it cannot judge (empty, shorter than 1 s, silent, NaN or
infinite samples) gives an :class:`AudioTags` with ``available=False`` and a ``reason``; integer
PCM is scaled to [-1, 1) and float audio that peaks above 1 is scaled down to peak 1.
Only numpy is imported with this module; scipy comes in on the first call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmb_agent.dsp import pcm_to_float

DEFAULT_MODEL = "MTT_musicnn"
MIN_SECONDS = 1.0
#: below this RMS (-100 dBFS) the input is taken as silence
SILENCE_RMS = 1e-5

# musicnn tag -> the VMB names it suggests, as (kind, name) with kind genre | mood | instrument.
# Genres are words of [genre_styles] in prompts/vocabulary.toml, moods are moods its terms and
# profiles write, instruments are canonical names of vmb_agent.theory (tests check all three).
# Tags with no honest VMB counterpart (eras, vocalist gender, "no vocals", "slow", "weird")
# map to nothing; they stay in AudioTags.tags.
TAG_MAP: dict[str, tuple[tuple[str, str], ...]] = {
    # MagnaTagATune (MTT_musicnn)
    "guitar": (("instrument", "acoustic guitar"),),
    "classical": (("genre", "classical"),),
    "techno": (("genre", "techno"),),
    "strings": (("instrument", "strings"),),
    "drums": (("instrument", "drums"),),
    "electronic": (("genre", "electronic"),),
    "rock": (("genre", "rock"),),
    "piano": (("instrument", "piano"),),
    "ambient": (("genre", "ambient"),),
    "beat": (("instrument", "drums"),),
    "violin": (("instrument", "violin"),),
    "vocal": (("instrument", "voice"),),
    "synth": (("instrument", "synth lead"),),
    "indian": (("genre", "indian classical"), ("instrument", "sitar")),
    "opera": (("genre", "classical"), ("instrument", "voice")),
    "singing": (("instrument", "voice"),),
    "vocals": (("instrument", "voice"),),
    "harpsichord": (("instrument", "harpsichord"),),
    "loud": (("mood", "energetic"),),
    "quiet": (("mood", "calm"),),
    "flute": (("instrument", "flute"),),
    "male vocal": (("instrument", "voice"),),
    "pop": (("genre", "pop"),),
    "soft": (("mood", "gentle"),),
    "sitar": (("instrument", "sitar"),),
    "classic": (("genre", "classical"),),
    "choir": (("instrument", "choir"),),
    "voice": (("instrument", "voice"),),
    "new age": (("genre", "new age"),),
    "dance": (("genre", "dance"),),
    "male voice": (("instrument", "voice"),),
    "female vocal": (("instrument", "voice"),),
    "beats": (("instrument", "drums"),),
    "harp": (("instrument", "harp"),),
    "cello": (("instrument", "cello"),),
    "country": (("genre", "country"),),
    "metal": (("genre", "metal"),),
    "female voice": (("instrument", "voice"),),
    "choral": (("instrument", "choir"),),
    # Million Song Dataset (MSD_musicnn); "rock", "pop", ... are shared with MTT above
    "alternative": (("genre", "alternative"),),
    "indie": (("genre", "indie rock"),),
    "female vocalists": (("instrument", "voice"),),
    "alternative rock": (("genre", "alternative"),),
    "jazz": (("genre", "jazz"),),
    "chillout": (("genre", "chill"), ("mood", "relaxed")),
    "male vocalists": (("instrument", "voice"),),
    "classic rock": (("genre", "rock"),),
    "soul": (("genre", "soul"),),
    "indie rock": (("genre", "indie rock"),),
    "Mellow": (("mood", "laid-back"),),
    "electronica": (("genre", "electronic"),),
    "folk": (("genre", "folk"),),
    "chill": (("genre", "chill"), ("mood", "relaxed")),
    "punk": (("genre", "punk"),),
    "oldies": (("mood", "nostalgic"),),
    "blues": (("genre", "blues"),),
    "hard rock": (("genre", "hard rock"),),
    "acoustic": (("genre", "acoustic"),),
    "female vocalist": (("instrument", "voice"),),
    "Hip-Hop": (("genre", "hip hop"),),
    "party": (("mood", "festive"),),
    "easy listening": (("genre", "lounge"),),
    "funk": (("genre", "funk"),),
    "electro": (("genre", "electronic"),),
    "heavy metal": (("genre", "heavy metal"),),
    "Progressive rock": (("genre", "rock"),),
    "rnb": (("genre", "soul"),),
    "indie pop": (("genre", "indie pop"),),
    "sad": (("mood", "melancholic"),),
    "House": (("genre", "house"),),
    "happy": (("mood", "joyful"),),
}

Scores = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class AudioTags:
    """musicnn's view of a recording: tag probabilities averaged over its 3 s patches."""

    model: str
    available: bool
    reason: str | None = None  # why not available
    tags: Scores = ()  # all of the model's tags, most probable first
    genres: Scores = ()  # VMB names (TAG_MAP), each at its best tag's probability
    moods: Scores = ()
    instruments: Scores = ()
    patches: int = 0
    taggram: np.ndarray | None = None  # (patches, tags) when asked for

    def top(self, n: int = 5) -> Scores:
        return self.tags[:n]

    def probability(self, tag: str) -> float:
        """The mean probability of one of the model's tags (0.0 when unavailable)."""
        return dict(self.tags).get(tag, 0.0)


def map_tags(tags: Scores) -> dict[str, Scores]:
    """musicnn (tag, probability) pairs -> VMB genres, moods and instruments, most probable
    first; a VMB name suggested by several tags takes the highest probability."""
    best: dict[str, dict[str, float]] = {"genre": {}, "mood": {}, "instrument": {}}
    for tag, p in tags:
        for kind, name in TAG_MAP.get(tag, ()):
            best[kind][name] = max(best[kind].get(name, 0.0), p)
    return {
        kind: tuple(sorted(names.items(), key=lambda item: -item[1]))
        for kind, names in best.items()
    }


def _problem(audio: np.ndarray, sample_rate: int) -> str | None:
    """Why ``audio`` cannot be tagged, or None."""
    if sample_rate <= 0:
        return f"sample rate {sample_rate} is not positive"
    if audio.ndim not in (1, 2) or audio.size == 0:
        return "no audio samples"
    if not np.isfinite(audio).all():
        return "audio contains NaN or infinite samples"
    seconds = max(audio.shape) / sample_rate
    if seconds < MIN_SECONDS:
        return f"audio is {seconds:.2f} s long; tagging needs at least {MIN_SECONDS:.0f} s"
    if float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS:
        return "audio is silent"
    return None


def tag_audio(
    audio: np.ndarray,
    sample_rate: int,
    model: str = DEFAULT_MODEL,
    *,
    keep_taggram: bool = False,
) -> AudioTags:
    """Tag ``audio`` (mono ``(n,)`` or ``(n, channels)``/``(channels, n)``, any sample rate).

    Raises ValueError only for an unknown ``model``; bad audio gives ``available=False``."""
    from vmb_agent.library import musicnn

    if model not in musicnn.MODELS:
        raise ValueError(f"unknown tagger model {model!r}; allowed: {', '.join(musicnn.MODELS)}")
    audio = pcm_to_float(np.asarray(audio))
    reason = _problem(audio, sample_rate)
    if reason is not None:
        return AudioTags(model=model, available=False, reason=reason)
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        # musicnn saw audio within [-1, 1]; far beyond, its float16 mel overflows to inf
        audio = audio / np.float32(peak)
    taggram = musicnn.taggram(audio, sample_rate, model)
    names = musicnn.load_model(model).tags
    mean = taggram.mean(axis=0)
    order = np.argsort(-mean, kind="stable")
    tags = tuple((names[i], round(float(mean[i]), 4)) for i in order)
    mapped = map_tags(tags)
    return AudioTags(
        model=model,
        available=True,
        tags=tags,
        genres=mapped["genre"],
        moods=mapped["mood"],
        instruments=mapped["instrument"],
        patches=len(taggram),
        taggram=taggram if keep_taggram else None,
    )


# --------------------------------------------------------------------------------------------
# The style check: does a generated piece sound like the style it was asked for?
# --------------------------------------------------------------------------------------------

#: both models, as generation measures with them (MTT knows classical/piano/techno, MSD jazz/folk)
STYLE_CHECK_MODELS = ("MTT_musicnn", "MSD_musicnn")
#: seconds of audio tagged per piece: evenly spaced 3 s excerpts, so a long piece costs no more
STYLE_CHECK_SECONDS = 15.0
#: VMB style -> the musicnn tags (of either model) that say a listener would file it there
STYLE_TAGS: dict[str, tuple[str, ...]] = {
    "cinematic": ("classical", "strings", "choir", "choral", "violin", "cello"),
    "ambient": ("ambient", "new age", "chillout", "chill"),
    "lofi": ("Hip-Hop", "chillout", "chill", "Mellow"),
    "pop": ("pop", "indie pop", "dance", "catchy"),
    "rock": ("rock", "classic rock", "hard rock", "alternative rock", "indie rock", "metal", "punk"),
    "electronic": ("electronic", "techno", "electronica", "electro", "House", "dance"),
    "jazz": ("jazz", "blues", "soul"),
    "folk": ("folk", "country", "acoustic"),
    "piano": ("piano", "classical", "harpsichord"),
    "chiptune": ("synth", "electro", "80s"),
}


@dataclass(frozen=True)
class StyleCheck:
    """Where the requested style's tags rank among every style's (1 = above all others)."""

    style: str
    rank: int
    tag: str  # the style's most probable tag
    probability: float
    leader: str  # the style ranked first (the requested one when rank is 1)
    leader_tag: str
    leader_probability: float


def style_scores(tags: dict[str, float]) -> dict[str, tuple[str, float]]:
    """Each style's most probable tag and its probability."""
    scores = {}
    for style, names in STYLE_TAGS.items():
        best = max(names, key=lambda name: tags.get(name, 0.0))
        scores[style] = (best, tags.get(best, 0.0))
    return scores


def style_check(tags: dict[str, float], style: str) -> StyleCheck | None:
    """The requested ``style``'s rank by its best tag (ties count in its favour); None for a
    style with no tags in :data:`STYLE_TAGS` or no tags measured."""
    if style not in STYLE_TAGS or not tags:
        return None
    scores = style_scores(tags)
    tag, p = scores[style]
    rank = 1 + sum(1 for s, (_, q) in scores.items() if s != style and q > p)
    leader = max(scores, key=lambda s: (scores[s][1], s == style))
    return StyleCheck(style, rank, tag, p, leader, *scores[leader])


def merged_tags(
    audio: np.ndarray, sample_rate: int, seconds: float = STYLE_CHECK_SECONDS
) -> dict[str, float]:
    """Both models' tag probabilities (the higher where a tag is in both) over at most
    ``seconds`` of ``audio`` spread over it; empty when the audio cannot be tagged."""
    audio = pcm_to_float(np.asarray(audio))
    if audio.ndim == 2 and audio.shape[0] < audio.shape[1]:
        audio = audio.T
    excerpt = _spread_excerpt(audio, sample_rate, seconds)
    merged: dict[str, float] = {}
    for model in STYLE_CHECK_MODELS:
        result = tag_audio(excerpt, sample_rate, model)
        if not result.available:
            return {}
        for tag, p in result.tags:
            merged[tag] = max(merged.get(tag, 0.0), p)
    return merged


def _spread_excerpt(audio: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """Evenly spaced 3 s pieces of ``audio`` joined, ``seconds`` long in all (or all of it)."""
    total = int(seconds * sample_rate)
    if audio.shape[0] <= total:
        return audio
    pieces = max(1, round(seconds / 3.0))
    length = total // pieces
    starts = np.linspace(0, audio.shape[0] - length, pieces).astype(int)
    return np.concatenate([audio[s : s + length] for s in starts])
