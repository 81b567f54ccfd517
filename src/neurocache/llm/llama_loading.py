"""Loading a model in-process with llama-cpp-python without losing the hub's own output.

With `verbose=False`, llama-cpp-python quiets a model's load by pointing the process's
standard output and error, the file descriptors themselves, at /dev/null until the load
ends. A hub is many threads: whatever another one printed meanwhile was lost with it (once,
the sign-in line of `neurocache serve`, printed while the search index rebuilt and loaded
the embedder; a probe writing a line every half millisecond during three loads of the
built-in embedder lost 278 of 525). The redirection is turned off, and llama.cpp's own log
goes to Python's logging instead (llama-cpp-python's callback reads ggml's levels one off
and printed every warning: "special_eos_id is not in special_eog_ids" at each load of the
built-in embedder).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("neurocache.llm.llama_cpp")

# ggml.h's enum ggml_log_level; CONT continues the message before it.
GGML_LOG_ERROR = 4


class _KeepOutput:
    """Stands in for `llama_cpp._utils.suppress_stdout_stderr`: leaves both streams be."""

    def __init__(self, disable: bool = True) -> None:
        self.disable = disable

    def __enter__(self) -> _KeepOutput:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


def keep_output_while_loading() -> None:
    """Turn the redirection off in the modules of llama-cpp-python that use it
    (idempotent; the library is loaded here if it was not yet)."""
    import llama_cpp
    from llama_cpp import _internals
    from llama_cpp import llama as llama_module

    for module in (llama_module, _internals):
        module.suppress_stdout_stderr = _KeepOutput  # type: ignore[attr-defined]
    llama_cpp.llama_log_set(_log_callback(), ctypes.c_void_p(0))


@functools.cache
def _log_callback() -> Any:
    """One C callback for the process's life (llama.cpp keeps the pointer): errors are
    warnings of ours, the rest debug detail."""
    import llama_cpp

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            log.log(logging.WARNING if level == GGML_LOG_ERROR else logging.DEBUG, message)

    return forward


def open_llama(path: Path, **params: Any) -> Llama:
    """A `llama_cpp.Llama` over `path`, loaded without touching the process's output
    streams; llama.cpp's log goes to the `neurocache.llm.llama_cpp` logger."""
    keep_output_while_loading()
    from llama_cpp import Llama

    return Llama(str(path), verbose=False, **params)
