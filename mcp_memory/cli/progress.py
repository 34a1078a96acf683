"""A small progress bar for long CLI jobs, drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar.advance(n)`` as work is done, ``bar.close()`` at the end; silent when not a TTY."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 30):
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self._stream = stream or sys.stderr
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._width = width
        self._start = time.monotonic()
        self._drawn = 0.0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self._enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(self._width * min(share, 1.0))
        rate = self.done / max(now - self._start, 1e-9)
        self._stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self._width - filled)}] "
            f"{self.done}/{self.total} ({rate:,.0f}/s)"
        )
        self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
