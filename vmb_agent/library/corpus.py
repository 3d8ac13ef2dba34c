"""The bundled reference library: pieces from the music21 corpus, orchestrated and written as MIDI.

The selection is deterministic and spread across the corpus's collections (chorales, folk songs,
dance tunes, Renaissance polyphony, string quartets, keyboard music). Each collection gets a
General MIDI instrumentation that suits it (chorales on choir, organ or strings; folk songs on
flute, fiddle, accordion or guitar; quartets on violin/viola/cello ...) and a tempo from a range
typical of the style, so the library spans timbres and tempi. Parsing runs in worker processes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from vmb_agent.theory import INSTRUMENTS


@dataclass(frozen=True)
class Collection:
    name: str  # stored as the track's collection
    weight: float  # share of the library
    genres: tuple[str, ...]
    era: str
    form: str
    tempo_range: tuple[int, int]
    # Instrumentations to rotate through; each is a list of instrument names per part
    # (the last entry repeats for extra parts).
    orchestrations: tuple[tuple[str, ...], ...]
    drums_every: int = 0  # add a light percussion part to every n-th piece (0 = never)


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in [
        Collection("bach chorales", 0.24, ("baroque", "chorale", "sacred"), "Baroque",
                   "four-part chorale", (56, 84),
                   (("choir",), ("organ",), ("violin", "violin", "viola", "cello"),
                    ("oboe", "clarinet", "french horn", "bassoon"))),
        Collection("essen folk songs", 0.20, ("folk", "traditional"), "traditional",
                   "folk song", (72, 126),
                   (("flute",), ("accordion",), ("acoustic guitar",), ("fiddle",), ("clarinet",),
                    ("recorder",))),
        Collection("o'neill's irish music", 0.12, ("folk", "celtic", "dance"), "traditional",
                   "dance tune", (92, 132),
                   (("fiddle",), ("whistle",), ("accordion",), ("flute",), ("bagpipe",)), 3),
        Collection("ryan's mammoth collection", 0.12, ("folk", "celtic", "dance"), "traditional",
                   "dance tune", (96, 136),
                   (("fiddle",), ("acoustic guitar",), ("flute",), ("banjo",), ("harmonica",)), 3),
        Collection("aird's airs", 0.05, ("folk", "scottish"), "traditional", "air", (66, 110),
                   (("violin",), ("harp",), ("flute",))),
        Collection("palestrina", 0.08, ("renaissance", "sacred", "choral"), "Renaissance",
                   "mass movement", (52, 76),
                   (("choir",), ("recorder",), ("strings",), ("organ",))),
        Collection("monteverdi", 0.05, ("renaissance", "madrigal", "choral"), "Renaissance",
                   "madrigal", (56, 84),
                   (("choir",), ("voice", "voice", "voice", "nylon guitar"), ("recorder",))),
        Collection("trecento", 0.03, ("medieval", "early music"), "medieval", "ballata",
                   (60, 96), (("recorder", "nylon guitar"), ("voice", "harp"), ("flute",))),
        Collection("josquin", 0.02, ("renaissance", "sacred", "choral"), "Renaissance", "motet",
                   (52, 72), (("choir",), ("strings",))),
        Collection("string quartets", 0.05, ("classical", "chamber"), "Classical",
                   "string quartet movement", (66, 132), (("violin", "violin", "viola", "cello"),)),
        Collection("keyboard and songs", 0.04, ("romantic", "classical", "piano"), "Romantic",
                   "character piece", (60, 120),
                   (("piano",), ("harpsichord",), ("electric piano",), ("celesta", "piano"))),
    ]
}  # fmt: skip

_QUARTET_COMPOSERS = ("beethoven", "mozart", "haydn")
# Scores above this size (compressed MusicXML) take music21 5-30 s each to parse, which would
# dominate the build time; the ~30 quartet movements below it are plenty.
MAX_SCORE_BYTES = 64_000
_KEYBOARD_DIRS = ("chopin", "schumann_robert", "schumann_clara", "joplin", "beach", "schubert",
                  "handel", "cpebach", "corelli", "liliuokalani", "johnson_j_r", "weber")


@dataclass(frozen=True)
class CorpusRef:
    """One piece: a corpus file, and which work inside it for multi-work files (ABC)."""

    path: str  # relative to the music21 corpus root
    number: int | None
    collection: str

    @property
    def slug(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9]+", "-", self.path.rsplit(".", 1)[0]).strip("-").lower()
        return f"{stem}-{self.number}" if self.number is not None else stem


@dataclass
class CorpusPiece:
    """What a worker returns for one piece written to MIDI."""

    ref: CorpusRef
    midi_path: str
    title: str
    composer: str | None
    collection: str
    genres: list[str]
    era: str
    form: str
    orchestration: list[str]
    meter: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def corpus_root() -> Path:
    """The music21 corpus folder (found from the package, which is not imported for it: the
    import takes a second)."""
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise ImportError("music21 is not installed")
    return Path(spec.origin).parent / "corpus"


def _collection_of(rel: str) -> str | None:
    top = rel.split("/", 1)[0]
    name = rel.rsplit("/", 1)[-1]
    if top == "bach" and name.startswith("bwv") and name.endswith(".mxl"):
        return "bach chorales"
    mapping = {
        "essenFolksong": "essen folk songs",
        "oneills1850": "o'neill's irish music",
        "ryansMammoth": "ryan's mammoth collection",
        "airdsAirs": "aird's airs",
        "palestrina": "palestrina",
        "monteverdi": "monteverdi",
        "trecento": "trecento",
        "josquin": "josquin",
    }
    if top in mapping:
        return mapping[top]
    if top in _QUARTET_COMPOSERS and name.endswith(".mxl") and "movement" in name:
        return "string quartets"
    if top in _KEYBOARD_DIRS and name.rsplit(".", 1)[-1] in ("mxl", "xml", "musicxml", "krn"):
        return "keyboard and songs"
    return None


def _too_slow_to_parse(file: Path) -> bool:
    size = file.stat().st_size
    suffix = file.suffix.lower()
    if suffix == ".mxl":
        return size > MAX_SCORE_BYTES
    if suffix in (".xml", ".musicxml"):
        return size > MAX_SCORE_BYTES * 10  # uncompressed MusicXML is ~10x larger
    return False


def _abc_numbers(path: Path) -> list[int]:
    text = path.read_text(encoding="latin-1", errors="replace")
    return [int(m) for m in re.findall(r"^X:\s*(\d+)", text, flags=re.MULTILINE)]


@lru_cache(maxsize=1)
def corpus_catalog() -> dict[str, list[CorpusRef]]:
    """Every usable piece per collection, in a fixed, shuffled (seeded by name) order."""
    root = corpus_root()
    catalog: dict[str, list[CorpusRef]] = {name: [] for name in COLLECTIONS}
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.suffix.lower() not in (".mxl", ".xml", ".musicxml",
                                                              ".krn", ".abc"):
            continue
        rel = file.relative_to(root).as_posix()
        collection = _collection_of(rel)
        if collection is None or _too_slow_to_parse(file):
            continue
        if file.suffix.lower() == ".abc":
            numbers = _abc_numbers(file)
            if len(numbers) > 1:
                catalog[collection].extend(CorpusRef(rel, n, collection) for n in numbers)
                continue
        catalog[collection].append(CorpusRef(rel, None, collection))
    for refs in catalog.values():
        refs.sort(key=lambda r: hashlib.sha256(f"{r.path}#{r.number}".encode()).hexdigest())
    return catalog


def select_pieces(size: int) -> list[CorpusRef]:
    """A deterministic selection of ``size`` pieces spread over the collections by weight.

    Interleaved (largest remaining deficit first), so any prefix is itself well spread.
    """
    catalog = corpus_catalog()
    taken = {name: 0 for name in COLLECTIONS}
    chosen: list[CorpusRef] = []
    while len(chosen) < size:
        available = [n for n in COLLECTIONS if taken[n] < len(catalog[n])]
        if not available:
            break
        total = len(chosen) + 1
        name = max(available, key=lambda n: COLLECTIONS[n].weight * total - taken[n])
        chosen.append(catalog[name][taken[name]])
        taken[name] += 1
    return chosen


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def piece_to_midi(ref: CorpusRef, out_dir: str) -> CorpusPiece:
    """Parse one corpus piece and write it as a General MIDI file (runs in a worker process).

    The MIDI is built note by note with pretty_midi (not music21's MIDI writer, whose exports
    can carry tick values pretty_midi rejects). Ties are merged; repeats are not expanded.
    """
    import pretty_midi
    from music21 import converter, stream, tempo

    source = corpus_root() / ref.path
    parsed = converter.parse(source, number=ref.number) if ref.number is not None else \
        converter.parse(source)
    if isinstance(parsed, stream.Opus):
        parsed = parsed.scores[0]
    collection = COLLECTIONS[ref.collection]
    seed = _stable_int(ref.slug)
    orchestration = list(collection.orchestrations[seed % len(collection.orchestrations)])

    marks = list(parsed.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = marks[0].getQuarterBPM() if marks else None
    if qpm is None or not 30 <= qpm <= 240:
        low, high = collection.tempo_range
        qpm = float(low + (seed // 7) % (high - low + 1))
    seconds_per_quarter = 60.0 / qpm

    parts = list(parsed.parts) if isinstance(parsed, stream.Score) and parsed.parts else [parsed]
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=qpm)
    used: list[str] = []
    end_quarters = 0.0
    for index, part in enumerate(parts):
        name = orchestration[min(index, len(orchestration) - 1)]
        instrument = pretty_midi.Instrument(program=INSTRUMENTS[name], name=name)
        for element in part.flatten().stripTies().notes:
            quarter_length = float(element.quarterLength)
            if quarter_length <= 0:  # grace notes
                continue
            start_q = float(element.offset)
            end_quarters = max(end_quarters, start_q + quarter_length)
            velocity = element.volume.velocity if element.volume.velocity else 80
            for pitch in element.pitches:
                instrument.notes.append(pretty_midi.Note(
                    velocity=int(velocity), pitch=int(min(max(pitch.midi, 0), 127)),
                    start=start_q * seconds_per_quarter,
                    end=(start_q + quarter_length * 0.95) * seconds_per_quarter,
                ))
        if instrument.notes:
            pm.instruments.append(instrument)
            if name not in used:
                used.append(name)
    if not pm.instruments:
        raise ValueError("the piece has no notes")

    meter = None
    signatures = list(parsed.recurse().getElementsByClass("TimeSignature"))
    if signatures:
        ts = signatures[0]
        meter = f"{ts.numerator}/{ts.denominator}"
        pm.time_signature_changes.append(
            pretty_midi.TimeSignature(ts.numerator, ts.denominator, 0.0))
        if collection.drums_every and seed % collection.drums_every == 0:
            pm.instruments.append(_percussion(ts.numerator, ts.denominator,
                                              end_quarters, seconds_per_quarter))
            used.append("drums")

    metadata = parsed.metadata
    title = (metadata.title or metadata.movementName) if metadata else None
    title = " ".join(str(title).split()) if title else ""
    if not title or re.search(r"\.(mxl|xml|krn|abc)$", title, flags=re.IGNORECASE):
        parent = Path(ref.path).parent.name
        stem = Path(ref.path).stem.replace("movement", "movement ")
        title = f"{parent} {stem}" if parent not in ("bach", ref.path.split("/")[0]) else stem
    if ref.collection == "bach chorales":
        title = "Chorale " + Path(ref.path).stem.upper().replace("BWV", "BWV ")
    composer = metadata.composer if metadata and metadata.composer else None
    if composer is None:
        composer = _default_composer(ref)

    target = Path(out_dir) / f"{ref.slug}.mid"
    from vmb_agent.files import atomic_output

    with atomic_output(target) as tmp:
        pm.write(str(tmp))
    return CorpusPiece(
        ref=ref, midi_path=str(target), title=title[:120], composer=composer,
        collection=collection.name, genres=list(collection.genres), era=collection.era,
        form=collection.form, orchestration=used, meter=meter,
    )


def _default_composer(ref: CorpusRef) -> str | None:
    top = ref.path.split("/", 1)[0]
    names = {
        "bach": "Johann Sebastian Bach", "palestrina": "Giovanni Pierluigi da Palestrina",
        "monteverdi": "Claudio Monteverdi", "josquin": "Josquin des Prez",
        "beethoven": "Ludwig van Beethoven", "mozart": "Wolfgang Amadeus Mozart",
        "haydn": "Joseph Haydn", "chopin": "Frédéric Chopin", "joplin": "Scott Joplin",
        "schumann_robert": "Robert Schumann", "schumann_clara": "Clara Schumann",
        "handel": "George Frideric Handel", "corelli": "Arcangelo Corelli",
    }
    if top in names:
        return names[top]
    return "traditional" if COLLECTIONS[ref.collection].era == "traditional" else None


def _percussion(numerator: int, denominator: int, end_quarters: float,
                seconds_per_quarter: float):
    """A light frame-drum style pattern: low drum on the downbeat, rim on the other beats."""
    import pretty_midi

    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    beat_q = 4.0 / denominator * (3 if denominator == 8 and numerator % 3 == 0 else 1)
    beats_per_bar = numerator // 3 if denominator == 8 and numerator % 3 == 0 else numerator
    position, beat = 0.0, 0
    while position < end_quarters:
        pitch, velocity = (36, 96) if beat % max(beats_per_bar, 1) == 0 else (37, 64)
        start = position * seconds_per_quarter
        drums.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=start,
                                            end=start + 0.1))
        position += beat_q
        beat += 1
    return drums


def piece_summary(piece: CorpusPiece) -> dict[str, object]:
    return asdict(piece)
