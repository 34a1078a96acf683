"""Chroma clients: the embedded store on local disk, or a Chroma server over HTTP.

Both give the same ``chromadb`` client API, so ``ChromaIndex`` shares all its collection code
between them. The HTTP client talks to `chroma run`, or to Chroma's distributed or cloud
deployment (tenant, database and an auth header such as ``x-chroma-token``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_memory.errors import StoreUnavailable


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def embedded_client(path: Path) -> Any:
    """A ``PersistentClient`` storing its collections under ``path``."""
    import chromadb

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def http_client(
    host: str,
    port: int,
    ssl: bool = False,
    tenant: str = "default_tenant",
    database: str = "default_database",
    headers: dict[str, str] | None = None,
) -> Any:
    """An ``HttpClient`` for a Chroma server; refused with a clear message when unreachable."""
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


def collection_names(client: Any) -> list[str]:
    """Names of the collections the client can see."""
    return [c if isinstance(c, str) else c.name for c in client.list_collections()]


def drop_collection(client: Any, name: str) -> bool:
    """Delete a collection if it exists; True when one was deleted."""
    if name not in collection_names(client):
        return False
    client.delete_collection(name)
    return True


def collection_metadata(client: Any, name: str) -> dict[str, Any] | None:
    """The metadata a collection was created with (its model and dimension), or None."""
    if name not in collection_names(client):
        return None
    return dict(client.get_collection(name).metadata or {})


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
