"""The mix: gain staging per role, and a DC blocker, before the mastering chain.

SoundFonts differ wildly in level from program to program (in TimGM6mb a saxophone sits 15 dB
above a piano at the same velocity), so no fixed per-instrument table holds across fonts. A
mixing engineer sets each track's fader by ear; here each instrument track is rendered alone,
its integrated loudness measured (BS.1770, gated, so rests do not count) and its gain set so
that it sits at its role's level relative to the melody (:data:`ROLE_LEVEL_LU`). The composer's
velocities and section dynamics stay inside each track: only the track's fader moves.

Samples in some fonts carry a DC offset, which a note's envelope turns into a slow sub-audio
swell (a jazz mix measured a mean of +0.054). :func:`remove_dc` is a zero-phase high-pass (the
signal minus two passes of a 50 ms moving average: -3 dB near 8 Hz, no loss above 30 Hz), linear,
so stems that sum to the mix still do.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vmb_agent.dsp import integrated_loudness, moving_average

#: each role's level relative to the melody (LU); every role within 12 dB of the loudest
ROLE_LEVEL_LU = {
    "melody": 0.0, "bass": -2.5, "drums": -1.5, "chords": -4.0, "counter": -6.0,
    "arp": -6.0, "pad": -7.0,
}  # fmt: skip
#: a track playing several roles (a solo piano: melody, accompaniment and bass) takes the first
ROLE_PRIORITY = ("melody", "bass", "drums", "chords", "counter", "arp", "pad")
#: where the melody sits before mastering (the master then sets the piece's loudness)
MELODY_LUFS = -20.0
MAX_STAGING_DB = 24.0
DC_WINDOW_S = 0.05


def track_roles(parts: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``{instrument: role}`` from ``(role, instrument)`` pairs, the leading role per track."""
    roles: dict[str, str] = {}
    for role, instrument in parts:
        current = roles.get(instrument)
        if current is None or ROLE_PRIORITY.index(role) < ROLE_PRIORITY.index(current):
            roles[instrument] = role
    return roles


def staging_gain(audio: np.ndarray, rate: int, role: str,
                 offsets: dict[str, float] | None = None) -> float:  # fmt: skip
    """The linear gain that puts a track at its role's level (1.0 for a silent track).

    Measured on the channels' mean at half the rate (pairs of samples averaged): a quarter of
    the work of the full measurement, and the same for every track, so the balance holds
    (hi-hats and cymbals keep their energy below 11 kHz, which is where K-weighting looks)."""
    n = audio.shape[0] // 2 * 2
    mono = audio[:n].mean(axis=1)
    loudness = integrated_loudness(mono.reshape(-1, 2).mean(axis=1), rate // 2)
    if loudness is None:
        return 1.0
    target = MELODY_LUFS + (offsets or ROLE_LEVEL_LU).get(role, -6.0)
    gain_db = float(np.clip(target - loudness, -MAX_STAGING_DB, MAX_STAGING_DB))
    return 10.0 ** (gain_db / 20.0)


def remove_dc(audio: np.ndarray, rate: int) -> np.ndarray:
    """``(n, channels)`` audio minus its sub-audio content, in place (see the module docstring)."""
    size = max(3, round(DC_WINDOW_S * rate)) | 1
    if audio.shape[0] < 2 * size:
        audio -= audio.mean(axis=0, keepdims=True).astype(audio.dtype)
        return audio
    for channel in range(audio.shape[1]):
        x = np.ascontiguousarray(audio[:, channel])
        low = moving_average(moving_average(x, size, mode="nearest"), size, mode="nearest")
        audio[:, channel] -= low.astype(audio.dtype)
    return audio


__all__ = ["ROLE_LEVEL_LU", "remove_dc", "staging_gain", "track_roles"]
