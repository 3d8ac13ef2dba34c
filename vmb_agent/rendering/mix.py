"""The mix: gain staging per role, before the mastering chain.

SoundFonts differ wildly in level from program to program (in TimGM6mb a saxophone sits 15 dB
above a piano at the same velocity), so no fixed per-instrument table holds across fonts. A
mixing engineer sets each track's fader by ear; here each instrument track is rendered alone,
its integrated loudness measured (BS.1770, gated, so rests do not count) and its gain set so
that it sits at its role's level relative to the melody (:data:`ROLE_LEVEL_LU`). The composer's
velocities and section dynamics stay inside each track: only the track's fader moves.

(The DC blocker is the first filter of the mastering chain: ``master.DC_BLOCK_HZ``.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vmb_agent.dsp import integrated_loudness

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

    Measured on every fourth 400 ms block of the channels' mean (at the full rate, so bright
    parts such as hi-hats keep their weight): a fader setting needs no more, and it costs a
    tenth of measuring the whole track (0.03 s instead of 0.3 s for three minutes)."""
    block = round(0.4 * rate)
    n_blocks = audio.shape[0] // block
    if n_blocks >= 8:
        sample = audio[: n_blocks * block].reshape(n_blocks, block, -1)[::4].mean(axis=2)
        loudness = integrated_loudness(sample.reshape(-1), rate)
    else:
        loudness = integrated_loudness(audio, rate)
    if loudness is None:
        return 1.0
    target = MELODY_LUFS + (offsets or ROLE_LEVEL_LU).get(role, -6.0)
    gain_db = float(np.clip(target - loudness, -MAX_STAGING_DB, MAX_STAGING_DB))
    return 10.0 ** (gain_db / 20.0)


__all__ = ["ROLE_LEVEL_LU", "staging_gain", "track_roles"]
