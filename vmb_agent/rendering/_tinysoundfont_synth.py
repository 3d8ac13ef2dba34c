"""The part of tinysoundfont's Python ``Synth`` that VMB renders with, over the vendored
extension :mod:`vmb_agent.rendering._tinysoundfont` (built from ``_tinysoundfont-src/``).

Adapted from ``tinysoundfont/synth.py`` 0.3.7, Copyright (C) 2024 Nathan Whitehead, MIT
(``_tinysoundfont-src/LICENSE``). Kept: loading fonts, choosing presets, note and controller
events, rendering into a buffer. Left out: live playback (the reason the PyPI package declares
PyAudio), the sequencer and MIDI file playback. Each method makes the same extension calls as the
original, so a render is bit-identical to one through the PyPI package.
"""

from __future__ import annotations

from vmb_agent.rendering import _tinysoundfont  # type: ignore[attr-defined]

MAX_CHANNELS = 16
_FRAME_BYTES = 2 * 4  # stereo float32


class SoundFontError(Exception):
    """A SoundFont id or channel that this synth does not have."""


class Synth:
    """A mixer of loaded SoundFonts, each driven by the channels assigned to it.

    ``gain`` is the output scale in relative dB; ``samplerate`` the output rate in Hz.
    """

    def __init__(self, gain: float = 0.0, samplerate: int = 44100) -> None:
        self.gain = gain
        self.samplerate = samplerate
        #: sfid -> the extension's SoundFont object
        self.soundfonts: dict[int, _tinysoundfont.SoundFont] = {}
        #: channel -> sfid of the font that plays it
        self.channel: dict[int, int] = {}
        self._next_sfid = 0

    def sfload(self, filename_or_bytes: str | bytes, gain: float = 0.0,
               max_voices: int = 256) -> int:  # fmt: skip
        """Load an sf2/sf3/sfo font from a path or from bytes; returns its id. Channels that
        have no font yet play this one. A bad file raises ``RuntimeError``."""
        font = _tinysoundfont.SoundFont(filename_or_bytes)
        font.set_output(_tinysoundfont.OutputMode.StereoInterleaved, self.samplerate,
                        self.gain + gain)  # fmt: skip
        font.set_max_voices(max_voices)
        sfid = self._next_sfid
        self._next_sfid += 1
        self.soundfonts[sfid] = font
        for chan in range(MAX_CHANNELS):
            self.channel.setdefault(chan, sfid)
        return sfid

    def program_select(self, chan: int, sfid: int, bank: int, preset: int,
                       is_drums: bool = False) -> None:  # fmt: skip
        """Play ``preset`` of ``bank`` of font ``sfid`` on ``chan``; ``RuntimeError`` when the
        font has no such preset."""
        font = self._font(sfid)
        self.channel[chan] = sfid
        font.channel_set_bank(chan, bank)
        font.channel_set_preset_number(chan, preset, is_drums)

    def noteon(self, chan: int, key: int, velocity: int) -> bool:
        """Start a note (velocity 0-127); False when the key, velocity or channel is invalid."""
        if not 0 <= key <= 127 or not 0 <= velocity <= 127 or chan not in self.channel:
            return False
        self._channel_font(chan).channel_note_on(chan, key, velocity / 127.0)
        return True

    def noteoff(self, chan: int, key: int) -> bool:
        """Release a note; False when the key or channel is invalid."""
        if not 0 <= key <= 127 or chan not in self.channel:
            return False
        self._channel_font(chan).channel_note_off(chan, key)
        return True

    def control_change(self, chan: int, controller: int, control_value: int) -> None:
        """A MIDI 1.0 controller change (0-127) on ``chan``."""
        self._channel_font(chan).channel_midi_control(chan, controller, control_value)

    def pitchbend(self, chan: int, value: int) -> None:
        """Pitch wheel position 0-16383 (8192: no bend)."""
        self._channel_font(chan).channel_set_pitch_wheel(chan, value)

    def generate_simple(self, samples: int, buffer: memoryview | None = None) -> memoryview:
        """Render ``samples`` stereo float32 frames into ``buffer`` (a new one when None): the
        first font overwrites it, later fonts mix in."""
        if buffer is None:
            buffer = memoryview(bytearray(samples * _FRAME_BYTES))
        mix = False
        for font in self.soundfonts.values():
            font.render(buffer, mix)
            mix = True
        return buffer

    def _font(self, sfid: int) -> _tinysoundfont.SoundFont:
        if sfid not in self.soundfonts:
            raise SoundFontError(f"invalid SoundFont id {sfid}")
        return self.soundfonts[sfid]

    def _channel_font(self, chan: int) -> _tinysoundfont.SoundFont:
        if chan not in self.channel:
            raise SoundFontError(f"channel {chan} has no SoundFont")
        return self._font(self.channel[chan])
