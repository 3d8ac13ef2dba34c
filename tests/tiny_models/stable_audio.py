"""A randomly initialised Stable Audio pipeline saved as a diffusers folder, built offline.

``build(folder)`` writes what ``StableAudioPipeline.from_pretrained(folder)`` loads: the same
component classes as Stable Audio Open 1.0 (``StableAudioDiTModel``, ``AutoencoderOobleck``, a
T5 encoder, ``StableAudioProjectionModel``, ``CosineDPMSolverMultistepScheduler``, a T5
tokenizer), with random weights. Nothing comes from a hub: the tokenizer's vocabulary is made
here (T5's Unigram layout: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, pieces, then sentinels).

``size="tiny"`` (the tests): 8 kHz, a 2.048 s window (256 latents x hop 64), a few thousand
parameters; a window takes a fraction of a second on a CPU, and a few seconds of music need
several windows, so the renderer's segmenting is exercised.

``size="realistic"`` (benchmarks): Stable Audio Open 1.0's sizes, from its stable-audio-tools
``model_config.json`` as diffusers' ``scripts/convert_stable_audio.py`` maps it: DiT 24 layers,
24 heads x 64 (width 1536), 12 key/value heads, cross-attention 768, global conditioning 1536,
time projection 256, 1024 latents of 64 channels; Oobleck VAE 44.1 kHz stereo, 128 channels,
multiples 1-2-4-8-16, strides 2-4-4-8-8 (hop 2048: a 47.55 s window); T5-base encoder (12
layers, d_model 768, d_ff 3072, 12 heads, vocabulary 32128); projection 768, seconds 0-512;
scheduler sigma 0.3-500, v-prediction. About 1.2 billion parameters (4.7 GB in float32).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

#: the words the tiny vocabulary knows whole (everything else is spelled out in letters)
WORDS = ("music", "piano", "bass", "drums", "guitar", "strings", "synth", "pad", "calm", "energy",
         "high", "low", "medium", "quality", "bpm", "major", "minor", "style", "key", "the", "a",
         "and", "with", "slow", "fast", "soft", "bright", "dark", "ambient", "jazz", "pop", "rock",
         "cinematic", "lofi", "noise", "instruments")  # fmt: skip

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "dit": {"sample_size": 256, "in_channels": 2, "num_layers": 2, "attention_head_dim": 8,
                "num_attention_heads": 2, "num_key_value_attention_heads": 1, "out_channels": 2,
                "cross_attention_dim": 8, "time_proj_dim": 8, "global_states_input_dim": 16,
                "cross_attention_input_dim": 8},
        "vae": {"encoder_hidden_size": 4, "downsampling_ratios": [2, 4, 8],
                "channel_multiples": [1, 2, 2], "decoder_channels": 4,
                "decoder_input_channels": 2, "audio_channels": 2, "sampling_rate": 8000},
        "t5": {"d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 2, "num_heads": 2},
        "projection": {"conditioning_dim": 8, "min_value": 0, "max_value": 64},
        "vocab_pieces": None,  # the letters, digits and WORDS only
        "extra_ids": 0,
        "max_length": 32,
    },
    "realistic": {
        "dit": {"sample_size": 1024, "in_channels": 64, "num_layers": 24, "attention_head_dim": 64,
                "num_attention_heads": 24, "num_key_value_attention_heads": 12, "out_channels": 64,
                "cross_attention_dim": 768, "time_proj_dim": 256, "global_states_input_dim": 1536,
                "cross_attention_input_dim": 768},
        "vae": {"encoder_hidden_size": 128, "downsampling_ratios": [2, 4, 4, 8, 8],
                "channel_multiples": [1, 2, 4, 8, 16], "decoder_channels": 128,
                "decoder_input_channels": 64, "audio_channels": 2, "sampling_rate": 44100},
        "t5": {"d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12, "num_heads": 12,
               "vocab_size": 32128},
        "projection": {"conditioning_dim": 768, "min_value": 0, "max_value": 512},
        "vocab_pieces": 32000,  # sentencepiece pieces before T5's 100 sentinels (32100 tokens)
        "extra_ids": 100,
        "max_length": 128,
    },
}  # fmt: skip


def build(folder: Path, size: str = "tiny") -> Path:
    """Build a random Stable Audio pipeline of ``size`` (``tiny`` or ``realistic``) and save it
    into ``folder`` (deterministic: torch is seeded before each component)."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )

    spec = SIZES[size]
    tokenizer = _tokenizer(spec["vocab_pieces"], spec["extra_ids"], spec["max_length"])
    torch.manual_seed(0)
    transformer = StableAudioDiTModel(**spec["dit"])
    torch.manual_seed(1)
    vae = AutoencoderOobleck(**spec["vae"])
    torch.manual_seed(2)
    text_encoder = _t5_encoder(spec["t5"], vocab_size=spec["t5"].get("vocab_size", len(tokenizer)))
    torch.manual_seed(3)
    projection = StableAudioProjectionModel(text_encoder_dim=spec["t5"]["d_model"],
                                            **spec["projection"])  # fmt: skip
    # Stable Audio Open's sampler: DPM-Solver++ (2M SDE) on an exponential schedule, v-prediction
    scheduler = CosineDPMSolverMultistepScheduler(
        sigma_min=0.3, sigma_max=500, sigma_data=1.0, sigma_schedule="exponential",
        solver_order=2, prediction_type="v_prediction",
    )  # fmt: skip
    pipe = StableAudioPipeline(
        vae=vae, text_encoder=text_encoder, projection_model=projection, tokenizer=tokenizer,
        transformer=transformer, scheduler=scheduler,
    )  # fmt: skip
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


def _t5_encoder(dims: dict[str, Any], vocab_size: int) -> Any:
    """A T5 encoder (T5-base's layout: relu feed-forward, 32 relative-position buckets)."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size, d_model=dims["d_model"], d_kv=dims["d_kv"], d_ff=dims["d_ff"],
        num_layers=dims["num_layers"], num_heads=dims["num_heads"], feed_forward_proj="relu",
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        dropout_rate=0.1, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, is_encoder_decoder=False, use_cache=False,
    )  # fmt: skip
    return T5EncoderModel(config).eval()


def _tokenizer(n_pieces: int | None, extra_ids: int, max_length: int) -> Any:
    """A T5 tokenizer over a vocabulary made here: the letters, digits and punctuation (word
    start and inside), :data:`WORDS`, and fillers up to ``n_pieces`` (T5-base's count)."""
    from transformers import T5Tokenizer

    characters = string.ascii_lowercase + string.ascii_uppercase + string.digits + ".,;:-'!?#/()"
    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{word}", -4.0) for word in WORDS]
    vocab += [(f"▁{c}", -8.0) for c in characters] + [(c, -9.0) for c in characters]
    fillers = max(0, (n_pieces or 0) - len(vocab))  # sentencepiece counts the specials too
    vocab += [(f"▁piece{i}", -20.0) for i in range(fillers)]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in reversed(range(extra_ids))]
    return T5Tokenizer(vocab=vocab, extra_ids=extra_ids, model_max_length=max_length)
