"""``embed.clap``: CLAP text and audio embeddings in one space (transformers' ``ClapModel``).

Weights: ``VMB_CLAP_MODEL``, a folder or a hub id already in the local Hugging Face cache
(laion/larger_clap_music is the intended one: HTSAT-base audio, RoBERTa-base text, 512-d).

Not the ``laion_clap`` package: it calls ``from_pretrained`` for its tokenizers at import time,
so offline it hangs, and with ``HF_HUB_OFFLINE=1`` it silently builds placeholder tokenizers
with a vocabulary of 5 (LAION-AI/CLAP#171) -- every caption then embeds to nearly the same
vector. transformers' ``ClapProcessor`` reads the tokenizer from the weights' folder.

Deterministic: text is padded to a fixed 77 tokens (LAION-CLAP's training length) so a vector
does not depend on what else is in the batch; audio is cut into windows no longer than the
feature extractor's ``max_length_s`` (10 s), which it then never crops at random, and the
windows' embeddings are averaged.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmb_agent.neural.common import (
    cached_model,
    load_failure,
    prepare,
    running,
    torch_device,
)

if TYPE_CHECKING:  # pragma: no cover
    from vmb_agent.settings import Settings

BACKEND = "clap"
#: tokens per text (LAION-CLAP is trained on 77; longer captions are cut)
TEXT_TOKENS = 77
#: texts / audio windows per forward pass
TEXT_BATCH = 32
AUDIO_BATCH = 8
#: text vectors kept (queries repeat; a repeated text gets the very same vector)
TEXT_CACHE = 4096
#: at most this many windows (of max_length_s each) are heard per waveform, evenly spread
AUDIO_WINDOWS = 3


class ClapEmbedder:
    """Text (``embed``) and audio (``embed_audio``) to L2-normalised CLAP vectors."""

    name = BACKEND

    def __init__(self, settings: Settings | None = None) -> None:
        settings, self.folder = prepare(BACKEND, settings)
        self.device_setting = settings.device
        self.dim = _projection_dim(self.folder)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------------

    def _loaded(self) -> tuple[Any, Any, str]:
        """(model, processor, device), loaded once per process and folder."""
        device = torch_device(self.device_setting)
        return cached_model((BACKEND, str(self.folder), device), lambda: self._load(device))

    def _load(self, device: str) -> tuple[Any, Any, str]:
        from transformers import ClapModel, ClapProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar inside our own progress
        try:
            processor = ClapProcessor.from_pretrained(self.folder, local_files_only=True)
            model = ClapModel.from_pretrained(self.folder, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - a bad folder fails in many ways
            raise load_failure(BACKEND, self.folder, exc) from None
        return model.to(device).eval(), processor, device

    @property
    def sample_rate(self) -> int:
        """The rate the audio encoder hears (48 kHz for LAION's models)."""
        return int(self._loaded()[1].feature_extractor.sampling_rate)

    # -- text ----------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, unit rows: CLAP text embeddings. A text seen
        before gets its cached vector (a batch's size changes the last bits otherwise)."""
        texts = [str(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), TEXT_BATCH):
            batch = missing[start:start + TEXT_BATCH]
            self._remember(batch, self._text_batch(batch))
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        fresh = [t for t in texts if t not in known]  # evicted meanwhile (a huge call)
        if fresh:
            known.update(zip(fresh, self._text_batch(fresh), strict=True))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = known[text]
        return out

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._cache[text] = vector
                self._cache.move_to_end(text)
            while len(self._cache) > TEXT_CACHE:
                self._cache.popitem(last=False)

    def _text_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        model, processor, device = self._loaded()
        tokens = processor.tokenizer(texts, padding="max_length", truncation=True,
                                     max_length=TEXT_TOKENS, return_tensors="pt")  # fmt: skip
        with running(BACKEND, self.folder), torch.inference_mode():
            features = model.get_text_features(
                input_ids=tokens["input_ids"].to(device),
                attention_mask=tokens["attention_mask"].to(device),
            )
        return _unit_rows(features)

    # -- audio ---------------------------------------------------------------------------------

    def embed_audio(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Shape (len(waveforms), dim), float32, unit rows, in the text embeddings' space.

        Each waveform (mono, or (samples, channels) averaged to mono) is resampled to the
        feature extractor's rate; up to :data:`AUDIO_WINDOWS` windows of its ``max_length_s``
        are embedded and their mean, normalised, is the waveform's vector."""
        from vmb_agent.library.audio_features import resample

        _, processor, _ = self._loaded()
        rate = int(processor.feature_extractor.sampling_rate)
        length = int(processor.feature_extractor.nb_max_samples)
        windows: list[np.ndarray] = []
        owners: list[int] = []
        for i, waveform in enumerate(waveforms):
            mono = resample(_mono(waveform), int(sample_rate), rate)
            for window in _windows(mono, length, AUDIO_WINDOWS):
                windows.append(window)
                owners.append(i)
        vectors = np.zeros((len(windows), self.dim), dtype=np.float32)
        for start in range(0, len(windows), AUDIO_BATCH):
            vectors[start:start + AUDIO_BATCH] = self._audio_batch(
                windows[start:start + AUDIO_BATCH], rate
            )
        return _mean_per_owner(vectors, np.asarray(owners), len(waveforms))

    def _audio_batch(self, windows: list[np.ndarray], rate: int) -> np.ndarray:
        import torch

        model, processor, device = self._loaded()
        features = processor.feature_extractor(windows, sampling_rate=rate, return_tensors="pt")
        # No window is longer than max_length_s, so none is cropped; the extractor's 'fusion'
        # mode would still mark one clip of the batch 'longer' at random: nobody is.
        is_longer = torch.zeros((len(windows), 1), dtype=torch.bool)
        with running(BACKEND, self.folder), torch.inference_mode():
            output = model.get_audio_features(
                input_features=features["input_features"].to(device),
                is_longer=is_longer.to(device),
            )
        return _unit_rows(output)


def _projection_dim(folder: Path) -> int:
    """The shared space's dimension, from config.json (no torch, no model loading)."""
    from vmb_agent.errors import BackendUnavailableError

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return int(config.get("projection_dim") or config["text_config"]["projection_dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendUnavailableError(
            f"{BACKEND}: the weights at {folder} have no usable config.json "
            f"({type(exc).__name__}: {str(exc)[:120]})."
        ) from None


def _unit_rows(features: Any) -> np.ndarray:
    """float32 unit rows from ``get_*_features``' result: a tensor (transformers 4) or an
    output object whose ``pooler_output`` holds the projected vectors (transformers 5)."""
    tensor = getattr(features, "pooler_output", None)
    if tensor is None:
        tensor = getattr(features, "text_embeds", None)
    if tensor is None:
        tensor = getattr(features, "audio_embeds", None)
    if tensor is None:
        tensor = features
    rows = tensor.detach().float().cpu().numpy()
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


def _mono(waveform: np.ndarray) -> np.ndarray:
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:  # (samples, channels), as soundfile and render_midi give it
        samples = samples.mean(axis=1)
    samples = samples.reshape(-1)
    if samples.size == 0:
        return np.zeros(1, dtype=np.float32)  # silence: repeat-padded to a window
    return np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)


def _windows(mono: np.ndarray, length: int, most: int) -> list[np.ndarray]:
    """Up to ``most`` windows of ``length`` samples evenly spread over ``mono`` (the whole of
    it when it is shorter than one window)."""
    if mono.size <= length:
        return [mono]
    count = min(most, int(np.ceil(mono.size / length)))
    starts = np.linspace(0, mono.size - length, count).round().astype(int)
    return [mono[s:s + length] for s in starts]


def _mean_per_owner(vectors: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, vectors.shape[1]), dtype=np.float32)
    np.add.at(out, owners, vectors)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)
