"""The ``analysis`` describer: measured visual features -> documented mapping -> description.

Offline, deterministic and fast (no model weights): images are measured on a 256-pixel working
copy, videos in one streaming pass (``video.py``); ``model.py`` maps the measurements to music.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmb_agent.describe.media import MediaSource
from vmb_agent.describe.model import (
    AROUSAL_WEIGHTS,
    SECTION_BRIGHTNESS_WEIGHT,
    SECTION_MOTION_WEIGHT,
    VALENCE_WEIGHTS,
    VIDEO_ENERGY_WEIGHTS,
    Mapping,
    SectionCurve,
    map_attributes,
    motion_level,
    pace_level,
    picture_arousal,
    picture_valence,
    video_sections,
)
from vmb_agent.describe.prose import compose
from vmb_agent.describe.text import parse_text_attributes
from vmb_agent.types import Evidence, MusicDescription, Section, SourceInfo

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.describe.video import VideoAnalysis

VALENCE_RULE = (
    "logistic(" + " + ".join(f"{w:g} z({n})" for n, w in VALENCE_WEIGHTS.items()) + ") "
    "(Valdez & Mehrabian 1994 pleasure; Palmer et al. 2013 warmth)"
)
AROUSAL_RULE = (
    "logistic(" + " + ".join(f"{w:g} z({n})" for n, w in AROUSAL_WEIGHTS.items()) + ") "
    "(Valdez & Mehrabian 1994 arousal from saturation; contrast and edge density add busyness; "
    "saturation counts near-black and near-white pixels as grey)"
)
MAX_MUSIC_S = 600.0


class AnalysisDescriber:
    """Describe images, videos and text prompts by measurement and a documented mapping."""

    name = "analysis"

    def describe(self, source: MediaSource, context: str | None = None) -> MusicDescription:
        if source.kind == "image":
            return self._image(source, context)
        if source.kind == "video":
            return self._video(source, context)
        return self._text(source, context)

    def _image(self, source: MediaSource, context: str | None) -> MusicDescription:
        from vmb_agent.describe.features import colour_features, dominant_palette
        from vmb_agent.describe.image import load_image

        assert source.path is not None
        loaded = load_image(source.path, source.shown)
        colour = colour_features(loaded.rgb)
        valence, valence_features = picture_valence(colour)
        energy, energy_features = picture_arousal(colour)
        mapping = map_attributes(
            valence=valence,
            energy=energy,
            valence_features=valence_features,
            energy_features=energy_features,
            valence_rule=VALENCE_RULE,
            energy_rule=AROUSAL_RULE,
            colour=colour,
            duration_s=None,
            duration_rule="a still image has no length; the generator picks its default",
            context=context,
        )
        features = colour.as_dict()
        palette = dominant_palette(loaded.rgb)
        info = SourceInfo(
            path=str(source.path), kind="image", backend=self.name, width=loaded.width,
            height=loaded.height, context=context,
        )  # fmt: skip
        return self._finish(mapping, info, features, palette, cuts_s=[], context=context)

    def _video(self, source: MediaSource, context: str | None) -> MusicDescription:
        from vmb_agent.describe.video import analyse_video

        assert source.path is not None
        video = analyse_video(source.path, source.shown)
        colour = video.colour
        valence, valence_features = picture_valence(colour)
        picture_energy, energy_features = picture_arousal(colour)
        mean_motion = video.mean_motion()
        motion = motion_level(mean_motion)
        pace = pace_level(video.cuts_per_minute)
        weights = VIDEO_ENERGY_WEIGHTS
        energy = (
            weights["picture"] * picture_energy
            + weights["motion"] * motion
            + weights["pace"] * pace
        )
        energy_features = {
            **energy_features,
            "picture_arousal": round(picture_energy, 4),
            "motion": round(mean_motion, 5),
            "motion_level": round(motion, 4),
            "cuts_per_minute": round(video.cuts_per_minute, 2),
            "pace_level": round(pace, 4),
        }
        energy_rule = (
            f"{weights['picture']:g} x picture arousal + {weights['motion']:g} x motion level + "
            f"{weights['pace']:g} x pace level (Lipscomb & Kendall 1994; Kim & Iwamiya 2008: more "
            "motion and faster cutting <-> faster, more intense music); picture arousal = "
            + AROUSAL_RULE
        )
        music_s = min(video.duration_s, MAX_MUSIC_S)
        mapping = map_attributes(
            valence=valence,
            energy=energy,
            valence_features=valence_features,
            energy_features=energy_features,
            valence_rule=VALENCE_RULE,
            energy_rule=energy_rule,
            colour=colour,
            duration_s=music_s,
            duration_rule="the video's length"
            + (f" (capped at {MAX_MUSIC_S:g} s)" if video.duration_s > MAX_MUSIC_S else ""),
            context=context,
        )
        sections, curve = video_sections(
            music_s,
            video.cuts_s,
            mapping.attributes.energy,
            video.motion_between,
            motion,
            video.brightness_between,
            video.mean_brightness(),
        )
        mapping.sections = sections
        mapping.evidence.append(_sections_evidence(sections, curve, video, motion))
        features = {
            **colour.as_dict(),
            "motion": round(mean_motion, 5),
            "motion_level": round(motion, 4),
            "cuts_per_minute": round(video.cuts_per_minute, 2),
            "pace_level": round(pace, 4),
            "frames_analysed": float(video.frames_analysed),
        }
        info = SourceInfo(
            path=str(source.path), kind="video", backend=self.name, width=video.width,
            height=video.height, duration_s=round(video.duration_s, 3), fps=round(video.fps, 3),
            context=context,
        )  # fmt: skip
        return self._finish(mapping, info, features, video.palette, video.cuts_s, context)

    def _text(self, source: MediaSource, context: str | None) -> MusicDescription:
        assert source.text is not None
        hints, text_evidence = parse_text_attributes(source.text)
        energy = hints.energy if hints.energy is not None else 0.5
        valence = hints.valence if hints.valence is not None else 0.5
        said = (
            "the level of the words found"
            if hints.energy is not None
            else "no level words: neutral 0.5"
        )
        mapping = map_attributes(
            valence=valence,
            energy=energy,
            valence_features={"words_matched": float(len(hints.matched))},
            energy_features={"words_matched": float(len(hints.matched))},
            valence_rule="text: "
            + (said if hints.valence is not None else "no valence words: neutral 0.5"),
            energy_rule=f"text: {said}",
            colour=None,
            duration_s=None,
            duration_rule="not named in the words; the generator picks its default",
            context=context,
            base_hints=hints,
            base_evidence=text_evidence,
        )
        info = SourceInfo(path=None, kind="text", backend=self.name, context=context)
        return self._finish(mapping, info, {}, [], [], context, text=source.text)

    def _finish(
        self,
        mapping: Mapping,
        info: SourceInfo,
        features: dict[str, float],
        palette: list[str],
        cuts_s: list[float],
        context: str | None,
        text: str | None = None,
    ) -> MusicDescription:
        prose = compose(
            mapping.attributes,
            kind=info.kind,
            features=features,
            palette=palette,
            sections=mapping.sections,
            cuts_s=cuts_s,
            context=context,
            text=text,
        )
        return MusicDescription(
            text=prose,
            attributes=mapping.attributes,
            sections=mapping.sections,
            evidence=mapping.evidence,
            source=info,
            cuts_s=list(cuts_s),
            features=features,
            palette=palette,
        )


def _sections_evidence(
    sections: list[Section], curve: list[SectionCurve], video: VideoAnalysis, motion: float
) -> Evidence:
    """The sections and the measured curve behind them: per section its motion level, mean
    brightness and the offset they give its energy."""
    features = {
        "cuts": float(len(video.cuts_s)),
        "duration_s": round(video.duration_s, 3),
        "motion_level": round(motion, 4),
        "brightness": round(video.mean_brightness(), 4),
    }
    for number, point in enumerate(curve, start=1):
        features[f"section{number}_motion_level"] = point.motion_level
        features[f"section{number}_brightness"] = point.brightness
        features[f"section{number}_curve"] = point.value
    rule = (
        "boundaries at cuts leaving >= 2 s on both sides, long shots split evenly; section "
        f"energy = energy + {SECTION_MOTION_WEIGHT:g} x (local - global motion level) + "
        f"{SECTION_BRIGHTNESS_WEIGHT:g} x (local - global brightness) (Eitan & Granot 2006; "
        "Palmer et al. 2013); the peak of that curve -> climax"
    )
    value = ", ".join(f"{s.label} {s.energy:.2f}" for s in sections)
    return Evidence(attribute="sections", value=value, features=features, rule=rule)
