"""A tiny random-weight llama GGUF that llama.cpp loads in milliseconds and that
generates, chats, streams and embeds (2 layers, 64 wide, F32).

Built with the `gguf` package; the facts that make it work:
- the vocabulary is SentencePiece-style: the 256 `<0xXX>` byte tokens (line feed is
  `<0x0A>`) and every prefix of each `▁word` piece, so any text tokenizes;
- the output rows of byte and control tokens are zero, so greedy decoding only ever
  picks whole word pieces: valid UTF-8, deterministic for a given prompt;
- `pooling_type` MEAN gives one vector per text when embedding;
- `tokenizer.chat_template` makes chat completion work.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

WORDS = [
    "the",
    "memory",
    "hub",
    "keeps",
    "what",
    "you",
    "read",
    "write",
    "and",
    "say",
    "answers",
    "from",
    "it",
    "with",
    "sources",
    "local",
    "model",
    "page",
    "document",
    "note",
    "chat",
    "agent",
    "search",
    "find",
    "remember",
    "question",
    "answer",
    "cat",
    "dog",
    "tree",
    "river",
    "mountain",
    "city",
    "light",
    "dark",
    "fast",
    "slow",
    "red",
    "green",
    "blue",
    "one",
    "two",
    "three",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)

NORMAL, UNKNOWN, CONTROL, BYTE = (
    gguf.TokenType.NORMAL,
    gguf.TokenType.UNKNOWN,
    gguf.TokenType.CONTROL,
    gguf.TokenType.BYTE,
)


def vocabulary(words: list[str] = WORDS) -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"]
    types = [UNKNOWN, CONTROL, CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [BYTE] * 256
    pieces: list[str] = []
    for word in words:
        piece = "▁" + word
        pieces += [piece[:i] for i in range(1, len(piece) + 1) if piece[:i] not in pieces]
    tokens += pieces
    types += [NORMAL] * len(pieces)
    # Longer pieces score higher, so the tokenizer prefers whole words.
    scores = [0.0] * (3 + 256) + [float(len(p)) for p in pieces]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(
    path: Path,
    *,
    n_embd: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_ff: int = 128,
    n_ctx: int = 512,
    seed: int = 0,
    name: str = "tiny-random-llama",
) -> Path:
    tokens, scores, types = vocabulary()
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    output = weights(len(tokens), n_embd)
    output[[i for i, t in enumerate(types) if t != NORMAL]] = 0.0
    tensors = {"token_embd.weight": weights(len(tokens), n_embd), "output.weight": output}
    for i in range(n_layer):
        for part in ("q", "k", "v", "output"):
            tensors[f"blk.{i}.attn_{part}.weight"] = weights(n_embd, n_embd)
        tensors[f"blk.{i}.ffn_gate.weight"] = weights(n_ff, n_embd)
        tensors[f"blk.{i}.ffn_up.weight"] = weights(n_ff, n_embd)
        tensors[f"blk.{i}.ffn_down.weight"] = weights(n_embd, n_ff)
    return _write_llama(
        path,
        name,
        (tokens, scores, types),
        tensors,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        n_ff=n_ff,
        n_ctx=n_ctx,
    )


def write_parrot_llama(
    path: Path, words: tuple[str, str] = ("@alpha", "@beta"), n_embd: int = 64, n_ctx: int = 2048
) -> Path:
    """A llama that, whatever it is asked, says `first second first second …` (greedy).

    Every layer is zero, so the hidden state at a position is the embedding of its token
    alone, and the next token depends only on the current one: `second` follows `first`,
    `first` follows anything else. Agents whose handles are the two words mention each
    other in every reply, which is what a test of agents answering agents needs."""
    first, second = words
    tokens, scores, types = vocabulary([*WORDS, first, second])
    index = {t: i for i, t in enumerate(tokens)}
    a, b = index["▁" + first], index["▁" + second]
    other, after_a, after_b = np.eye(n_embd, dtype=np.float32)[:3]
    embeddings = np.tile(other, (len(tokens), 1))
    embeddings[a], embeddings[b] = after_a, after_b
    output = np.zeros((len(tokens), n_embd), dtype=np.float32)
    output[a] = 10 * (other + after_b)  # after anything but `first`, and after `second`
    output[b] = 10 * after_a  # after `first`
    n_ff = 16
    zeros = {
        f"blk.0.attn_{part}.weight": np.zeros((n_embd, n_embd), dtype=np.float32)
        for part in ("q", "k", "v", "output")
    }
    zeros |= {
        "blk.0.ffn_gate.weight": np.zeros((n_ff, n_embd), dtype=np.float32),
        "blk.0.ffn_up.weight": np.zeros((n_ff, n_embd), dtype=np.float32),
        "blk.0.ffn_down.weight": np.zeros((n_embd, n_ff), dtype=np.float32),
    }
    return _write_llama(
        path,
        "parrot-llama",
        (tokens, scores, types),
        {"token_embd.weight": embeddings, "output.weight": output, **zeros},
        n_embd=n_embd,
        n_layer=1,
        n_head=4,
        n_ff=n_ff,
        n_ctx=n_ctx,
    )


def _write_llama(
    path: Path,
    name: str,
    vocab: tuple[list[str], list[float], list[int]],
    tensors: dict[str, np.ndarray],
    *,
    n_embd: int,
    n_layer: int,
    n_head: int,
    n_ff: int,
    n_ctx: int,
) -> Path:
    """The GGUF: its metadata, `tensors`, and the norms (all ones) every llama has."""
    tokens, scores, types = vocab
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_chat_template(CHAT_TEMPLATE)
    ones = np.ones(n_embd, dtype=np.float32)
    norms = {"output_norm.weight": ones}
    for i in range(n_layer):
        norms |= {f"blk.{i}.attn_norm.weight": ones, f"blk.{i}.ffn_norm.weight": ones}
    for tensor_name, values in {**tensors, **norms}.items():
        writer.add_tensor(tensor_name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_unknown_architecture(path: Path, architecture: str = "frobnitz") -> Path:
    """A well-formed GGUF of an architecture llama.cpp does not know: it reads the header,
    then refuses the file (`unknown model architecture: 'frobnitz'`)."""
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("not-a-model-llama-cpp-knows")
    writer.add_context_length(256)
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_reranker(
    path: Path,
    *,
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 2,
    n_ff: int = 64,
    seed: int = 0,
) -> Path:
    """A random-weight cross-encoder (BERT, rank pooling: one relevance score per query and
    passage) that llama.cpp loads in milliseconds; its vocabulary is the built-in
    embedder's WordPiece, so any text tokenizes. It ranks by noise, deterministically:
    enough to prove the plumbing, nothing about quality."""
    from neurocache.llm.embedder import BUILTIN_MODEL

    source = gguf.GGUFReader(str(BUILTIN_MODEL))

    def field(name: str):
        part = source.fields[name]
        return [
            bytes(part.parts[i]).decode()
            if part.types[-1] == gguf.GGUFValueType.STRING
            else part.parts[i].tolist()[0]
            for i in part.data
        ]

    tokens, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.token_type")
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_name("tiny-random-reranker")
    writer.add_context_length(512)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff)
    writer.add_block_count(n_layer)
    writer.add_head_count(n_head)
    writer.add_layer_norm_eps(1e-12)
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.RANK)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("bert")
    writer.add_token_type_count(2)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_scores([0.0] * len(tokens))
    for key, value in (
        ("unk", 100),
        ("pad", 0),
        ("mask", 103),
        ("bos", 101),
        ("eos", 102),
        ("sep", 102),
    ):
        getattr(writer, f"add_{key}_token_id")(value)
    ones, zeros = np.ones(n_embd, np.float32), np.zeros(n_embd, np.float32)
    tensors = {
        "token_embd.weight": weights(len(tokens), n_embd),
        "position_embd.weight": weights(512, n_embd),
        "token_types.weight": weights(2, n_embd),
        "token_embd_norm.weight": ones,
        "token_embd_norm.bias": zeros,
        "cls.weight": weights(n_embd, n_embd),
        "cls.bias": zeros,
        "cls.output.weight": weights(1, n_embd),
        "cls.output.bias": np.zeros(1, np.float32),
    }
    for i in range(n_layer):
        for part in ("q", "k", "v", "output"):
            tensors[f"blk.{i}.attn_{part}.weight"] = weights(n_embd, n_embd)
            tensors[f"blk.{i}.attn_{part}.bias"] = zeros
        tensors |= {
            f"blk.{i}.attn_output_norm.weight": ones,
            f"blk.{i}.attn_output_norm.bias": zeros,
            f"blk.{i}.ffn_up.weight": weights(n_ff, n_embd),
            f"blk.{i}.ffn_up.bias": np.zeros(n_ff, np.float32),
            f"blk.{i}.ffn_down.weight": weights(n_embd, n_ff),
            f"blk.{i}.ffn_down.bias": zeros,
            f"blk.{i}.layer_output_norm.weight": ones,
            f"blk.{i}.layer_output_norm.bias": zeros,
        }
    for name, values in tensors.items():
        writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
