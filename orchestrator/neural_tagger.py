"""The neural half of the task tagger: MiniLM fine-tuned to read which TaskBench tasks a request needs.

The logistic regression in ``task_tagger.py`` sees words and word pairs; this model reads the request
(files and quotes masked, as there) followed by the tasks the cue planner chose, through the
all-MiniLM-L6-v2 encoder the planner already loads from its PyPI package. Only the top ``top`` layers
are tuned, by LoRA (a low-rank update of each linear layer), with a linear head on the mean of the token
vectors. So the model file holds a few hundred thousand numbers, not the encoder: loading adds the
low-rank updates to a fresh copy of the packaged encoder's weights, and inference is one encoder pass
(about 20 ms per TaskBench request on one CPU thread).

Fitting (:func:`fit_neural_tagger`, ``hugginggpt train-tagger --neural-epochs N``) runs the frozen lower
layers once per request and trains the rest: about 4 minutes per epoch over 7k requests on 2 CPU cores.
"""

from __future__ import annotations

import copy
import functools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from orchestrator.embedded_planner import minilm_backend


def neural_text(masked_request: str, cue_tools: Sequence[str]) -> str:
    """What the model reads: the masked request, then the cue planner's tasks."""
    return masked_request + " [SEP] " + ", ".join(cue_tools)


@dataclass
class NeuralTagger:
    """LoRA updates for the encoder's top layers (``lora[name] = (A, B)``, name ``"<layer>.<module>"``),
    the head, and the standardisation of the pooled vector the head was trained on."""

    tools: list[str]
    lora: dict[str, tuple[np.ndarray, np.ndarray]]
    head_weight: np.ndarray
    head_bias: np.ndarray
    shift: np.ndarray
    spread: np.ndarray
    scale: float
    meta: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Each tool's probability for each text (rows: texts, columns: :attr:`tools`)."""
        tokenizer, model = self._model
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
            pooled = _pool(hidden, batch["attention_mask"]).numpy()
        logits = ((pooled - self.shift) / self.spread) @ self.head_weight.T + self.head_bias
        return 1.0 / (1.0 + np.exp(-logits))

    def load(self) -> None:
        """Build the tuned encoder now (about 1 s), rather than on the first request."""
        _ = self._model

    @functools.cached_property
    def _model(self) -> tuple[Any, Any]:
        backend = minilm_backend()  # a fresh encoder: the shared embedder stays untouched
        tokenizer, model = backend.tokenizer, backend.model
        modules = dict(model.encoder.layer.named_modules())
        with torch.no_grad():
            for name, (a, b) in self.lora.items():  # name: "<layer index>.<module path>", as named_modules says
                modules[name].weight += torch.from_numpy(self.scale * (b.astype(np.float32) @ a.astype(np.float32)))
        return tokenizer, model.eval()

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The model as named arrays (float16 weights), for ``np.savez``."""
        out = {f"{prefix}head_weight": self.head_weight.astype(np.float32),
               f"{prefix}head_bias": self.head_bias.astype(np.float32),
               f"{prefix}shift": self.shift.astype(np.float32), f"{prefix}spread": self.spread.astype(np.float32),
               f"{prefix}scale": np.array(self.scale), f"{prefix}lora_names": np.array(sorted(self.lora))}
        for i, name in enumerate(sorted(self.lora)):
            out[f"{prefix}lora_a_{i}"] = self.lora[name][0].astype(np.float16)
            out[f"{prefix}lora_b_{i}"] = self.lora[name][1].astype(np.float16)
        return out

    @classmethod
    def from_arrays(cls, data: Any, prefix: str, tools: list[str], meta: dict[str, Any]) -> NeuralTagger:
        names = [str(n) for n in data[f"{prefix}lora_names"]]
        lora = {name: (data[f"{prefix}lora_a_{i}"], data[f"{prefix}lora_b_{i}"]) for i, name in enumerate(names)}
        return cls(tools=tools, lora=lora, head_weight=data[f"{prefix}head_weight"],
                   head_bias=data[f"{prefix}head_bias"], shift=data[f"{prefix}shift"],
                   spread=data[f"{prefix}spread"], scale=float(data[f"{prefix}scale"]), meta=meta)


MAX_TOKENS = 160
"""Requests are cut at this many tokens (TaskBench's longest are about 150)."""


def _pool(hidden: Any, mask: Any) -> Any:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def fit_neural_tagger(texts: Sequence[str], labels: np.ndarray, tools: Sequence[str], *, epochs: int = 5,
                      top: int = 2, rank: int = 16, alpha: float = 32.0, batch: int = 32, rate: float = 3e-3,
                      seed: int = 0, log: Callable[[str], None] = print) -> NeuralTagger:
    """Fit on ``texts`` (see :func:`neural_text`) with 0/1 ``labels`` (one column per tool): the encoder's
    lower layers run once per text, LoRA (``rank``) on the top ``top`` layers and the head are trained with
    AdamW on a one-cycle schedule."""
    torch.manual_seed(seed)
    shuffle = random.Random(seed)
    backend = minilm_backend()
    tokenizer, base = backend.tokenizer, backend.model
    started = time.perf_counter()
    states = _lower_states(tokenizer, base, texts, top)
    log(f"lower layers run over {len(texts)} requests in {time.perf_counter() - started:.0f} s")
    model = _Trainable(base, top, len(tools), rank, alpha)
    with torch.no_grad():
        pooled = torch.cat([model.pooled(*_padded(states[i:i + 64])) for i in range(0, len(states), 64)])
        model.shift.copy_(pooled.mean(0))
        model.spread.copy_(pooled.std(0) + 1e-6)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=rate, weight_decay=0.01)
    steps = epochs * math.ceil(len(states) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=rate, total_steps=max(1, steps), pct_start=0.1)
    targets = torch.tensor(np.asarray(labels), dtype=torch.float32)
    loss_of = nn.BCEWithLogitsLoss()
    order = list(range(len(states)))
    for epoch in range(epochs):
        shuffle.shuffle(order)
        model.train()
        total, started = 0.0, time.perf_counter()
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            loss = loss_of(model(*_padded([states[i] for i in rows])), targets[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f} ({time.perf_counter() - started:.0f} s)")
    first = base.config.num_hidden_layers - top
    lora = {}
    for offset, layer in enumerate(model.layers):
        for name, module in layer.named_modules():
            if isinstance(module, _LoRA):
                lora[f"{first + offset}.{name}"] = (module.a.detach().numpy().copy(), module.b.detach().numpy().copy())
    return NeuralTagger(tools=list(tools), lora=lora, head_weight=model.head.weight.detach().numpy().copy(),
                        head_bias=model.head.bias.detach().numpy().copy(), shift=model.shift.numpy().copy(),
                        spread=model.spread.numpy().copy(), scale=alpha / rank,
                        meta={"epochs": epochs, "top": top, "rank": rank, "records": len(texts)})


def _lower_states(tokenizer: Any, base: Any, texts: Sequence[str], top: int) -> list[torch.Tensor]:
    """Each text's token vectors entering the top ``top`` layers (which never change in training)."""
    states = []
    below = base.config.num_hidden_layers - top
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(list(texts[start:start + 64]), padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt")
            hidden = base(**batch, output_hidden_states=True).hidden_states[below]
            for row, length in enumerate(batch["attention_mask"].sum(1).tolist()):
                states.append(hidden[row, :length].clone())
    return states


def _padded(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(s.shape[0] for s in states)
    hidden = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.long)
    for row, state in enumerate(states):
        hidden[row, :len(state)] = state
        mask[row, :len(state)] = 1
    return hidden, mask


class _LoRA(nn.Module):
    """A frozen linear layer plus a trained low-rank update ``scale · B A`` (B starts at zero, so training
    starts from the packaged encoder)."""

    def __init__(self, linear: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.linear = linear
        self.a = nn.Parameter(torch.randn(rank, linear.in_features) / math.sqrt(linear.in_features))
        self.b = nn.Parameter(torch.zeros(linear.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + (x @ self.a.T @ self.b.T) * self.scale


class _Trainable(nn.Module):
    """A copy of the encoder's top layers with LoRA in every linear layer, and the head."""

    def __init__(self, base: Any, top: int, labels: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(base.encoder.layer[-top:]))
        for p in self.layers.parameters():
            p.requires_grad = False
        for layer in self.layers:
            for parent in list(layer.modules()):
                for child_name, child in list(parent.named_children()):
                    if isinstance(child, nn.Linear):
                        setattr(parent, child_name, _LoRA(child, rank, alpha))
        self.head = nn.Linear(base.config.hidden_size, labels)
        self.register_buffer("shift", torch.zeros(base.config.hidden_size))
        self.register_buffer("spread", torch.ones(base.config.hidden_size))

    def pooled(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        additive = (1 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=additive)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return (_pool(hidden, mask) - self.shift) / self.spread

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(hidden, mask))
