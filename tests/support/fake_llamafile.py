"""Stands in for a llamafile, which cannot be fetched here: it takes llamafile's flags
(`--server --host --port --nobrowser -c N -ngl N | --gpu disable [--embedding]`) and
serves the tiny GGUF named in FAKE_LLAMAFILE_MODEL with the hub's model-server code."""

import argparse
import os

from neurocache.llm.processes import run_model_server

parser = argparse.ArgumentParser()
parser.add_argument("--server", action="store_true")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--nobrowser", action="store_true")
parser.add_argument("-c", type=int, default=512)
parser.add_argument("-ngl", type=int, default=0)
parser.add_argument("--gpu")
parser.add_argument("--embedding", action="store_true")
args = parser.parse_args()
print(f"fake llamafile: -ngl {args.ngl} --gpu {args.gpu}", flush=True)
run_model_server(
    os.environ["FAKE_LLAMAFILE_MODEL"],
    args.host,
    args.port,
    parent_pid=None,
    embedding=args.embedding,
    n_ctx=args.c,
    n_gpu_layers=args.ngl,
)
