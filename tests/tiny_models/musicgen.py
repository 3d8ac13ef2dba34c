"""A randomly initialised MusicGen-Melody folder, built locally (nothing comes from a hub).

``build(folder)`` writes what ``MusicgenMelodyForConditionalGeneration.from_pretrained`` and
``AutoTokenizer.from_pretrained`` read (config.json, generation_config.json, the weights, a
tokenizer), so the ``musicgen-melody`` renderer runs end to end in tests without any real
weights. ``size="tiny"`` follows transformers' own MusicgenMelodyTester (a few thousand
parameters, seconds to generate); ``size="realistic"`` has musicgen-small's decoder (24 layers,
hidden 1024, 16 heads), a T5-base text encoder and the 32 kHz EnCodec with 4 codebooks, for
timing benchmarks. The weights are random: the audio is noise-like, not music.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the tokenizer's words (lower case); anything else reads as <unk>
WORDS = (
    "a", "an", "and", "the", "of", "in", "with", "for", "bpm", "key", "major", "minor", "time",
    "energy", "instruments", "form", "slow", "fast", "calm", "bright", "dark", "happy", "sad",
    "melancholic", "soft", "loud", "low", "medium", "high", "ambient", "cinematic", "electronic",
    "jazz", "lofi", "orchestral", "pop", "rock", "folk", "classical", "piano", "guitar", "bass",
    "drums", "strings", "pad", "synth", "violin", "cello", "flute", "choir", "organ", "brass",
    "harp", "c", "d", "e", "f", "g", "b", "#", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ",", ".", "/", ":", "-",
)  # fmt: skip
SPECIALS = ("<pad>", "</s>", "<unk>")  # T5's ids: pad 0, eos 1, unk 2


def _sizes(size: str) -> dict[str, dict[str, Any]]:
    """The three sub-models' config arguments for ``size``."""
    if size == "tiny":  # transformers' MusicgenMelodyTester, with a 32 kHz / 50 Hz codec
        return {
            "text": {"vocab_size": 128, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 1,
                     "num_heads": 4, "relative_attention_num_buckets": 8},
            "codec": {"hidden_size": 16, "num_filters": 4, "codebook_size": 64,
                      "codebook_dim": 16, "num_lstm_layers": 1,
                      "target_bandwidths": [1.2]},  # 1200 // (50 frames/s * 6 bits) = 4 codebooks
            "decoder": {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "ffn_dim": 32, "max_position_embeddings": 2048},
            "melody": {"chroma_length": 24},  # ~3 s of chroma at 7.8 frames/s
        }  # fmt: skip
    if size == "realistic":  # musicgen-small's decoder, T5-base, encodec_32khz
        return {
            "text": {"vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 3072,
                     "num_layers": 12, "num_heads": 12, "feed_forward_proj": "relu"},
            "codec": {"hidden_size": 128, "num_filters": 64, "codebook_size": 2048,
                      "codebook_dim": 128, "num_lstm_layers": 2,
                      "target_bandwidths": [2.2]},  # 2200 // (50 * 11) = 4 codebooks
            "decoder": {"vocab_size": 2048, "hidden_size": 1024, "num_hidden_layers": 24,
                        "num_attention_heads": 16, "ffn_dim": 4096,
                        "max_position_embeddings": 2048},
            "melody": {"chroma_length": 235},  # 30 s at 32000 / 4096 frames/s
        }  # fmt: skip
    raise ValueError(f"size must be 'tiny' or 'realistic', not {size!r}")


def _config(size: str) -> Any:
    """The MusicgenMelodyConfig (transformers 5: sub-configs passed as objects)."""
    from transformers import (
        EncodecConfig,
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        T5Config,
    )

    sizes = _sizes(size)
    text = T5Config(**sizes["text"], pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    # encodec_32khz's layout: 640-sample hop (50 codes/s), non-causal, plain residual skips
    codec = EncodecConfig(**sizes["codec"], sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4],
                          use_causal_conv=False, use_conv_shortcut=False, compress=2,
                          normalize=False)  # fmt: skip
    pad = sizes["decoder"]["vocab_size"]  # MusicGen's pad / start token is one past the codes
    decoder = MusicgenMelodyDecoderConfig(**sizes["decoder"], num_codebooks=4, pad_token_id=pad,
                                          bos_token_id=pad, decoder_start_token_id=pad,
                                          tie_word_embeddings=False)  # fmt: skip
    return MusicgenMelodyConfig(text_encoder=text, audio_encoder=codec, decoder=decoder,
                                num_chroma=12, **sizes["melody"])  # fmt: skip


def _tokenizer() -> Any:
    """A word-level tokenizer built here (T5's special ids), wrapped for AutoTokenizer."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIALS, *dict.fromkeys(WORDS)])}
    core = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence(  # words, punctuation, one token per digit
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    core.post_processor = processors.TemplateProcessing(  # T5 ends every text with </s>
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=512)  # fmt: skip


def build(folder: Path, size: str = "tiny") -> Path:
    """A random MusicGen-Melody model of ``size`` and its tokenizer saved in ``folder``
    (deterministic: torch is seeded). Returns ``folder``."""
    import torch
    from transformers import GenerationConfig, MusicgenMelodyForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = _config(size)
    torch.manual_seed(0)
    model = MusicgenMelodyForConditionalGeneration(config).eval()
    pad = config.decoder.pad_token_id
    # as the facebook/musicgen-* checkpoints ship it: sampling with classifier-free guidance
    model.generation_config = GenerationConfig(
        decoder_start_token_id=pad, pad_token_id=pad, bos_token_id=pad, do_sample=True,
        guidance_scale=3.0, max_length=1500,
    )  # fmt: skip
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    return folder
