"""The settings of the engines: the model, where the ledger and the vectors live, and the
data dir's disk. Part of the one settings tree (``mcp_memory.config``), which re-exports them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

APP_NAME = "mcp-memory"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Section(BaseModel):
    """A settings section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class EmbeddingSettings(Section):
    model: str = DEFAULT_MODEL
    # "auto": ONNX Runtime where the model converts (the default does), else torch.
    backend: Literal["auto", "onnx", "torch"] = "auto"
    device: str = "cpu"
    # Where the model's one-time ONNX conversion is kept.
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir(APP_NAME)))

    @model_validator(mode="after")
    def _onnx_runs_on_the_cpu(self) -> EmbeddingSettings:
        if self.backend == "onnx" and self.device != "cpu":
            raise ValueError(
                f'backend "onnx" runs on the CPU, not on device {self.device!r}: set '
                'device = "cpu", or backend = "torch" (or "auto") to use the device'
            )
        return self

    batch_size: int = Field(64, ge=1, le=4096)
    query_cache_size: int = Field(1024, ge=0)


class QdrantSettings(Section):
    """``[vector.qdrant]``: the Qdrant engine (``backend = "qdrant"``), its server and the
    settings a new collection is created with (an existing one keeps its own)."""

    # mode = "server": `url` (e.g. "https://xyz.cloud.qdrant.io:6333"), else host/port/https.
    url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(6333, ge=1, le=65535)
    grpc_port: int = Field(6334, ge=1, le=65535)
    https: bool = False
    api_key: SecretStr = SecretStr("")
    prefer_grpc: bool = False
    timeout_s: int = Field(30, ge=1, le=3600)
    # The collection: HNSW graph, segments and when a segment gets its graph (Qdrant's units:
    # the thresholds are in KB of vectors). Distance is cosine, size the model's dimension.
    hnsw_m: int = Field(16, ge=4, le=256)
    hnsw_ef_construct: int = Field(128, ge=4, le=4096)
    hnsw_ef: int = Field(128, ge=1, le=4096)
    full_scan_threshold: int = Field(10_000, ge=0)
    default_segment_number: int = Field(2, ge=0, le=64)
    indexing_threshold: int = Field(10_000, ge=0)


with warnings.catch_warnings():  # a field named "schema" shadows pydantic's deprecated method
    warnings.filterwarnings("ignore", message='Field name "schema"')

    class StorageSettings(Section):
        """Where the ledger lives: SQLite in data_dir, or a PostgreSQL database any number of
        servers share (with the vectors there too, unless [vector] backend says otherwise)."""

        backend: Literal["sqlite", "postgres"] = "sqlite"
        # postgres: a libpq connection string, e.g. postgresql://USER@HOST:5432/DATABASE; empty:
        # libpq's defaults and PG* variables. The password may be in it (never shown) or in
        # PGPASSWORD / ~/.pgpass.
        dsn: SecretStr = SecretStr("")
        schema: str = Field("mcp_memory", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
        pool_size: int = Field(10, ge=2, le=200)
        # How long a call waits for the database (a connection, the server at start-up).
        timeout_s: float = Field(10.0, gt=0, le=300)


LEGACY_CHROMA_BACKENDS = {"embedded": "embedded", "http": "server"}


class VectorSettings(Section):
    # "auto": Chroma beside the sqlite storage, pgvector (the same database) beside postgres.
    backend: Literal["auto", "chroma", "qdrant", "pgvector"] = "auto"
    # "embedded": the engine in-process, files in data_dir; "server": a Chroma server (host,
    # port, ... below) or a Qdrant server ([vector.qdrant]). pgvector has no mode of its own.
    mode: Literal["embedded", "server"] = "embedded"
    collection: str = Field("memories", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,50}[A-Za-z0-9]$")
    hnsw_m: int = Field(16, ge=2, le=256)
    hnsw_construction_ef: int = Field(100, ge=8, le=2000)
    hnsw_search_ef: int = Field(100, ge=8, le=2000)
    # Chroma in server mode (`chroma run`, or Chroma's distributed/cloud deployment).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    ssl: bool = False
    tenant: str = "default_tenant"
    database: str = "default_database"
    headers: dict[str, str] = {}
    qdrant: QdrantSettings = QdrantSettings()

    @model_validator(mode="before")
    @classmethod
    def _legacy_backend(cls, data: Any) -> Any:
        """``backend = "embedded" | "http"`` named Chroma's mode before Qdrant joined: still
        read as Chroma, embedded or server."""
        if isinstance(data, dict) and data.get("backend") in LEGACY_CHROMA_BACKENDS:
            data = {**data, "backend": "chroma", "mode": LEGACY_CHROMA_BACKENDS[data["backend"]]}
        return data


class DiskSettings(Section):
    """The data dir's disk (``store.disk``)."""

    # Writes are refused ("disk full") while the data dir's disk has less free space than this
    # many MiB, and the vector index is not touched: Chroma can hang the whole server when a
    # write meets a full disk. Memories already stored stay readable. 0: no reserve.
    min_free_mb: float = Field(64, ge=0)
