"""A randomly initialised CLAP folder (model + processor), built locally (nothing from a hub).

``build(folder)`` writes what ``ClapModel.from_pretrained`` and ``ClapProcessor.from_pretrained``
read: config.json and the weights, the feature extractor's preprocessor_config.json and a
RoBERTa-style byte-level BPE tokenizer trained here on a few sentences. The feature extractor
is the real one (48 kHz, 64 mel bins, 10 s windows, hop 480), so the audio path is exercised
as with laion/larger_clap_music; ``size="tiny"`` shrinks only the transformers (sizes after
transformers' ClapAudioModelTester / ClapTextModelTester, a few seconds per test), and
``size="realistic"`` has larger_clap_music's sizes (HTSAT-base audio encoder, RoBERTa-base text
encoder, 512-d projection) for timing benchmarks. The weights are random: similarities mean
nothing, only shapes, norms and determinism do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: what the tokenizer's merges are learnt from (any text still encodes: byte-level BPE)
CORPUS = (
    "a calm piano piece in a minor at 72 bpm with strings and soft pads",
    "an energetic rock song with drums, bass and electric guitar at 140 bpm",
    "gentle folk waltz in d major, acoustic guitar and flute, warm and happy",
    "dark cinematic orchestral music, low brass, cello and choir, slow tempo",
    "bright electronic dance track with synth lead, driving beat and bells",
    "a jazz trio: piano, double bass and brushed drums, relaxed swing feel",
)
#: RoBERTa's special tokens and ids: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def _sizes(size: str) -> dict[str, dict[str, Any]]:
    """The text and audio sub-configs' arguments for ``size``."""
    if size == "tiny":
        return {
            "text": {"vocab_size": 512, "hidden_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "intermediate_size": 37},
            # hidden_size = patch_embeds_hidden_size * 2 ** (stages - 1)
            "audio": {"patch_embeds_hidden_size": 8, "hidden_size": 64,
                      "depths": [1, 1, 1, 1], "num_attention_heads": [2, 2, 2, 2]},
            "projection": {"projection_dim": 32},
        }
    if size == "realistic":  # laion/larger_clap_music: HTSAT-base + RoBERTa-base, 512-d
        return {
            "text": {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                     "num_attention_heads": 12, "intermediate_size": 3072},
            "audio": {"patch_embeds_hidden_size": 128, "hidden_size": 1024,
                      "depths": [2, 2, 12, 2], "num_attention_heads": [4, 8, 16, 32]},
            "projection": {"projection_dim": 512},
        }
    raise ValueError(f"size must be 'tiny' or 'realistic', not {size!r}")


def _config(size: str) -> Any:
    """The ClapConfig (transformers 5: sub-configs passed as objects)."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    sizes = _sizes(size)
    dim = sizes["projection"]["projection_dim"]
    text = ClapTextConfig(**sizes["text"], projection_dim=dim, max_position_embeddings=514,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2)  # fmt: skip
    # the real feature extractor's 10 s of 64 mel bins (1001 frames) fit a 256 x 256 input
    audio = ClapAudioConfig(**sizes["audio"], projection_dim=dim, num_mel_bins=64,
                            spec_size=256, patch_size=4, patch_stride=[4, 4],
                            window_size=8, enable_fusion=False)  # fmt: skip
    return ClapConfig(text_config=text, audio_config=audio, projection_dim=dim)


def _tokenizer() -> Any:
    """A RoBERTa-style byte-level BPE tokenizer trained on :data:`CORPUS`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import RobertaTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)  # fmt: skip
    core.train_from_iterator(CORPUS, trainer=trainer)
    return RobertaTokenizerFast(vocab=core.get_vocab(), merges=_merges(core),
                                model_max_length=512)


def _merges(core: Any) -> list[tuple[str, str]]:
    """The trained merges, as pairs."""
    import json

    merges = json.loads(core.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def _feature_extractor() -> Any:
    """larger_clap_music's feature extractor (48 kHz, 64 mels, 10 s, repeat-padded)."""
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480,
                                max_length_s=10, fft_window_size=1024, frequency_min=50,
                                frequency_max=14000, truncation="rand_trunc",
                                padding="repeatpad")  # fmt: skip


def build(folder: Path, size: str = "tiny") -> Path:
    """A random CLAP model of ``size`` and its processor saved in ``folder`` (deterministic:
    torch is seeded). Returns ``folder``."""
    import torch
    from transformers import ClapModel, ClapProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = _config(size)
    torch.manual_seed(0)
    model = ClapModel(config).eval()
    model.save_pretrained(folder)
    processor = ClapProcessor(feature_extractor=_feature_extractor(), tokenizer=_tokenizer())
    processor.save_pretrained(folder)
    return folder
