"""Log lines on stderr, as text (the default) or one JSON object per line (``log_format``).

Stderr only: in stdio mode stdout carries the MCP protocol. The JSON form has ``time`` (UTC,
ISO-8601), ``level``, ``logger``, ``message`` and, when a record carries one, ``exception``
(the formatted traceback); a log collector reads it without parsing text. The web server's own
loggers (uvicorn's) are routed through the same handler, so every line has the same form.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Send every log record to stderr in the chosen format, at ``level`` and above (a no-op
    when the root logger already has a handler, as under a test runner)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
