"""The ``chromadb`` clients: the embedded store in a directory, or a Chroma server over HTTP.

Both give the same API, so ``vectors.chroma`` shares its collection code between them. Made and
released here, with the care each needs: an embedded store that fails to start is dropped from
chromadb's cache of systems, an HTTP client's pooled connections are closed with it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mcp_memory.errors import StoreUnavailable

logger = logging.getLogger(__name__)


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def embedded_client(path: Path) -> Any:
    """A ``PersistentClient`` storing its collections under ``path``; one that fails to start
    (damaged files) is not left in chromadb's cache of systems by path."""
    import chromadb

    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
    except Exception:
        forget_system(path)
        raise


def forget_system(path: Path) -> None:
    """Drop chromadb's shared system for ``path`` from its process-wide cache (stopping it):
    chromadb caches a system before starting it, so one that failed to start (a damaged
    store) would otherwise be handed to every later client of the path, unstarted."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        system = SharedSystemClient._identifier_to_system.pop(str(path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(path), None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # never started, or its files are gone
            logger.debug("stopping the Chroma system of %s failed", path, exc_info=True)


def http_client(
    host: str,
    port: int,
    ssl: bool = False,
    tenant: str = "default_tenant",
    database: str = "default_database",
    headers: dict[str, str] | None = None,
) -> Any:
    """An ``HttpClient`` for a Chroma server (`chroma run`, or Chroma's distributed or cloud
    deployment: tenant, database and an auth header such as ``x-chroma-token``); refused with
    a clear message when unreachable."""
    import chromadb

    url = f"{'https' if ssl else 'http'}://{host}:{port}"
    try:
        return chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=dict(headers or {}),
            tenant=tenant,
            database=database,
            settings=_chroma_settings(),
        )
    except Exception as exc:
        raise StoreUnavailable(
            f"cannot reach the Chroma server at {url} (tenant {tenant!r}, database "
            f"{database!r}): {exc}. Start it (`chroma run --path DIR --port {port}`) or fix "
            "[vector] host, port, ssl, tenant, database and headers in the config"
        ) from exc


def close_client(client: Any) -> None:
    """Release a client: its shared system, and for HTTP its connection pool.

    chromadb's ``close()`` does not close the HTTP client's pooled connections, which would
    otherwise linger until garbage collection; the session is closed here as well.
    """
    client.close()
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if session is not None:
            session.close()
