"""Embedded Qdrant: Qdrant's Rust engine in-process (``qdrant-edge-py``), files in the data dir.

Each index is a directory ``<root>/<name>/`` holding an Edge shard (``shard/``, with its
write-ahead log) and ``index.json``, the model stamp. A shard is open in one process at a time
(``turns.py``); inside a process every handle on it shares one ``SharedShard``.

Searches within a scope are Qdrant filtered searches over keyword payload indexes on user,
agent and session: exact below ``full_scan_threshold`` (KB of vectors), through the HNSW graph
above it, with ACORN (a filtered-out neighbour's neighbours are looked at too). Without ACORN,
Edge 0.9 now and then answered a scoped search on a small graph (16 or 64 dimensions) with 1
hit of the 1,000 in scope (``tests/vectors/test_qdrant.py``,
``test_a_filtered_search_through_the_graph_finds_all_it_is_asked_for``); with it, never. It
costs a graph search about 1.5 ms at 100k (1.4 -> 2.9 ms, a scope of 20%); exact searches,
and searches with no filter, are untouched. The server index does the same.

Edge builds HNSW graphs only when asked (``EdgeIndex.optimize``), and holds the GIL
while it does, so only bulk work asks for it (an import, a reindex, ``doctor --repair``: see
``store.vectors.Optimizable``), never a server. Vectors added since wait in the plain segment,
searched by brute force (2 ms for 10k of them, 60 ms for 100k).

Faults, as on embedded Chroma (``vectors.faults``): damaged files (``DAMAGE_MARKERS``) become
``IndexDamaged``, which the service mends by emptying the store (``EdgeCatalog.reset``) and
refilling it from the ledger. Edge blocks holding the GIL when a write, or loading a shard,
meets a full disk (measured on a full tmpfs: the whole process stops), so under the disk
reserve (``store.disk``) writes and graph builds are refused and a shard this process does not
hold is not loaded (a load may write up to 32 MiB of vectors); one already held still answers
searches, which write nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as q

from mcp_memory.errors import IndexDamaged, StoreUnavailable
from mcp_memory.store.disk import Reserve
from mcp_memory.store.vectors import VectorHit, VectorRecord, check_stamp, model_stamp
from mcp_memory.vectors.faults import engine_errors, meaning
from mcp_memory.vectors.qdrant.points import (
    CREATED_AT,
    DEFAULT_CONFIG,
    MEMORY_ID,
    PAGE,
    SCOPE_KEYS,
    CollectionConfig,
    PointReads,
    pages,
    payload,
    point_id,
    point_ids,
    retrieved,
    scope_terms,
    scrolled,
)
from mcp_memory.vectors.qdrant.turns import Turns

logger = logging.getLogger(__name__)

SHARD_DIR = "shard"
STAMP_FILE = "index.json"
# What Edge (qdrant-edge-py 0.9) says of damaged files, found by garbling or cutting each kind:
# unreadable JSON (the shard's config, a segment's state, the log's first index, the version),
# a log segment's header, the id tracker, a vector or a payload that cannot be read back.
DAMAGE_MARKERS = (
    "failed to deserialize",
    "failed to load segment",
    "illegal segment header",
    "corrupted",
    "is not readable from",
    "failed to decode value",
    "invalid utf-8",
)


class IndexGone(StoreUnavailable):
    """The index was dropped (a reindex replaced it) while a handle was still open."""


def edge_config(dimension: int, config: CollectionConfig) -> q.EdgeConfig:
    """The shard's settings. Payloads and payload indexes are ``Cached`` (read into memory at
    load) rather than Edge's default ``Cold`` (read from disk on demand): every search reads
    its hits' memory ids from the payload, and a shard's files leave the page cache when it is
    closed, so a cold payload cost a disk read per hit, about 9 ms a scoped search at 100k
    (``README``, "Vector engines"), for some 60 MB of memory."""
    return q.EdgeConfig(
        vectors=q.EdgeVectorParams(size=dimension, distance=q.Distance.Cosine),
        payload_memory=q.Memory.Cached,
        hnsw_config=q.HnswIndexConfig(
            m=config.hnsw_m,
            ef_construct=config.hnsw_ef_construct,
            full_scan_threshold=config.full_scan_threshold,
        ),
        optimizers=q.EdgeOptimizersConfig(
            default_segment_number=config.default_segment_number,
            indexing_threshold=config.indexing_threshold,
        ),
    )


class SharedShard:
    """One index directory's shard, shared by this process's handles, held in turns with the
    other processes (``Turns``); ``refs`` counts the handles (``EdgeCatalog`` keeps them)."""

    def __init__(self, directory: Path, timeout_s: float, reserve: Reserve):
        self.directory = directory
        self.reserve = reserve
        self.refs = 0
        self.turns: Turns[Any] = Turns(directory, self._load, _close, timeout_s)

    @property
    def shard_dir(self) -> Path:
        return self.directory / SHARD_DIR

    def exists(self) -> bool:
        return (self.shard_dir / "edge_config.json").exists()

    def _load(self) -> Any:
        if not self.exists():
            raise IndexGone(f"the embedded Qdrant index {self.directory.name!r} was dropped")
        try:
            return q.EdgeShard.load(str(self.shard_dir))
        except Exception as exc:
            known = meaning(exc, self.shard_dir, self.reserve, DAMAGE_MARKERS)
            raise known or StoreUnavailable(
                f"cannot open the embedded Qdrant index in {self.shard_dir}: {exc}"
            ) from exc

    def create(self, model: str, dimension: int, config: CollectionConfig) -> None:
        """Make the shard with its payload indexes (if no process made it meanwhile)."""

        def make() -> None:
            if self.exists():
                return
            self.reserve.check()
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_json(self.directory / STAMP_FILE, model_stamp(model, dimension))
            shutil.rmtree(self.shard_dir, ignore_errors=True)  # a creation cut short
            shard = q.EdgeShard.create(str(self.shard_dir), edge_config(dimension, config))
            try:
                cached = q.Memory.Cached
                for key in SCOPE_KEYS:
                    keyword = q.KeywordIndexParams(memory=cached)
                    shard.update(q.UpdateOperation.create_field_index(key, keyword))
                created = q.DatetimeIndexParams(memory=cached)
                shard.update(q.UpdateOperation.create_field_index(CREATED_AT, created))
            finally:
                shard.close()

        self.turns.alone(make)

    def stamp(self) -> object:
        """The model the index was built with; an unreadable record is damage (it is written
        before the shard, so a shard never lacks it)."""
        path = self.directory / STAMP_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise IndexDamaged(path, f"the model record cannot be read: {exc}") from exc


def _close(shard: Any) -> None:
    shard.close()


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


class EdgeIndex(PointReads):
    """A ``VectorIndex`` on an embedded Qdrant shard, cosine distance."""

    def __init__(
        self, shared: SharedShard, name: str, model: str, dimension: int, hnsw_ef: int, release
    ):
        check_stamp(shared.stamp(), model, dimension)
        self.name = name
        self._shared = shared
        self._path, self._reserve = shared.shard_dir, shared.reserve
        self._ef = hnsw_ef
        self._release = release

    @contextlib.contextmanager
    def _shard(self, write: bool = False) -> Iterator[Any]:
        """The shard, in this process's turn, its failures translated (module docstring: a
        write, or a load, under the disk reserve is refused)."""
        if write or not self._shared.turns.holding:
            self._reserve.check()
        errors = engine_errors(self._path, self._reserve, DAMAGE_MARKERS)
        with errors, self._shared.turns.use() as shard:
            yield shard

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        points = [
            q.Point(
                id=point_id(r.id),
                vector=np.asarray(r.vector, dtype=np.float32).tolist(),
                payload=payload(r),
            )
            for r in records
        ]
        with self._shard(write=True) as shard:
            for start in range(0, len(points), PAGE):
                shard.update(q.UpdateOperation.upsert_points(points[start : start + PAGE]))

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._shard(write=True) as shard:
                for chunk in pages(ids):
                    shard.update(q.UpdateOperation.delete_points(list(point_ids(chunk))))

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The k nearest, filtered by Qdrant on the scope's payload indexes (and point ids),
        with ACORN on a filtered search (module docstring)."""
        if (ids is not None and not ids) or k <= 0:
            return []
        must: list[Any] = [
            q.FieldCondition(key=key, match=q.MatchValue(value))
            for key, value in scope_terms(scope)
        ]
        if ids is not None:
            must.append(q.HasIdCondition(set(point_ids(ids))))
        request = q.QueryRequest(
            limit=k,
            query=q.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist()),
            filter=q.Filter(must=must) if must else None,
            with_payload=[MEMORY_ID],
            params=q.SearchParams(
                hnsw_ef=max(self._ef, k), acorn=q.AcornSearchParams(enable=True) if must else None
            ),
        )
        with self._shard() as shard:
            hits = shard.query(request)
        return [VectorHit(h.payload[MEMORY_ID], float(h.score)) for h in hits]

    def _records(self, ids: Sequence[str], with_vector: bool) -> list[tuple[str, Any]]:
        with self._shard() as shard:  # held across the pages of one read
            return retrieved(
                ids,
                lambda points: shard.retrieve(points, with_payload=False, with_vector=with_vector),
            )

    def all_ids(self) -> list[str]:
        with self._shard() as shard:
            return scrolled(
                lambda offset: shard.scroll(
                    q.ScrollRequest(offset=offset, limit=PAGE, with_payload=[MEMORY_ID])
                )
            )

    def count(self) -> int:
        with self._shard() as shard:
            return shard.count(q.CountRequest(exact=True))

    def optimize(self) -> bool:
        """Build the HNSW graphs of segments past ``indexing_threshold`` and merge segments
        (blocking, and holding the GIL: call it where nobody waits); True if it did any.
        Skipped under the disk reserve (it writes new segments): a search still finds every
        vector, by brute force."""
        if self._reserve.low():
            logger.warning("search graphs not built: %s", self._reserve.full())
            return False
        with self._shard(write=True) as shard:
            return shard.optimize()

    def unindexed(self) -> int:
        with self._shard() as shard:
            info = shard.info()
        return max(0, info.points_count - info.indexed_vectors_count)

    def close(self) -> None:
        if self._release is not None:
            self._release(self._shared)
            self._release = None


# Every shard open in this process, by directory: handles on one share it (Edge allows one).
_OPEN: dict[Path, SharedShard] = {}
_REGISTRY = threading.Lock()


class EdgeCatalog:
    """Embedded Qdrant indexes by name, one directory each under ``root``; ``reserve`` is the
    free space writes leave on its disk (none by default)."""

    def __init__(
        self,
        root: Path,
        config: CollectionConfig = DEFAULT_CONFIG,
        timeout_s: float = 600.0,
        reserve: Reserve | None = None,
    ):
        self._root = root
        self._config = config
        self._timeout_s = timeout_s
        self._reserve = reserve or Reserve(root, 0)

    def _ref(self, name: str) -> SharedShard:
        directory = (self._root / name).resolve()
        with _REGISTRY:
            shared = _OPEN.get(directory)
            if shared is None:
                shared = SharedShard(directory, self._timeout_s, self._reserve)
                _OPEN[directory] = shared
            shared.refs += 1
            return shared

    def _unref(self, shared: SharedShard) -> None:
        with _REGISTRY:
            shared.refs -= 1
            if shared.refs > 0:
                return
            _OPEN.pop(shared.directory, None)
        shared.turns.close()

    def open(self, name: str, model: str, dimension: int) -> EdgeIndex:
        shared = self._ref(name)
        try:
            if not shared.exists():
                shared.create(model, dimension, self._config)
            return EdgeIndex(shared, name, model, dimension, self._config.hnsw_ef, self._unref)
        except BaseException:
            self._unref(shared)
            raise

    def names(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(p.name for p in self._root.iterdir() if (p / STAMP_FILE).exists())

    def drop(self, name: str) -> bool:
        """Delete an index's directory (once no process holds it); True if there was one."""
        directory = self._root / name
        if not directory.exists():
            return False
        shared = self._ref(name)
        try:
            shared.turns.alone(lambda: shutil.rmtree(directory, ignore_errors=True))
        finally:
            self._unref(shared)
        for suffix in (".turn", ".queue"):
            Path(f"{directory}{suffix}").unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Delete every index under ``root`` (each once no process holds it), leaving an empty
        store: its files were found damaged (``IndexDamaged``), and the ledger refills it."""
        if not self._root.is_dir():
            return
        logger.warning("deleting the damaged vector index %s to rebuild it", self._root)
        for path in sorted(self._root.iterdir()):
            if path.is_dir():
                self.drop(path.name)

    def close(self) -> None:
        """Nothing shared to close: each index releases its shard."""
