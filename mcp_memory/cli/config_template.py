"""The commented config file `mcp-memory config init` writes, generated from ``Settings``.

Generated rather than copied so that it always lists every key with its current default: each
key is written commented out (``# key = default``), so the file changes nothing until a line is
uncommented, and later versions' defaults still apply to the keys left alone.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from mcp_memory.config import Settings

HEADER = """\
# mcp-memory configuration. Every key is listed with its default, commented out: uncomment a
# line to change it. Read from --config PATH, else $MCP_MEMORY_CONFIG, else this file in the
# user config dir. Environment variables override it: MCP_MEMORY_DATA_DIR=/path, nested keys
# with a double underscore (MCP_MEMORY_VECTOR__BACKEND=qdrant). Unknown keys are refused.
# Check the result with `mcp-memory doctor`. Full notes: config.example.toml in the sources.
"""

NOTES = {
    "data_dir": "Where memories live (ledger.sqlite3 + chroma/ or qdrant/).",
    "log_level": "Log verbosity on stderr: DEBUG, INFO, WARNING or ERROR.",
    "embedding.model": "A sentence-transformers model name available offline, or a local model "
    "directory. After changing it, run `mcp-memory reindex`.",
    "embedding.backend": '"onnx" (the model converted once, kept in cache_dir, run by ONNX '
    'Runtime: fast start, same vectors), "torch" (sentence-transformers) or "auto" (ONNX where '
    "the model converts, else torch).",
    "storage.backend": '"sqlite" (a file in data_dir) or "postgres" (a database any number of '
    "servers share; see the README's Many machines).",
    "storage.dsn": "With postgres: postgresql://USER@HOST:5432/DATABASE (a password in it is "
    "never shown; prefer PGPASSWORD or ~/.pgpass, or MCP_MEMORY_STORAGE__DSN).",
    "vector.backend": '"auto" (Chroma beside sqlite, pgvector beside postgres), "chroma", '
    '"qdrant" or "pgvector" (the postgres database). To move a store, run `mcp-memory reindex '
    "--vector-backend ...` (servers keep serving), then set this.",
    "vector.mode": '"embedded" (the engine in-process: data_dir/chroma or data_dir/qdrant) or '
    '"server" (Chroma: host, port, ... below; Qdrant: [vector.qdrant] url or host/port).',
    "vector.collection": "Collection name (a reindex serves it from <name>-<suffix>).",
    "vector.hnsw_m": "Chroma's HNSW graph (Qdrant's is in [vector.qdrant]).",
    "vector.host": "Chroma in server mode: the Chroma server (`chroma run`, or Chroma's "
    "distributed/cloud deployment) ...",
    "vector.qdrant.url": 'Qdrant in server mode: e.g. "https://xyz.cloud.qdrant.io:6333"; '
    "empty: host, port and https below.",
    "vector.qdrant.api_key": "Prefer MCP_MEMORY_VECTOR__QDRANT__API_KEY to keep it out of the "
    "file; never logged.",
    "vector.qdrant.hnsw_m": "A new collection's HNSW graph and segments (Qdrant's units: the "
    "thresholds are KB of vectors); hnsw_ef is the search-time candidate list.",
    "vector.headers": '... and extra HTTP headers, e.g. { x-chroma-token = "..." }.',
    "disk.min_free_mb": "Writes are refused while the data dir's disk has less free space "
    "than this (MiB): Chroma and embedded Qdrant can hang when a write meets a full disk "
    "(keep 32+ with Qdrant). 0: no reserve.",
    "server.transport": "stdio (the client starts the server), sse or http.",
    "security.token_file": "With no [[security.tokens]], a network server generates its token "
    "here on first start (readable by you alone) and requires it; --no-auth opts out on "
    "loopback only.",
    "log_format": '"text" or "json" (one JSON object per line on stderr).',
    "ui.enabled": "The memory page under /ui of an sse/http server (and `mcp-memory ui`).",
    "ui.port": "Port of `mcp-memory ui` (127.0.0.1 only; 0: any free port).",
    "metrics.loopback_without_token": "Let a scraper on this machine read /metrics without a "
    "token (not behind a local reverse proxy).",
    "server.tools": '"full" (all nine tools) or "core" (add_memory, search_memory, '
    "consolidate, stats): fewer tools, less of the client's context.",
}


def render() -> str:
    """The whole file: header, top-level keys, then one table per section."""
    lines = [HEADER]
    tables: list[tuple[str, BaseModel]] = []
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        value = getattr(defaults, name)
        if name == "data_dir":
            value = str(value)
        if isinstance(value, BaseModel):
            tables.append((name, value))
        else:
            lines.extend(_key(name, name, value))
    while tables:
        prefix, section = tables.pop(0)
        if "." in prefix and any(f.is_required() for f in type(section).model_fields.values()):
            # a table whose keys have no defaults: commented as a whole
            lines.append(f"\n# [{prefix}]  # uncomment with the keys below (no defaults per key)")
        elif "." in prefix:
            lines.append(f"\n# [{prefix}]  # uncomment it with the keys you change")
        else:
            lines.append(f"\n[{prefix}]")
        nested = []
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, BaseModel):
                nested.append((f"{prefix}.{name}", value))
            else:
                lines.extend(_key(f"{prefix}.{name}", name, value))
        tables[0:0] = nested
    return "\n".join(lines) + "\n"


def _key(path: str, name: str, value: Any) -> list[str]:
    note = NOTES.get(path)
    comment = textwrap.wrap(note, 96, initial_indent="# ", subsequent_indent="# ") if note else []
    return [*comment, f"# {name} = {_toml(value)}"]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    if isinstance(value, SecretStr):  # a default: empty (a real secret is never written)
        return json.dumps(value.get_secret_value())
    if hasattr(value, "value"):
        return _toml(value.value)
    raise TypeError(f"no TOML form for {value!r}")


def write(path: Path, force: bool = False) -> Path:
    """Write the template to ``path``; an existing file is kept unless ``force``."""
    if path.exists() and not force:
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
