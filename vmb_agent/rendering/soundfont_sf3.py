"""SoundFont files: ``.sf3`` (compressed) -> 16-bit ``.sf2``, decoded once and cached; SF2 subsets.

An ``.sf3`` (MuseScore's sftools, read by FluidSynth >= 1.1.7) is an SF2 file whose samples are
Ogg Vorbis streams: ``ifil`` says version 3, each sample header (``shdr``) has the 0x10 flag in
``sfSampleType``, its ``start``/``end`` are *byte* offsets of the Vorbis stream inside ``smpl``
(end exclusive), and its loop points are *frame* offsets relative to the sample's own start
(SF2 loop points are absolute positions in ``smpl``). tinysoundfont 0.3.7 decodes them itself,
but at every load (~3 s a process for FluidR3Mono), so :func:`convert_sf3_to_sf2` decodes every
stream once with ``soundfile`` (libsndfile), writes the frames one after another with the 46 zero
frames the SF2 spec requires after each sample, and rewrites ``shdr`` with absolute offsets; every
other chunk is copied as is.

:func:`decoded_sf2` does that once per font into a cache folder (``VMB_CACHE_DIR``, by default the
per-user cache dir): the file is named by the source's size and content hash, and written to a
temporary name then renamed, so processes that decode the same font at the same time are safe.

tinysoundfont holds a whole font in memory as floats (250 MB for the decoded FluidR3Mono), so
:func:`subset_sf2` cuts a standard SF2 down to some presets (and the instruments and samples they
use) in memory: the renderer loads only what a piece plays. :func:`index_sf2` reads the tables once
per file without reading the samples.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vmb_agent.errors import InputError

OGG_VORBIS_FLAG = 0x10  # sfSampleType flag of a compressed sample (non-standard, sftools)
ROM_FLAG = 0x8000
PAD_FRAMES = 46  # zero frames after each sample (SF2 2.01 spec, 7.10)
SHDR_SIZE = 46
_SHDR = struct.Struct("<20sIIIIIBbHH")
#: bump when the converter's output changes, so old cache files are not reused
CONVERTER_VERSION = 1

log = logging.getLogger(__name__)
_memo_lock = threading.Lock()
_memo: dict[tuple[str, int, int, str], Path] = {}


@dataclass(frozen=True)
class SampleHeader:
    name: bytes  # 20 bytes, NUL padded
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    pitch_correction: int
    link: int
    type: int

    def pack(self) -> bytes:
        return _SHDR.pack(self.name, self.start, self.end, self.loop_start, self.loop_end,
                          self.sample_rate, self.original_pitch, self.pitch_correction,
                          self.link, self.type)  # fmt: skip


@dataclass
class RiffFont:
    """The chunks of a SoundFont file, in file order: ``info`` and ``pdta`` as (id, bytes)."""

    version: tuple[int, int]
    info: list[tuple[bytes, bytes]]
    smpl: memoryview
    pdta: list[tuple[bytes, bytes]]

    @property
    def samples(self) -> list[SampleHeader]:
        """The sample headers, without the terminal ``EOS`` record."""
        raw = dict(self.pdta).get(b"shdr")
        if raw is None or len(raw) % SHDR_SIZE or len(raw) < SHDR_SIZE:
            raise InputError("SoundFont has no valid shdr chunk (sample headers).")
        count = len(raw) // SHDR_SIZE - 1
        return [SampleHeader(*_SHDR.unpack_from(raw, i * SHDR_SIZE)) for i in range(count)]

    @property
    def terminal_sample(self) -> bytes:
        raw = dict(self.pdta)[b"shdr"]
        return bytes(raw[-SHDR_SIZE:])


@dataclass(frozen=True)
class ConversionStats:
    samples: int
    frames: int  # decoded frames, padding excluded
    bytes_written: int
    seconds: float


def _chunks(buf: memoryview, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(id, data offset, size) of the RIFF chunks in ``buf[start:end]``.

    RIFF pads odd-sized chunks with one byte, but sftools writes an odd ``smpl`` without it (and
    counts the enclosing LIST without it too): a pad byte is skipped only when it is there (a
    NUL, where a chunk id would start with a letter)."""
    out = []
    pos = start
    while pos + 8 <= end:
        cid = bytes(buf[pos : pos + 4])
        (size,) = struct.unpack_from("<I", buf, pos + 4)
        if pos + 8 + size > end:
            raise InputError(f"SoundFont chunk {cid!r} at byte {pos} runs past its container.")
        out.append((cid, pos + 8, size))
        pos += 8 + size
        if size & 1 and pos < end and buf[pos] == 0:
            pos += 1
    return out


def read_font(data: bytes | memoryview) -> RiffFont:
    """Parse a SoundFont (``.sf2`` or ``.sf3``) held in memory (``smpl`` is a view, not a copy)."""
    buf = memoryview(data)
    if len(buf) < 12 or bytes(buf[:4]) != b"RIFF" or bytes(buf[8:12]) != b"sfbk":
        raise InputError("not a SoundFont file (no RIFF 'sfbk' header).")
    (riff_size,) = struct.unpack_from("<I", buf, 4)
    end = min(len(buf), 8 + riff_size)
    info: list[tuple[bytes, bytes]] = []
    pdta: list[tuple[bytes, bytes]] = []
    smpl: memoryview | None = None
    for cid, off, size in _chunks(buf, 12, end):
        if cid != b"LIST" or size < 4:
            continue
        kind = bytes(buf[off : off + 4])
        for sub, soff, ssize in _chunks(buf, off + 4, off + size):
            payload = buf[soff : soff + ssize]
            if kind == b"INFO":
                info.append((sub, bytes(payload)))
            elif kind == b"sdta" and sub == b"smpl":
                smpl = payload
            elif kind == b"pdta":
                pdta.append((sub, bytes(payload)))
    ifil = dict(info).get(b"ifil")
    if ifil is None or len(ifil) < 4:
        raise InputError("SoundFont has no ifil (version) chunk.")
    if smpl is None:
        raise InputError("SoundFont has no smpl chunk (sample data).")
    version = struct.unpack_from("<HH", ifil)
    return RiffFont((version[0], version[1]), info, smpl, pdta)


def is_sf3(path: Path | str) -> bool:
    """Whether the file is a compressed SoundFont (``ifil`` major version 3)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    # RIFF....sfbk LIST....INFO ifil(4) <major u16> <minor u16>: ifil is the first INFO chunk
    pos = head.find(b"ifil")
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk" or pos < 0 or pos + 12 > len(head):
        return False
    return struct.unpack_from("<H", head, pos + 8)[0] == 3


def _decode_vorbis(blob: bytes | memoryview, name: str) -> np.ndarray:
    """One Ogg Vorbis stream -> int16 mono frames."""
    import soundfile

    try:
        audio, _ = soundfile.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises LibsndfileError/RuntimeError
        raise InputError(f"cannot decode the Ogg Vorbis sample {name!r}: {exc}") from None
    mono = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1)
    return np.clip(np.rint(mono * 32768.0), -32768, 32767).astype("<i2")


def _sample_frames(font: RiffFont, head: SampleHeader, pcm16: np.ndarray | None
                   ) -> tuple[np.ndarray, int, int]:  # fmt: skip
    """A sample's PCM frames and its loop points relative to the sample's first frame."""
    name = head.name.split(b"\0", 1)[0].decode("latin-1")
    if head.type & ROM_FLAG:
        return np.zeros(0, dtype="<i2"), 0, 0
    if head.type & OGG_VORBIS_FLAG:
        if not 0 <= head.start <= head.end <= len(font.smpl):
            raise InputError(f"sample {name!r}: bytes {head.start}-{head.end} are outside smpl.")
        if head.end == head.start:
            return np.zeros(0, dtype="<i2"), 0, 0
        frames = _decode_vorbis(font.smpl[head.start : head.end], name)
        return frames, head.loop_start, head.loop_end  # sf3 loops are already relative
    # a plain 16-bit sample (an sf2, or an sf3 that left some samples uncompressed)
    assert pcm16 is not None
    frames = pcm16[head.start : head.end]
    return frames, head.loop_start - head.start, head.loop_end - head.start


def _chunk(cid: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) & 1 else b""
    return cid + struct.pack("<I", len(payload)) + payload + pad


def write_sf2(font: RiffFont, fh: BinaryIO) -> tuple[int, int]:
    """Write ``font`` as a standard 16-bit SF2, decoding Vorbis samples one at a time (so the
    decoded font is never held in memory); ``fh`` must be seekable. Returns (samples, frames).

    Each sample is followed by 46 zero frames; ``shdr`` gets absolute frame offsets and loses
    the Vorbis flag; ``ifil`` says 2.04; every other chunk is copied unchanged."""
    info = b"".join(_chunk(cid, struct.pack("<HH", 2, 4) if cid == b"ifil" else payload)
                    for cid, payload in font.info)  # fmt: skip
    fh.write(b"RIFF\0\0\0\0sfbk")
    fh.write(b"LIST" + struct.pack("<I", 4 + len(info)) + b"INFO" + info)
    sdta_at = fh.tell()
    fh.write(b"LIST\0\0\0\0sdtasmpl\0\0\0\0")
    pcm16 = None
    if any(not h.type & (OGG_VORBIS_FLAG | ROM_FLAG) for h in font.samples):
        pcm16 = np.frombuffer(font.smpl[: len(font.smpl) // 2 * 2], dtype="<i2")
    zeros = bytes(PAD_FRAMES * 2)
    headers = []
    pos = frames_total = 0
    for head in font.samples:
        frames, loop_start, loop_end = _sample_frames(font, head, pcm16)
        n = len(frames)
        loop_start = min(max(loop_start, 0), n)
        loop_end = min(max(loop_end, loop_start), n)
        headers.append(SampleHeader(head.name, pos, pos + n, pos + loop_start, pos + loop_end,
                                    head.sample_rate, head.original_pitch, head.pitch_correction,
                                    head.link, head.type & ~OGG_VORBIS_FLAG & 0xFFFF))  # fmt: skip
        fh.write(frames.astype("<i2", copy=False).tobytes())
        fh.write(zeros)
        pos += n + PAD_FRAMES
        frames_total += n
    smpl_end = fh.tell()
    shdr = b"".join(h.pack() for h in headers) + font.terminal_sample
    pdta = b"".join(_chunk(cid, shdr if cid == b"shdr" else payload) for cid, payload in font.pdta)
    fh.write(b"LIST" + struct.pack("<I", 4 + len(pdta)) + b"pdta" + pdta)
    end = fh.tell()
    fh.seek(4)
    fh.write(struct.pack("<I", end - 8))
    fh.seek(sdta_at + 4)
    fh.write(struct.pack("<I", smpl_end - sdta_at - 8))
    fh.seek(sdta_at + 16)
    fh.write(struct.pack("<I", pos * 2))
    fh.seek(end)
    return len(headers), frames_total


def convert_sf3_to_sf2(src: Path | str, dst: Path | str | BinaryIO) -> ConversionStats:
    """Decode ``src`` (.sf3) into a standard 16-bit SoundFont at ``dst`` (a path, or a seekable
    binary file). :func:`decoded_sf2` adds the cache and the atomic rename."""
    t0 = time.perf_counter()
    font = read_font(Path(src).read_bytes())
    if isinstance(dst, (str, Path)):
        with open(dst, "wb") as fh:
            samples, frames = write_sf2(font, fh)
            written = fh.tell()
    else:
        start = dst.tell()
        samples, frames = write_sf2(font, dst)
        written = dst.tell() - start
    return ConversionStats(samples, frames, written, time.perf_counter() - t0)


def default_cache_dir() -> Path:
    from vmb_agent.settings import get_settings

    return get_settings().cache_dir / "soundfonts"


def cache_name(src: Path) -> str:
    """``<stem>-<size>-<sha256 prefix>-v<converter>.sf2``: a changed font gets a new name."""
    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    size = src.stat().st_size
    return f"{src.stem}-{size}-{digest.hexdigest()[:16]}-v{CONVERTER_VERSION}.sf2"


def decoded_sf2(src: Path | str, cache_dir: Path | str | None = None) -> Path:
    """The decoded ``.sf2`` of ``src`` (.sf3), made on first use and reused afterwards.

    The file lives in ``cache_dir`` (default ``VMB_CACHE_DIR``/soundfonts); when that folder
    cannot be written, a folder under the system temp dir is used instead.
    """
    src = Path(src).expanduser().resolve()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stat = src.stat()
    key = (str(src), stat.st_size, stat.st_mtime_ns, str(folder))
    with _memo_lock:
        known = _memo.get(key)
    if known is not None and known.is_file():
        return known
    name = cache_name(src)
    for candidate in (folder, Path(tempfile.gettempdir()) / "vmb-cache" / "soundfonts"):
        target = candidate / name
        if target.is_file():
            break
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=candidate)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "wb") as fh:
                stats = convert_sf3_to_sf2(src, fh)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache may be shared
            os.replace(tmp, target)  # atomic: a concurrent reader sees no file or a whole one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info("decoded %s -> %s (%d samples, %.1f s)", src.name, target, stats.samples,
                 stats.seconds)  # fmt: skip
        break
    else:
        raise InputError(f"cannot write the decoded SoundFont for {str(src)!r} to {folder}.")
    with _memo_lock:
        _memo[key] = target
    return target


# ------------------------------------------------------------------ subsets of a large .sf2

_PHDR = struct.Struct("<20sHHHIII")
_INST = struct.Struct("<20sH")
_BAG = struct.Struct("<HH")
_GEN = struct.Struct("<HH")
_MOD_SIZE = 10
_GEN_INSTRUMENT, _GEN_SAMPLE_ID = 41, 53
_LINKED_TYPES = 0x2 | 0x4 | 0x8  # right, left, linked: sfSampleLink names a partner sample


@dataclass
class Sf2Index:
    """A standard SF2's preset/instrument/sample tables (``pdta``) and where its sample data
    starts in the file: enough to cut out some presets without reading the samples."""

    path: Path
    smpl_offset: int
    info: list[tuple[bytes, bytes]]
    phdr: list[tuple]  # (name, preset, bank, bag, library, genre, morphology), terminal included
    pbag: list[tuple[int, int]]  # (first generator, first modulator), terminal included
    pmod: bytes
    pgen: list[tuple[int, int]]  # (operator, raw amount)
    inst: list[tuple[bytes, int]]  # (name, first bag), terminal included
    ibag: list[tuple[int, int]]
    imod: bytes
    igen: list[tuple[int, int]]
    samples: list[SampleHeader]
    terminal_sample: bytes

    @property
    def presets(self) -> set[tuple[int, int]]:
        """(bank, program) of every preset."""
        return {(p[2], p[1]) for p in self.phdr[:-1]}


def _read_chunks_from_file(fh: BinaryIO, end: int) -> list[tuple[bytes, int, int]]:
    """(id, data offset, size) of the chunks from the file's current position up to ``end``."""
    out = []
    pos = fh.tell()
    while pos + 8 <= end:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            break
        cid, size = head[:4], struct.unpack("<I", head[4:])[0]
        out.append((cid, pos + 8, size))
        pos += 8 + size
        if size & 1 and pos < end:
            fh.seek(pos)
            if fh.read(1) == b"\0":
                pos += 1
    return out


_index_lock = threading.Lock()
_indexes: dict[tuple[str, int, int], Sf2Index] = {}


def index_sf2(path: Path | str) -> Sf2Index:
    """Parse an SF2's tables (cached per file; the sample data is not read)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _index_lock:
        if key in _indexes:
            return _indexes[key]
    info: list[tuple[bytes, bytes]] = []
    pdta: dict[bytes, bytes] = {}
    smpl_offset = None
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"sfbk":
            raise InputError(f"{str(path)!r} is not a SoundFont file (no RIFF 'sfbk' header).")
        end = min(stat.st_size, 8 + struct.unpack("<I", head[4:8])[0])
        for cid, off, size in _read_chunks_from_file(fh, end):
            if cid != b"LIST":
                continue
            fh.seek(off)
            kind = fh.read(4)
            for sub, soff, ssize in _read_chunks_from_file(fh, off + size):
                if kind == b"sdta" and sub == b"smpl":
                    smpl_offset = soff
                elif kind == b"INFO":
                    fh.seek(soff)
                    info.append((sub, fh.read(ssize)))
                elif kind == b"pdta":
                    fh.seek(soff)
                    pdta.setdefault(sub, fh.read(ssize))
    missing = [c.decode() for c in (b"phdr", b"pbag", b"pmod", b"pgen", b"inst", b"ibag",
                                    b"imod", b"igen", b"shdr") if c not in pdta]  # fmt: skip
    if smpl_offset is None or missing:
        raise InputError(f"SoundFont {str(path)!r} lacks {', '.join(missing) or 'smpl'}.")
    shdr = pdta[b"shdr"]
    index = Sf2Index(
        path, smpl_offset, info,
        list(_PHDR.iter_unpack(pdta[b"phdr"])), list(_BAG.iter_unpack(pdta[b"pbag"])),
        pdta[b"pmod"], list(_GEN.iter_unpack(pdta[b"pgen"])),
        list(_INST.iter_unpack(pdta[b"inst"])), list(_BAG.iter_unpack(pdta[b"ibag"])),
        pdta[b"imod"], list(_GEN.iter_unpack(pdta[b"igen"])),
        [SampleHeader(*_SHDR.unpack_from(shdr, i)) for i in range(0, len(shdr) - SHDR_SIZE,
                                                                  SHDR_SIZE)],
        shdr[-SHDR_SIZE:],
    )  # fmt: skip
    with _index_lock:
        _indexes[key] = index
    return index



def _copy_zones(source: tuple[list, list], bags: range, target: tuple[list, list, list],
                link_oper: int, mapping: dict[int, int]) -> None:  # fmt: skip
    """Copy the zones ``bags`` of a preset (or instrument): their bag entries, generators (the
    one that links to an instrument or sample renumbered through ``mapping``, new targets
    numbered in order of first use) and the indices of their modulators."""
    bag_list, gen_list = source
    new_bags, new_gens, new_mods = target
    for b in bags:
        gen0, mod0 = bag_list[b]
        gen1, mod1 = bag_list[b + 1]
        new_bags.append((len(new_gens), len(new_mods)))
        for oper, amount in gen_list[gen0:gen1]:
            if oper == link_oper:
                amount = mapping.setdefault(amount, len(mapping))
            new_gens.append((oper, amount))
        new_mods.extend(range(mod0, mod1))

def subset_sf2(index: Sf2Index, keep: set[tuple[int, int]] | frozenset[tuple[int, int]]) -> bytes:
    """A standard SF2 (in memory) with only the presets ``keep`` = {(bank, program)}, the
    instruments and samples they use, and the same INFO; zones, generators and modulators are
    copied in order with their indices renumbered, so a synth plays those presets exactly as
    from the whole font while holding a fraction of its samples."""
    new_phdr, new_pbag, new_pgen, new_pmod = [], [], [], []
    inst_map: dict[int, int] = {}
    for i, p in enumerate(index.phdr[:-1]):
        if (p[2], p[1]) not in keep:
            continue
        new_phdr.append(_PHDR.pack(p[0], p[1], p[2], len(new_pbag), p[4], p[5], p[6]))
        _copy_zones((index.pbag, index.pgen), range(p[3], index.phdr[i + 1][3]),
                    (new_pbag, new_pgen, new_pmod), _GEN_INSTRUMENT, inst_map)  # fmt: skip
    new_inst, new_ibag, new_igen, new_imod = [], [], [], []
    sample_map: dict[int, int] = {}
    for old in inst_map:  # dicts keep insertion order: new index order
        name, bag0 = index.inst[old]
        new_inst.append(_INST.pack(name, len(new_ibag)))
        _copy_zones((index.ibag, index.igen), range(bag0, index.inst[old + 1][1]),
                    (new_ibag, new_igen, new_imod), _GEN_SAMPLE_ID, sample_map)  # fmt: skip
    for old in list(sample_map):  # stereo partners come along, so links stay valid
        head = index.samples[old]
        if head.type & _LINKED_TYPES and head.link < len(index.samples):
            sample_map.setdefault(head.link, len(sample_map))

    out = io.BytesIO()
    shdr = []
    pos = 0
    zeros = bytes(PAD_FRAMES * 2)
    smpl = io.BytesIO()
    with open(index.path, "rb") as fh:
        for old in sample_map:
            h = index.samples[old]
            fh.seek(index.smpl_offset + 2 * h.start)
            data = fh.read(2 * (h.end - h.start))
            n = len(data) // 2
            smpl.write(data[: 2 * n])
            smpl.write(zeros)
            link = sample_map.get(h.link, 0) if h.type & _LINKED_TYPES else h.link
            shdr.append(SampleHeader(h.name, pos, pos + n, pos + h.loop_start - h.start,
                                     pos + h.loop_end - h.start, h.sample_rate, h.original_pitch,
                                     h.pitch_correction, link, h.type).pack())  # fmt: skip
            pos += n + PAD_FRAMES
    term = index.phdr[-1]
    pdta = [
        (b"phdr", b"".join(new_phdr) + _PHDR.pack(term[0], 0, 0, len(new_pbag), 0, 0, 0)),
        (b"pbag", b"".join(_BAG.pack(*b) for b in [*new_pbag, (len(new_pgen), len(new_pmod))])),
        (b"pmod", _mods(index.pmod, new_pmod)),
        (b"pgen", b"".join(_GEN.pack(*g) for g in [*new_pgen, (0, 0)])),
        (b"inst", b"".join(new_inst) + _INST.pack(b"EOI", len(new_ibag))),
        (b"ibag", b"".join(_BAG.pack(*b) for b in [*new_ibag, (len(new_igen), len(new_imod))])),
        (b"imod", _mods(index.imod, new_imod)),
        (b"igen", b"".join(_GEN.pack(*g) for g in [*new_igen, (0, 0)])),
        (b"shdr", b"".join(shdr) + index.terminal_sample),
    ]
    info = b"INFO" + b"".join(_chunk(cid, payload) for cid, payload in index.info)
    sdta = b"sdta" + _chunk(b"smpl", smpl.getvalue())
    body = b"pdta" + b"".join(_chunk(cid, payload) for cid, payload in pdta)
    lists = b"".join(b"LIST" + struct.pack("<I", len(x)) + x for x in (info, sdta, body))
    out.write(b"RIFF" + struct.pack("<I", 4 + len(lists)) + b"sfbk" + lists)
    return out.getvalue()


def _mods(table: bytes, rows: list[int]) -> bytes:
    """The modulator records ``rows`` of ``table`` and a terminal (zero) record."""
    return b"".join(table[r * _MOD_SIZE : (r + 1) * _MOD_SIZE] for r in rows) + bytes(_MOD_SIZE)


__all__ = [
    "ConversionStats",
    "RiffFont",
    "SampleHeader",
    "Sf2Index",
    "convert_sf3_to_sf2",
    "decoded_sf2",
    "index_sf2",
    "is_sf3",
    "read_font",
    "subset_sf2",
    "write_sf2",
]
