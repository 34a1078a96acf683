"""Settings: one validated tree, read from a TOML file and ``MCP_MEMORY_*`` variables.

Where the file comes from, first match wins: ``--config PATH``, ``MCP_MEMORY_CONFIG``, then
``config.toml`` in the user config dir if it exists. Environment variables override the file:
``MCP_MEMORY_DATA_DIR=/x``, nested keys with a double underscore
(``MCP_MEMORY_RANKING__RECENCY_WEIGHT=0.1``). Every key and its default is listed, commented, in
``config.example.toml``. Only the entry points (``mcp/``, ``cli/``, through ``factory.py``) read
settings; everything below them takes explicit arguments.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mcp_memory.config.engines import (
    APP_NAME,
    DEFAULT_MODEL,
    DiskSettings,
    EmbeddingSettings,
    QdrantSettings,
    Section,
    StorageSettings,
    VectorSettings,
)
from mcp_memory.errors import ConfigError

__all__ = [
    "APP_NAME",
    "DEFAULT_MODEL",
    "DiskSettings",
    "EmbeddingSettings",
    "QdrantSettings",
    "Settings",
    "StorageSettings",
    "VectorSettings",
    "config_file_path",
    "load_settings",
    "local_vectors",
    "vector_backend",
]

_FILE_DATA: ContextVar[dict[str, Any]] = ContextVar("file_data", default={})  # noqa: B039


class LimitSettings(Section):
    max_content_chars: int = Field(10_000, ge=1)
    max_query_chars: int = Field(2_000, ge=1)
    max_metadata_bytes: int = Field(8_192, ge=2)
    max_metadata_depth: int = Field(3, ge=1)
    max_metadata_keys: int = Field(50, ge=1)
    max_scope_chars: int = Field(128, ge=1)
    max_limit: int = Field(100, ge=1)
    # Dates (created_at, since, until, imported timestamps) before this year are refused.
    earliest_year: int = Field(1900, ge=1, le=9999)


class ImportanceSettings(Section):
    category_base: dict[str, float] = {
        "preference": 0.9,
        "fact": 0.8,
        "relationship": 0.8,
        "experience": 0.7,
        "skill": 0.7,
        "general": 0.5,
    }
    strong_words: list[str] = [
        "critical",
        "important",
        "urgent",
        "key",
        "essential",
        "always",
        "never",
        "prefer",
        "hate",
        "love",
    ]
    strong_word_boost: float = 0.2
    long_text_words: int = 50
    long_text_boost: float = 0.1
    short_text_words: int = 10
    short_text_penalty: float = 0.1


class TierSettings(Section):
    max_age_days: float = Field(gt=0)
    max_count: int = Field(ge=1)
    threshold: float = Field(ge=0, le=1)


class TierOverride(Section):
    """Replaces parts of the tier policy for some memories; fields left unset keep the tier's."""

    max_age_days: float | None = Field(None, gt=0)
    max_count: int | None = Field(None, ge=1)
    never_age: bool = False


OVERRIDE_KEYS = ("episodic", "semantic", "procedural", "session")


class RetentionSettings(Section):
    ephemeral: TierSettings = TierSettings(max_age_days=1, max_count=10, threshold=0.1)
    short_term: TierSettings = TierSettings(max_age_days=7, max_count=50, threshold=0.3)
    medium_term: TierSettings = TierSettings(max_age_days=30, max_count=200, threshold=0.5)
    long_term: TierSettings = TierSettings(max_age_days=365, max_count=1000, threshold=0.7)
    aging_at: float = Field(0.5, gt=0, lt=1)
    archiving_soon_at: float = Field(0.9, gt=0, lt=1)
    overrides: dict[str, TierOverride] = {}

    @model_validator(mode="after")
    def _ordered(self) -> RetentionSettings:
        if not self.aging_at < self.archiving_soon_at:
            raise ValueError("aging_at must be below archiving_soon_at")
        unknown = sorted(set(self.overrides) - set(OVERRIDE_KEYS))
        if unknown:
            raise ValueError(
                f"overrides keys must be memory types or 'session' ({', '.join(OVERRIDE_KEYS)}), "
                f"not {', '.join(unknown)}"
            )
        return self


class RankingSettings(Section):
    semantic_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(0.5, ge=0)
    importance_weight: float = Field(0.05, ge=0)
    recency_weight: float = Field(0.02, ge=0)
    recency_half_life_days: float = Field(30.0, gt=0)
    candidate_pool: int = Field(50, ge=1, le=2000)
    keyword_lookup_max_share: float = Field(0.5, gt=0, le=1)
    keyword_all_terms_over: int = Field(5_000, ge=0)
    # hybrid retrieval (see search/ranking.py and the [ranking] section of config.example.toml)
    context_semantic_weight: float = Field(0.5, ge=0)
    context_keyword_weight: float = Field(1.5, ge=0)
    context_seeds: int = Field(15, ge=1, le=2000)
    context_window: int = Field(2, ge=0, le=20)
    context_decay: float = Field(0.7, ge=0, le=1)
    context_keyword_window: int = Field(2, ge=0, le=20)
    context_order_full: float = Field(0.01, ge=0)
    context_order_gap: int = Field(4, ge=2, le=100)
    context_order_sample: int = Field(200, ge=5, le=5000)
    speaker_boost: float = Field(0.7, ge=0)
    subject_boost: float = Field(0.1, ge=0)
    time_boost: float = Field(0.5, ge=0)
    date_boost: float = Field(1.0, ge=0)
    date_slack_days: float = Field(7.0, ge=0)


class ScheduleSettings(Section):
    """Background consolidation: off by default; never in a stdio session unless ``in_stdio``."""

    every_hours: float = Field(0, ge=0)
    in_stdio: bool = False


class ConsolidationSettings(Section):
    near_duplicate_threshold: float = Field(0.85, gt=0, le=1)
    redundancy_jaccard: float = Field(0.9, gt=0, le=1)
    boost_min_accesses: int = Field(5, ge=0)
    boost_window_days: float = Field(7, gt=0)
    boost_amount: float = Field(0.1, ge=0, le=1)
    decay_after_days: float = Field(90, gt=0)
    decay_rate: float = Field(0.05, ge=0)
    decay_floor: float = Field(0.1, ge=0, le=1)
    decay_min_change: float = Field(0.01, ge=0, le=1)
    cleanup_after_days: float = Field(30, ge=0)
    cleanup_importance_below: float = Field(0.3, ge=0, le=1)
    journal_keep_days: float = Field(90, gt=0)
    schedule: ScheduleSettings = ScheduleSettings()


class PerformanceSettings(Section):
    """Speed trade-offs that never change results."""

    # Searches within a scope (or a filtered set) of at most this many memories are exact dot
    # products over their vectors; larger ones use the HNSW index with a filter.
    exact_search_max: int = Field(20_000, ge=0)
    # Records per transaction and per batched encode in import and add_many; larger batches
    # sort more texts by length before encoding, so less of each is padding.
    import_batch_size: int = Field(1024, ge=1, le=10_000)
    # Threads for encoding (ONNX Runtime or torch; 0: one per core). Bulk imports use every
    # core unless this is set explicitly.
    encode_threads: int = Field(2, ge=0, le=256)
    # The server loads the model once the client has listed the tools, or after this many
    # seconds, so loading it does not slow the MCP handshake.
    warm_up_wait_s: float = Field(2.0, ge=0, le=60)
    # add_memory leaves its vector write to a background thread, which waits for this long a
    # pause in the adds (but no longer than write_behind_max_delay_s): a Chroma write stalls
    # the whole process while it runs, so it is better done between bursts than inside one.
    write_behind_quiet_s: float = Field(0.05, ge=0, le=10)
    write_behind_max_delay_s: float = Field(1.0, ge=0, le=60)


class ServerSettings(Section):
    transport: Literal["stdio", "sse", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    # Which tools to list: "full" (all nine) or "core" (add_memory, search_memory,
    # consolidate, stats); every listed tool costs the client context.
    tools: Literal["full", "core"] = "full"


class TokenSettings(Section):
    """One bearer token for the network transports, optionally bound to scope values."""

    token: SecretStr = Field(min_length=16)
    name: str = ""
    user_id: list[str] | None = None
    agent_id: list[str] | None = None


class SecuritySettings(Section):
    tokens: list[TokenSettings] = []
    # With no tokens, a network server generates one here on first start (owner-only, 0600),
    # and requires it; see mcp_memory/policy/tokens.py.
    token_file: Path = Field(
        default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)) / "token"
    )
    # Serve without any token (`serve --no-auth`): loopback addresses only.
    no_auth: bool = False
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    max_request_bytes: int = Field(1_048_576, ge=1024)

    @model_validator(mode="after")
    def _distinct(self) -> SecuritySettings:
        secrets = [t.token.get_secret_value() for t in self.tokens]
        if len(set(secrets)) != len(secrets):
            raise ValueError("the same token is listed twice")
        for t in self.tokens:
            for key in ("user_id", "agent_id"):
                if getattr(t, key) == []:
                    raise ValueError(f"token {t.name!r}: {key} = [] would allow nothing")
        return self


class PageSettings(Section):
    """The memory page: under /ui of an sse/http server, and `mcp-memory ui`."""

    enabled: bool = True
    port: int = Field(8766, ge=0, le=65535)
    page_size: int = Field(50, ge=5, le=500)
    session_hours: float = Field(12, gt=0, le=24 * 30)
    link_minutes: float = Field(15, gt=0, le=24 * 60)


class MetricsSettings(Section):
    """/metrics (Prometheus text format) on an sse/http server and on `mcp-memory ui`."""

    enabled: bool = True
    loopback_without_token: bool = False


class RedactionSettings(Section):
    enabled: bool = True
    builtin_patterns: bool = True
    patterns: dict[str, str] = {}
    disabled: list[str] = []
    replacement: str = "[REDACTED:{kind}]"

    @model_validator(mode="after")
    def _compiles(self) -> RedactionSettings:
        for kind, pattern in self.patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns.{kind} is not a valid regex: {exc}") from None
        try:
            self.replacement.format(kind="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError("replacement may only use the placeholder {kind}") from None
        return self


class TomlFileSource(PydanticBaseSettingsSource):
    """Feeds the parsed TOML file (already read by ``load_settings``) into the settings."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """Every knob of the server, with the defaults documented in config.example.toml."""

    model_config = SettingsConfigDict(
        env_prefix="MCP_MEMORY_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    storage: StorageSettings = StorageSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    vector: VectorSettings = VectorSettings()
    disk: DiskSettings = DiskSettings()
    limits: LimitSettings = LimitSettings()
    importance: ImportanceSettings = ImportanceSettings()
    retention: RetentionSettings = RetentionSettings()
    ranking: RankingSettings = RankingSettings()
    consolidation: ConsolidationSettings = ConsolidationSettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    redaction: RedactionSettings = RedactionSettings()
    performance: PerformanceSettings = PerformanceSettings()
    ui: PageSettings = PageSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _pgvector_lives_in_postgres(self) -> Settings:
        if self.vector.backend == "pgvector" and self.storage.backend != "postgres":
            raise ValueError(
                'vector.backend "pgvector" keeps the vectors in the PostgreSQL ledger: set '
                'storage.backend = "postgres" (and storage.dsn), or another vector backend'
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlFileSource(settings_cls, _FILE_DATA.get()))


def vector_backend(settings: Settings) -> str:
    """The vector engine configured: "chroma", "qdrant" or "pgvector"; for "auto" the
    storage's own (pgvector beside a PostgreSQL ledger, Chroma beside SQLite)."""
    if settings.vector.backend != "auto":
        return settings.vector.backend
    return "pgvector" if settings.storage.backend == "postgres" else "chroma"


def local_vectors(settings: Settings) -> bool:
    """Whether the vector engine keeps its files in the data dir (an embedded Chroma or
    Qdrant): what the disk reserve guards and where Chroma's scoped copy lives."""
    return vector_backend(settings) != "pgvector" and settings.vector.mode == "embedded"


def config_file_path(explicit: str | Path | None = None) -> Path | None:
    """The config file in use: the explicit path, $MCP_MEMORY_CONFIG, or the user's if present."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get("MCP_MEMORY_CONFIG"):
        return Path(env).expanduser()
    default = Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
    return default if default.is_file() else None


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings once; a bad value raises ``ConfigError`` naming its key."""
    path = config_file_path(config)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    token = _FILE_DATA.set(data)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _FILE_DATA.reset(token)


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f"config file {path}" if path else "configuration"
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        problems.append(f"{key}: {msg}")
    return f"bad {where} (or MCP_MEMORY_* variable): " + "; ".join(problems)
