"""Tiny random-weight models, built locally in seconds, for tests and offline smoke runs.

``build_tiny(kind)`` writes a model folder (config, weights, tokenizer or image processor) under a cache
root and returns its path, so tests load it through the same ``pipeline(task, model=folder)`` /
``from_pretrained(folder)`` code path a hub id takes. Nothing is downloaded: tokenizers are trained on a
small built-in corpus (or written by hand) and weights are random. Building is idempotent: a finished
folder (marked by a ``.tiny-done`` file) is reused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

DONE_MARK = ".tiny-done"

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a picture of a cat sitting on a red sofa in the living room",
    "Paris is the capital of France and Berlin is the capital of Germany",
    "HuggingGPT plans tasks, chooses expert models and runs them on Ray Serve",
    "the weather today is sunny with a light breeze from the west",
    "John Smith works for Acme Corporation in New York since 2019",
    "please translate this sentence into German and summarize the document",
    "images, audio and text flow between the tasks of a plan",
    "what is the answer to the question about the context given here",
    "0 1 2 3 4 5 6 7 8 9 . , ! ? ; : ' \" ( ) - _ / @ # $ % & * + = < > [ ] { }",
]

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
VIT_LABELS = ["cat", "dog", "car"]


def tiny_root(root: Path | str | None = None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get("HUGGINGGPT_TINY_DIR")
    return Path(env) if env else Path.home() / ".cache" / "hugginggpt-ray" / "tiny"


def _seed() -> None:
    import torch

    torch.manual_seed(0)


# ---------------------------------------------------------------- tokenizers


def _byte_level_bpe(special: list[str], vocab_size: int = 400):
    """A byte-level BPE tokenizer (GPT-2 style) trained on the built-in corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return tok


def _wordpiece(vocab_size: int = 400):
    """A BERT-style WordPiece tokenizer with [CLS] a [SEP] b [SEP] templates, trained on the corpus."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return tok


def _bert_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=_wordpiece(),
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )


# ---------------------------------------------------------------- builders


def _build_gpt2(folder: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_bpe(["<|endoftext|>"]),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=128,
    )
    tok.padding_side = "left"
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = eos
    model.generation_config.max_new_tokens = 16
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def _build_t5(folder: Path) -> None:
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    raw = _byte_level_bpe(["<pad>", "</s>", "<unk>"])
    raw.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", raw.token_to_id("</s>"))]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=128
    )
    config = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(config)
    model.generation_config.max_new_tokens = 16
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def _bert_config(tok, **kw):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, pad_token_id=tok.pad_token_id, **kw,
    )


def _build_bert_token(folder: Path) -> None:
    from transformers import BertForTokenClassification

    tok = _bert_tokenizer()
    config = _bert_config(
        tok, id2label=dict(enumerate(NER_LABELS)), label2id={label: i for i, label in enumerate(NER_LABELS)}
    )
    BertForTokenClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def _build_bert_qa(folder: Path) -> None:
    from transformers import BertForQuestionAnswering

    tok = _bert_tokenizer()
    BertForQuestionAnswering(_bert_config(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)


def _build_bert_cls(folder: Path) -> None:
    from transformers import BertForSequenceClassification

    tok = _bert_tokenizer()
    labels = ["NEGATIVE", "POSITIVE"]
    config = _bert_config(tok, id2label=dict(enumerate(labels)), label2id={v: k for k, v in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)


def _build_vit(folder: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, id2label=dict(enumerate(VIT_LABELS)), label2id={v: k for k, v in enumerate(VIT_LABELS)},
    )
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (``bytes_to_unicode``)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = [], 0
    for byte in range(256):
        if byte in printable:
            codes.append(byte)
        else:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def _clip_tokenizer():
    """A CLIP tokenizer from a hand-made vocabulary: every byte symbol (plain and word-final) plus a few merges."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols]
    merges = ["t h", "th e</w>", "a n", "o n", "e r", "i n"]
    for merge in merges:
        merged = merge.replace(" ", "")
        if merged not in vocab:
            vocab.append(merged)
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    # transformers 5's CLIPTokenizer takes the vocabulary and merges themselves (no vocab_file/merges_file)
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[tuple(m.split()) for m in merges],
                        model_max_length=77)
    return tok


def _sd_components(folder: Path) -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    )
    # four VAE blocks: 8× down-sampling like real Stable Diffusion, so real-layout ControlNets line up
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32, 32), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=16,
        sample_size=64,
    )
    text_config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77, projection_dim=32,
    )
    text_encoder = CLIPTextModel(text_config)
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
        steps_offset=1,
    )
    return {
        "unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler,
        "safety_checker": None, "feature_extractor": None,
    }


def _build_stable_diffusion(folder: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**_sd_components(folder), requires_safety_checker=False)
    pipe.save_pretrained(folder)


def _build_controlnet(folder: Path) -> None:
    from diffusers import ControlNetModel, UNet2DConditionModel

    base = build_tiny("stable-diffusion", folder.parent)
    unet = UNet2DConditionModel.from_pretrained(base / "unet")
    ControlNetModel.from_unet(unet).save_pretrained(folder)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "gpt2": _build_gpt2,
    "t5": _build_t5,
    "bert-token": _build_bert_token,
    "bert-qa": _build_bert_qa,
    "bert-cls": _build_bert_cls,
    "vit": _build_vit,
    "stable-diffusion": _build_stable_diffusion,
    "controlnet": _build_controlnet,
}
TINY_KINDS: tuple[str, ...] = tuple(BUILDERS)
"""Kinds :func:`build_tiny` knows."""


def build_tiny(kind: str, root: Path | str | None = None) -> Path:
    """Build (or reuse) the tiny model ``kind`` under ``root`` and return its folder."""
    if kind not in BUILDERS:
        raise KeyError(f"unknown tiny model kind {kind!r}; known: {', '.join(TINY_KINDS)}")
    folder = tiny_root(root) / kind
    if (folder / DONE_MARK).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    _seed()
    BUILDERS[kind](folder)
    (folder / DONE_MARK).write_text("ok\n", encoding="utf-8")
    return folder


if __name__ == "__main__":  # pragma: no cover - manual use: python -m deployments.tiny_models [kind ...]
    import sys
    import time

    for name in sys.argv[1:] or TINY_KINDS:
        start = time.perf_counter()
        path = build_tiny(name)
        print(f"{name:18s} {time.perf_counter() - start:6.2f} s  {path}")
