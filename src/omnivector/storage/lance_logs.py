"""Lance's own log output, kept off the user's terminal: it goes to ``omnivector.lance``.

Lance logs from Rust (``[... WARN lance::index::vector] ...``, KMeans warnings, the
``_distance`` deprecation notice) straight to stderr, and from Python to the ``pylance``
logger at INFO (index build timings), which any ``logging.basicConfig()`` prints. Neither is
something a user of omnivector can act on. :func:`route` sends both to the
``omnivector.lance`` logger at DEBUG:

- Rust: Lance writes to ``LANCE_LOG_FILE`` when it is set as the extension loads; it is
  pointed at a pipe whose reader thread logs each line.
- Python: the ``pylance`` logger gets a handler that logs its records again at DEBUG and
  stops propagating them.

Whoever set ``LANCE_LOG`` or ``LANCE_LOG_FILE`` asked for Lance's logs: they are left as
they are. Where Lance was imported before omnivector, its Rust logger already writes to
stderr and only the Python side is routed. Importing this module routes them (the package
imports it before anything imports Lance).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading

__all__ = ["LANCE_LOGGER", "route"]

LANCE_LOGGER = logging.getLogger("omnivector.lance")

_USER_SETTINGS = ("LANCE_LOG", "LANCE_LOG_FILE")
# room for bursts of log lines while the reader thread waits for the GIL
_PIPE_BYTES = 1 << 20


class _Forward(logging.Handler):
    """Logs pylance's records again on ``omnivector.lance`` at DEBUG."""

    def emit(self, record: logging.LogRecord) -> None:
        LANCE_LOGGER.debug("pylance: %s", record.getMessage())


def route() -> None:
    """Send Lance's Rust and Python log output to ``omnivector.lance`` at DEBUG (call once,
    before anything imports ``lance``)."""
    if any(name in os.environ for name in _USER_SETTINGS):
        return
    if "lance" not in sys.modules:
        _route_rust()
    from lance.log import LOGGER

    LOGGER.addHandler(_Forward())
    LOGGER.propagate = False


def _route_rust() -> None:
    """Import lance with its Rust log file set to a pipe that a daemon thread reads."""
    if not hasattr(os, "mkfifo"):  # not a POSIX system: Lance keeps writing to stderr
        return
    folder = tempfile.mkdtemp(prefix="omnivector-lance-log-")
    path = os.path.join(folder, "pipe")
    try:
        os.mkfifo(path, 0o600)
        # the reader opens first (without blocking), so Lance's open for writing succeeds
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.environ["LANCE_LOG_FILE"] = path
        try:
            import lance  # noqa: F401  (its extension opens the pipe as it loads)
        finally:
            # child processes route their own logs
            del os.environ["LANCE_LOG_FILE"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    os.set_blocking(reader, True)
    try:
        import fcntl

        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: the default 64 KiB pipe
    threading.Thread(
        target=_forward_lines, args=(reader,), name="omnivector-lance-log", daemon=True
    ).start()


def _forward_lines(reader: int) -> None:
    """Log what Lance writes until it closes the pipe (at exit): one record per message,
    its indented "Help:" lines included."""
    pending = b""
    while True:
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        message: list[str] = []
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if message and not text.startswith((" ", "\t")):
                LANCE_LOGGER.debug("%s", "\n".join(message))
                message = []
            if text:
                message.append(text)
        if message:
            LANCE_LOGGER.debug("%s", "\n".join(message))
    os.close(reader)


route()
