"""Logging set-up shared by every workflow script."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to ``path`` (the rule's ``log:`` file) and to stderr; return the genrec logger.

    Also routes Python warnings into the log, so library warnings end up in the
    rule's log file instead of being lost.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger("genrec")
