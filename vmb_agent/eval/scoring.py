"""Scoring to picture: do a video's section-starting cuts land on downbeats (issue 12)?

Synthetic videos of still shots (flat colours and simple patterns, some with a slowly moving
block so the picture's energy varies) with hard cuts on exact frames are scored with
``VMB.score``. Measured from the result and the rendered audio:

* per section-starting cut (a *hit*): |cut - beat| from the audio's onsets, within one and two
  video frames; a hit whose beat was not found in the audio counts as a miss; and, as an
  independent check on that measurement, the distance to the sharpest attack near the cut in a
  fine-hop spectral flux of the WAV;
* the share of the video's detected cuts that became hits, and of the cuts made that the
  describer found (within a frame);
* the tempo map's widest bend from the base tempo, max |tempo/base - 1| (target <= 8 %);
* measured key == requested key;
* start silence: the time of the first sample above -50 dBFS in the scored WAV;
* texture novelty: the cosine distance between the mean log-mel spectra of the second before and
  the second after a hit, over the same distance at random points inside sections (> 1: the cuts
  are heard), and the same ratio for the onset strength (spectral flux) right at the point.
"""

from __future__ import annotations

import colorsys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.sdk import VMB
    from vmb_agent.types import GenerationResult

FPS_CYCLE = (24.0, 25.0, 30.0, 60.0)
SILENCE_DBFS = -50.0
NOVELTY_WINDOW_S = 1.0
#: random probe points keep this far from every hit (and from the ends), so they are inside sections
PROBE_CLEARANCE_S = 1.5
PROBES_PER_HIT = 3
MEL_SR = 22050
MEL_FFT = 2048
MEL_HOP = 512
N_MELS = 64


@dataclass
class ScoringCase:
    name: str
    shots_s: list[float]  # shot lengths; the cuts fall between them
    fps: float
    seed: int

    @property
    def duration_s(self) -> float:
        return float(sum(self.shots_s))


# --------------------------------------------------------------------------------------------
# test videos
# --------------------------------------------------------------------------------------------


def shot_boundaries(shots_s: list[float], fps: float) -> list[int]:
    """First frame of every shot after the first: each cut sits exactly on a frame."""
    return [round(t * fps) for t in np.cumsum(shots_s)[:-1]]


def _shot_colours(index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours for shot ``index``: the hue jumps ~130 degrees and the brightness alternates
    from one shot to the next, so neighbouring shots share almost no histogram."""
    hue = (index * 0.37 + rng.uniform(0, 0.05)) % 1.0
    value = 0.85 if index % 2 else 0.35
    a = colorsys.hsv_to_rgb(hue, 0.75, value)
    b = colorsys.hsv_to_rgb((hue + 0.08) % 1.0, 0.45, min(value + 0.12, 1.0))
    return (np.array(a) * 255).astype(np.uint8), (np.array(b) * 255).astype(np.uint8)


def _shot_image(index: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A still: flat, striped or chequered in the shot's two colours."""
    a, b = _shot_colours(index, rng)
    yy, xx = np.mgrid[0:height, 0:width]
    period = max(width // int(rng.integers(4, 12)), 2)
    pattern = index % 4
    if pattern == 0:
        mask = np.zeros((height, width), dtype=bool)
    elif pattern == 1:
        mask = (yy // period) % 2 == 0
    elif pattern == 2:
        mask = (xx // period) % 2 == 0
    else:
        mask = ((xx // period) + (yy // period)) % 2 == 0
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = a
    image[mask] = b
    return image


def make_shot_video(
    path: str | Path,
    shots_s: list[float],
    fps: float,
    size: tuple[int, int] = (320, 180),
    seed: int = 0,
) -> list[float]:
    """Write an H.264 MP4 of still shots with hard cuts between them; returns the cut times (s).

    Every other shot carries a small block drifting across it (at a speed of its own), so the
    picture's motion energy differs from shot to shot. Still shots re-send one converted frame,
    which keeps a 60 s clip at 320x180 to about a second of writing.
    """
    import av

    width, height = size
    rng = np.random.default_rng(seed)
    starts = [0, *shot_boundaries(shots_s, fps)]
    total = round(sum(shots_s) * fps)
    rate = Fraction(fps).limit_denominator(1001)  # 29.97 -> 30000/1001
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "28", "preset": "ultrafast"}
        for shot, start in enumerate(starts):
            end = starts[shot + 1] if shot + 1 < len(starts) else total
            image = _shot_image(shot, width, height, rng)
            speed = float(rng.uniform(0.05, 0.4)) * width if shot % 2 else 0.0  # pixels a second
            still = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            block = max(height // 5, 2)
            ink = 255 - image[0, 0]
            for i in range(start, end):
                frame = still
                if speed:
                    moving = image.copy()
                    x = int((i - start) / fps * speed) % max(width - block, 1)
                    moving[height // 2 - block // 2 : height // 2 + block // 2, x : x + block] = ink
                    frame = av.VideoFrame.from_ndarray(moving, format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return [k / fps for k in starts[1:]]


def scoring_case_set(n: int = 24, seed: int = 0, *, short: bool = False) -> list[ScoringCase]:
    """``n`` videos: shot lengths uniform 1.5-12 s, 20-60 s long (every eighth 80-120 s), fps
    cycling 24/25/30/60. ``short``: 12-20 s videos of 1.5-6 s shots (the CI subset)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        if short:
            target, longest = float(rng.uniform(12, 20)), 6.0
        elif i % 8 == 7:
            target, longest = float(rng.uniform(80, 120)), 12.0
        else:
            target, longest = float(rng.uniform(20, 60)), 12.0
        shots: list[float] = []
        while sum(shots) < target - 1.5:
            shots.append(round(float(rng.uniform(1.5, longest)), 2))
        if sum(shots) > target:  # the last shot ends the video at about the target
            shots[-1] = round(max(1.5, shots[-1] - (sum(shots) - target)), 2)
        fps = FPS_CYCLE[i % len(FPS_CYCLE)]
        cases.append(ScoringCase(f"case{i:02d}-{fps:g}fps", shots, fps, int(rng.integers(2**31))))
    return cases


# --------------------------------------------------------------------------------------------
# audio measures
# --------------------------------------------------------------------------------------------


def start_silence_s(samples: np.ndarray, sr: int, floor_dbfs: float = SILENCE_DBFS) -> float:
    """Time of the first sample above ``floor_dbfs`` (the whole length if none is)."""
    peak = np.abs(samples).max(axis=1) if samples.ndim == 2 else np.abs(samples)
    loud = np.flatnonzero(peak > 10 ** (floor_dbfs / 20))
    return float(loud[0] if loud.size else peak.size) / sr


def log_mel(samples: np.ndarray, sr: int) -> np.ndarray:
    """(frames, N_MELS) log-compressed mel spectrum at MEL_HOP / MEL_SR seconds a frame."""
    from vmb_agent.library.audio_features import _mel_filterbank, _stft_mag, resample

    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = resample(mono.astype(np.float32), sr, MEL_SR)
    mel = _stft_mag(mono, MEL_FFT, MEL_HOP) ** 2 @ _mel_filterbank(MEL_SR, MEL_FFT, N_MELS).T
    return np.log1p(1000.0 * mel / max(float(mel.max()), 1e-12))


def texture_change(mel: np.ndarray, t: float, window_s: float = NOVELTY_WINDOW_S) -> float:
    """Cosine distance between the mean log-mel spectra of the ``window_s`` before and after t."""
    frame_s = MEL_HOP / MEL_SR
    centre, width = round(t / frame_s), max(round(window_s / frame_s), 1)
    before = mel[max(centre - width, 0) : centre].mean(axis=0)
    after = mel[centre : centre + width].mean(axis=0)
    norm = float(np.linalg.norm(before) * np.linalg.norm(after))
    return 1.0 - float(before @ after) / norm if norm > 0 else 0.0


def onset_strength(mel: np.ndarray) -> np.ndarray:
    """Half-wave rectified spectral flux, one value a mel frame."""
    return np.maximum(np.diff(mel, axis=0, prepend=mel[:1]), 0.0).sum(axis=1)


def flux_at(flux: np.ndarray, t: float, reach_s: float = 0.05) -> float:
    """The strongest onset within ``reach_s`` of t (a beat's attack, not a sustained note)."""
    frame_s = MEL_HOP / MEL_SR
    lo, hi = round((t - reach_s) / frame_s), round((t + reach_s) / frame_s) + 1
    return float(flux[max(lo, 0) : max(hi, 1)].max(initial=0.0))


def onset_near(mono: np.ndarray, sr: int, t: float, reach_s: float = 0.06) -> float:
    """Time of the sharpest attack within ``reach_s`` of t: the peak of a fine-hop (1.5 ms)
    spectral flux. An independent check on the result's own beat measurement."""
    from vmb_agent.library.audio_features import _stft_mag

    hop, n_fft = 64, 512
    lo = max(int((t - 0.2) * sr), 0)
    mag = _stft_mag(mono[lo : int((t + 0.2) * sr)], n_fft, hop)
    log_mag = np.log1p(1000.0 * mag / max(float(mag.max()), 1e-12))
    flux = np.maximum(np.diff(log_mag, axis=0), 0.0).sum(axis=1)  # rise into frame k + 1
    times = lo / sr + (np.arange(flux.size) + 1) * hop / sr
    near = np.flatnonzero(np.abs(times - t) <= reach_s)
    if near.size == 0:
        return float("nan")
    return float(times[near[np.argmax(flux[near])]])


def probe_points(hits: list[float], duration: float, count: int, seed: int) -> list[float]:
    """``count`` random times at least PROBE_CLEARANCE_S from every hit and from both ends."""
    rng = np.random.default_rng(seed)
    candidates = rng.uniform(PROBE_CLEARANCE_S, max(duration - PROBE_CLEARANCE_S, 2.0), 40 * count)
    far = [t for t in candidates if all(abs(t - h) >= PROBE_CLEARANCE_S for h in hits)]
    return [float(t) for t in far[:count]]


# --------------------------------------------------------------------------------------------
# the evaluation
# --------------------------------------------------------------------------------------------


def tempo_bend(result: GenerationResult) -> float | None:
    """max |tempo / base - 1| over the tempo map's bars; None without a tempo map."""
    tempo_map = result.tempo_map
    if tempo_map is None or not tempo_map.bars:
        return None
    return max(abs(bar.tempo_bpm / tempo_map.base_bpm - 1.0) for bar in tempo_map.bars)


def _measure_case(case: ScoringCase, result: GenerationResult, made_cuts: list[float]) -> dict:
    frame_ms = 1000.0 / case.fps
    hits = [a for a in result.cut_alignment if a.hit]
    # a hit whose beat was not found in the audio is a miss, whatever the MIDI grid says
    hit_errors = [abs(a.error_ms) / frame_ms if a.measured else float("inf") for a in hits]
    detected = result.requested.cuts_s
    found = sum(any(abs(c - d) <= 1.0 / case.fps + 1e-6 for d in detected) for c in made_cuts)
    return {
        "case": case.name,
        "fps": case.fps,
        "duration_s": round(case.duration_s, 2),
        "cuts_made": len(made_cuts),
        "cuts_found": found,
        "cuts_detected": len(detected),
        "hits": len(hits),
        "hit_errors_frames": hit_errors,
        "tempo_bend": tempo_bend(result),
        "key_ok": result.measured.key == result.requested.key,
        **_audio_measures(result, [a.cut_s for a in hits], frame_ms, case.seed),
    }


def _audio_measures(
    result: GenerationResult, hit_times: list[float], frame_ms: float, seed: int
) -> dict[str, Any]:
    """What the scored WAV itself says: start silence, an independent onset check at each hit,
    and texture change / onset strength at hits and at random points inside sections."""
    import soundfile as sf

    samples, sr = sf.read(result.audio_path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    mel = log_mel(mono, sr)
    flux = onset_strength(mel)
    count = PROBES_PER_HIT * max(len(hit_times), 1)
    probes = probe_points(hit_times, result.duration_s, count, seed)
    return {
        "start_silence_s": start_silence_s(samples, sr),
        "onset_errors_frames": [
            abs(t - onset_near(mono, sr, t)) * 1000 / frame_ms for t in hit_times
        ],
        "texture_at_hits": [texture_change(mel, t) for t in hit_times],
        "texture_at_probes": [texture_change(mel, t) for t in probes],
        "flux_at_hits": [flux_at(flux, t) for t in hit_times],
        "flux_at_probes": [flux_at(flux, t) for t in probes],
    }


def score_case(vmb: VMB, case: ScoringCase, out_dir: Path, seed: int) -> dict:
    """Make the case's video, score it and measure the result; one row of the evaluation."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{case.name}.mp4"
    made_cuts = make_shot_video(video, case.shots_s, case.fps, seed=case.seed)
    start = time.perf_counter()
    result = vmb.score(video, seed=seed, out_dir=out_dir, stems=False)
    wall = time.perf_counter() - start
    row = _measure_case(case, result, made_cuts)
    row["score_s"] = round(wall, 3)
    row["made_cuts_s"] = made_cuts
    row["downbeats_s"] = _downbeats(result)
    row["hit_cuts_s"] = [a.cut_s for a in result.cut_alignment if a.hit]
    row["other_cuts_s"] = [a.cut_s for a in result.cut_alignment if not a.hit]
    return row


def _downbeats(result: GenerationResult) -> list[float]:
    """Bar starts of the tempo map that are downbeats (a pickup bar starts mid-bar)."""
    if result.tempo_map is None:
        return []
    return [bar.start_s for bar in result.tempo_map.bars if bar.first_beat == 0]


def _ratio(at: list[float], baseline: list[float]) -> float:
    base = float(np.mean(baseline)) if baseline else 0.0
    return float(np.mean(at)) / base if at and base > 0 else float("nan")


def _share_within(values: list[float], bound: float) -> float:
    """Share of ``values`` at or under ``bound`` (0 when there are none: no hits is a failure)."""
    return float(np.mean([v <= bound for v in values])) if values else 0.0


def summarise(rows: list[dict]) -> dict[str, Any]:
    """The suite's figures over all cases."""

    def flat(key: str) -> list[float]:
        return [v for r in rows for v in r[key]]

    def total(key: str) -> int:
        return sum(r[key] for r in rows)

    errors, onsets = flat("hit_errors_frames"), flat("onset_errors_frames")
    finite = [e for e in errors if np.isfinite(e)]
    bends = [r["tempo_bend"] for r in rows if r["tempo_bend"] is not None]
    return {
        "videos": len(rows),
        "cuts_made": total("cuts_made"),
        "cut_detection_recall": total("cuts_found") / max(total("cuts_made"), 1),
        "cuts_detected": total("cuts_detected"),
        "hits": len(errors),
        "hit_share_of_cuts": len(errors) / max(total("cuts_detected"), 1),
        "hits_within_1_frame": _share_within(errors, 1.0),
        "hits_within_2_frames": _share_within(errors, 2.0),
        "hits_unmeasured": len(errors) - len(finite),
        "hit_error_frames_median": float(np.median(finite)) if finite else float("nan"),
        "hit_error_frames_max": float(np.max(finite)) if finite else float("nan"),
        "onset_check_within_1_frame": _share_within(onsets, 1.0),
        "onset_check_error_frames_median": float(np.median(onsets)) if onsets else float("nan"),
        "tempo_maps": len(bends),
        # every video must carry a tempo map: a missing one leaves the bend unmeasured (NaN)
        "tempo_bend_max": max(bends) if bends and len(bends) == len(rows) else float("nan"),
        "key_accuracy": float(np.mean([r["key_ok"] for r in rows])),
        "start_silence_s_max": max(r["start_silence_s"] for r in rows),
        "texture_novelty_ratio": _ratio(flat("texture_at_hits"), flat("texture_at_probes")),
        "onset_novelty_ratio": _ratio(flat("flux_at_hits"), flat("flux_at_probes")),
        "score_s_mean": float(np.mean([r["score_s"] for r in rows])),
        "score_s_per_video_minute": sum(r["score_s"] for r in rows)
        / max(sum(r["duration_s"] for r in rows) / 60, 1e-9),
    }


def evaluate_scoring(
    vmb: VMB,
    cases: list[ScoringCase],
    out_dir: Path,
    seed: int = 0,
    log: Any = None,
) -> dict[str, Any]:
    """Score every case; returns :func:`summarise`'s figures plus ``rows`` (one per video, for
    the plots and the report)."""
    rows = []
    for i, case in enumerate(cases):
        if log is not None:
            log(f"  scoring: {case.name} ({case.duration_s:.0f} s, {len(case.shots_s)} shots)")
        rows.append(score_case(vmb, case, out_dir, seed + i))
    return {**summarise(rows), "rows": rows}


def report_rows(rows: list[dict]) -> list[dict]:
    """Per-video table for report.md (scalars only)."""
    out = []
    for r in rows:
        finite = [e for e in r["hit_errors_frames"] if np.isfinite(e)]
        out.append({
            "video": r["case"], "s": r["duration_s"], "cuts": r["cuts_made"],
            "found": r["cuts_found"], "hits": r["hits"],
            "in_1_frame": sum(e <= 1.0 for e in r["hit_errors_frames"]),
            "worst_frames": round(max(finite), 2) if finite else None,
            "onset_check_frames": round(max(r["onset_errors_frames"], default=0.0), 2),
            "unmeasured": len(r["hit_errors_frames"]) - len(finite),
            "bend_pct": None if r["tempo_bend"] is None else round(100 * r["tempo_bend"], 2),
            "key_ok": r["key_ok"], "silence_s": round(r["start_silence_s"], 3),
            "score_s": r["score_s"],
        })  # fmt: skip
    return out


def plot_scoring(rows: list[dict], path: Path, max_rows: int = 12) -> str:
    """Left: hit errors in video frames with the 1- and 2-frame lines. Right: per video, the
    cuts made (hits dark, other cuts grey) over the tempo map's downbeats."""
    from vmb_agent.eval.report import new_figure, save_figure

    fig, _ = new_figure(11, 4.4)
    fig.clf()
    hist, lanes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    errors = [e for r in rows for e in r["hit_errors_frames"]]
    finite = np.array([e for e in errors if np.isfinite(e)])
    if finite.size:
        hist.hist(np.clip(finite, 0, 3), bins=np.linspace(0, 3, 31), color="#3b6ea8")
    hist.axvline(1.0, color="#c0392b", linestyle="--", label="1 frame (target: 95 %)")
    hist.axvline(2.0, color="#e67e22", linestyle=":", label="2 frames (target: all)")
    unmeasured = len(errors) - finite.size
    hist.set_xlabel("|cut - downbeat| in video frames, clipped at 3")
    hist.set_ylabel("section-starting cuts")
    hist.set_title(f"{len(errors)} hits; {unmeasured} without a beat in the audio", fontsize=10)
    hist.legend(fontsize=8)
    shown = rows[:max_rows]
    for y, r in enumerate(shown):
        # downbeats as bar lines across the lane, cuts as markers just above it
        lanes.vlines(r["downbeats_s"], y - 0.3, y + 0.3, color="#7f8c8d", linewidth=0.8)
        lanes.scatter(r["other_cuts_s"], [y - 0.3] * len(r["other_cuts_s"]), marker="v", s=22,
                      color="#95a5a6", zorder=3)  # fmt: skip
        lanes.scatter(r["hit_cuts_s"], [y - 0.3] * len(r["hit_cuts_s"]), marker="v", s=30,
                      color="#c0392b", zorder=4)  # fmt: skip
    lanes.plot([], [], color="#7f8c8d", linewidth=0.8, label="downbeat (tempo map)")
    lanes.scatter([], [], marker="v", color="#c0392b", label="cut starting a section")
    lanes.scatter([], [], marker="v", color="#95a5a6", label="other cut (accent)")
    lanes.set_yticks(range(len(shown)), [r["case"] for r in shown], fontsize=7)
    lanes.set_ylim(len(shown) - 0.4, -0.7)
    lanes.set_xlabel("time (s)")
    lanes.set_title("Cuts over the tempo map's downbeats", fontsize=10)
    lanes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    return save_figure(fig, path)
