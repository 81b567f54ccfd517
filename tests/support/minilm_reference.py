"""A reference implementation of all-MiniLM-L6-v2 in numpy, straight from the published
weights and tokenizer (Hugging Face `tokenizers`), to check the hub's llama.cpp embedder
against: BERT encoder, mean pooling, the sentence-transformers 256-token limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256
HEADS = 12


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-x * x))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class ReferenceMiniLM:
    def __init__(self, model_dir: Path) -> None:
        self.w = {
            k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()
        }
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def embed(self, text: str) -> np.ndarray:
        w = self.w
        ids = np.array(self.token_ids(text))
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for layer in range(6):
            x = self._layer(x, f"encoder.layer.{layer}.")
        pooled = x.mean(0)
        return pooled / np.linalg.norm(pooled)

    def _layer(self, x: np.ndarray, p: str) -> np.ndarray:
        w = self.w

        def dense(name: str, h: np.ndarray) -> np.ndarray:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        n, width = x.shape
        head = width // HEADS
        q, k, v = (
            dense(f"attention.self.{n_}", x).reshape(n, HEADS, head).transpose(1, 0, 2)
            for n_ in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = scores / scores.sum(-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(n, width)
        x = layer_norm(
            x + dense("attention.output.dense", context),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        out = dense("output.dense", gelu(dense("intermediate.dense", x)))
        return layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
