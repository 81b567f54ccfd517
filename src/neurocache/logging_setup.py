"""Logging: console + a rotating file in the data dir, with the id of the request being
served on every line.

Python's logging is per process, so it is too: when two hubs run in one process (only the
tests do that), the one configured last owns the log file."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from logging.handlers import RotatingFileHandler

from neurocache.settings import Settings, ensure_private_dir

# A ContextVar, not a global value: each request's thread/context sees its own id.
request_id_var: ContextVar[str] = ContextVar("neurocache_request_id", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(settings: Settings) -> logging.Logger:
    """Set up the `neurocache` logger; calling it again replaces what an earlier call set."""
    logger = logging.getLogger("neurocache")
    for handler in [h for h in logger.handlers if getattr(h, "neurocache", False)]:
        logger.removeHandler(handler)
        handler.close()
    log_dir = ensure_private_dir(settings.data_dir) / "logs"
    log_dir.mkdir(exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        RotatingFileHandler(
            log_dir / "hub.log",
            maxBytes=settings.log_file_bytes,
            backupCount=settings.log_file_count,
            encoding="utf-8",
        ),
    ]
    for handler in handlers:
        handler.neurocache = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    logger.setLevel(settings.log_level)
    logger.propagate = False
    return logger
