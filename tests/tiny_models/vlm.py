"""A randomly initialised SmolVLM (Idefics3) folder, model + processor, built locally (nothing
from a hub).

``build(folder)`` writes what ``AutoModelForImageTextToText`` and ``AutoProcessor`` read: the
Idefics3 config and weights, the real Idefics3 image processor (its Pillow backend) and a
byte-level BPE tokenizer trained here on the describe prompt, with SmolVLM's special tokens and
chat template. Idefics3 is SmolVLM-256M/500M's architecture, and the only family here whose
processor needs neither torchvision nor a hub file (Qwen2-VL's wants a torchvision video
processor).

``size="tiny"`` (a 32-pixel image is 4 image tokens; ~0.2 M parameters) runs a describe in a
fraction of a second; ``size="realistic"`` has SmolVLM-256M-Instruct's sizes (SigLIP-base/16 at
512 px, 64 tokens per tile, image splitting, a 30-layer 576-wide Llama, 49,280 vocabulary
rows) for timing benchmarks.

``answer``: the tokenizer gets the whole answer as ONE token, and the weights are set so that
greedy decoding, through the real forward pass, emits it and then end-of-utterance: every token
embedding is 1 on dimension 0 (the answer's on dimension 1 instead), well above the random
rest, and the lm_head reads dimension 0 for the answer and dimension 1 for the end token (all
its other rows zero). Without ``answer`` the random model emits garbage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: SmolVLM's special tokens (pad, bos, eos, the image tokens and the tile tags)
SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
    "<image>", "<global-img>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
)  # fmt: skip
PAD, BOS, EOS, IMAGE = "<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<image>"
#: SmolVLM-Instruct's chat template
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
CORPUS = (
    "a calm harbour at dusk: slow piano, soft strings and a warm pad in a minor",
    "a busy city at night, driving drums, synth bass and bright lead at 128 bpm",
    '{"genres": ["cinematic"], "moods": ["calm"], "instruments": ["piano"], "text": "..."}',
)
STRONG = 1.0  # the steering embedding value (the random weights are ~0.02)


def _sizes(size: str) -> dict[str, Any]:
    if size == "tiny":
        return {
            "text": {
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
            },
            "vision": {
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "image_size": 32,
                "patch_size": 8,
            },
            "scale_factor": 2,
            "vocab_size": 0,
            "bpe_vocab": 1000,
            "image": {
                "do_image_splitting": False,
                "size": {"longest_edge": 32},
                "max_image_size": {"longest_edge": 32},
            },
        }
    if size == "realistic":  # HuggingFaceTB/SmolVLM-256M-Instruct
        return {
            "text": {
                "hidden_size": 576,
                "intermediate_size": 1536,
                "num_hidden_layers": 30,
                "num_attention_heads": 9,
                "num_key_value_heads": 3,
                "head_dim": 64,
                "rope_theta": 100000.0,
            },
            "vision": {
                "hidden_size": 768,
                "intermediate_size": 3072,
                "num_hidden_layers": 12,
                "num_attention_heads": 12,
                "image_size": 512,
                "patch_size": 16,
            },
            "scale_factor": 4,
            "vocab_size": 49280,
            "bpe_vocab": 8000,
            "image": {
                "do_image_splitting": True,
                "size": {"longest_edge": 2048},
                "max_image_size": {"longest_edge": 512},
            },
        }
    raise ValueError(f"size must be 'tiny' or 'realistic', not {size!r}")


def _corpus() -> list[str]:
    """What the merges are learnt from: the describe prompt and schema, so prompts are short."""
    from vmb_agent.neural.vlm import answer_schema, prompt_parts

    return [*CORPUS, *prompt_parts(), answer_schema()] * 4


def _tokenizer(vocab: int, answer: str | None) -> Any:
    """A byte-level BPE tokenizer (any text encodes), the answer one added token."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=list(SPECIALS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tokenizer.train_from_iterator(_corpus(), trainer)
    if answer is not None:
        tokenizer.add_tokens([AddedToken(answer, special=False, normalized=False)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD
    )


def _model(sizes: dict[str, Any], tokenizer: Any) -> Any:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (PAD, BOS, EOS, IMAGE)}
    text = dict(model_type="llama", vocab_size=max(sizes["vocab_size"], len(tokenizer)),
                max_position_embeddings=8192, rms_norm_eps=1e-5, pad_token_id=ids[PAD],
                bos_token_id=ids[BOS], eos_token_id=ids[EOS], **sizes["text"])  # fmt: skip
    config = Idefics3Config(text_config=text, vision_config=sizes["vision"],
                            image_token_id=ids[IMAGE], scale_factor=sizes["scale_factor"])  # fmt: skip
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.update(bos_token_id=ids[BOS], eos_token_id=ids[EOS],
                                   pad_token_id=ids[PAD])  # fmt: skip
    return model


def _answer_always(model: Any, answer_id: int, eos_id: int) -> None:
    """Greedy decoding emits the answer token, then the end token (see the module)."""
    import torch

    with torch.no_grad():
        embed = model.get_input_embeddings().weight
        embed[:, 0] = STRONG
        embed[answer_id, 0], embed[answer_id, 1] = 0.0, STRONG
        head = model.get_output_embeddings().weight
        head.zero_()
        head[answer_id, 0] = 1.0
        head[eos_id, 1] = 1.0


def build(folder: Path, size: str = "tiny", answer: str | None = None) -> Path:
    """Write a random SmolVLM-architecture model and its processor to ``folder``."""
    import torch
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    sizes = _sizes(size)
    tokenizer = _tokenizer(sizes["bpe_vocab"], answer)
    torch.manual_seed(0)
    model = _model(sizes, tokenizer)
    if answer is not None:
        answer_id = tokenizer.convert_tokens_to_ids(answer)
        _answer_always(model, answer_id, tokenizer.convert_tokens_to_ids(EOS))
    vision = sizes["vision"]
    tokens = (vision["image_size"] // vision["patch_size"]) ** 2 // sizes["scale_factor"] ** 2
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(**sizes["image"]), tokenizer=tokenizer,
        image_seq_len=tokens, chat_template=CHAT_TEMPLATE,
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
