"""Logging set-up shared by every workflow script."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path


def _log_uncaught(exc_type, exc, tb) -> None:
    """Write an uncaught exception to the log (the rule's log file and stderr).

    The traceback comes first and the error itself last, as one line
    ``<Type>: <message>`` that names the file, key or line the library put in it:
    what a user opening the rule's log after "check log file(s)" needs to see.
    """
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logger = logging.getLogger("genrec")
    logger.error("traceback:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)).rstrip())
    logger.error("FAILED: %s: %s", exc_type.__name__, exc)


def setup_logging(path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to ``path`` (the rule's ``log:`` file) and to stderr; return the genrec logger.

    Also routes Python warnings into the log, so library warnings end up in the
    rule's log file instead of being lost, and installs an exception hook that
    writes an uncaught exception (traceback, then the error message as the last
    line) to the same log before the script exits non-zero.
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
    sys.excepthook = _log_uncaught
    return logging.getLogger("genrec")
