"""Embedded Chroma leaves a deleted collection's HNSW folder on disk: a reindex removes the old
one's, and doctor reports (and with --repair removes) any left by earlier versions."""

from __future__ import annotations

import shutil
import uuid

from mcp_memory.cli.doctor import check_store
from mcp_memory.factory import CHROMA_DIR, reindex_store
from mcp_memory.vectors.chroma_files import leftover_segments


def _segment_folders(chroma):
    return sorted(p.name for p in chroma.iterdir() if p.is_dir())


def test_reindex_leaves_no_old_graph_and_doctor_sees_leftovers(service, settings, embedder):
    chroma = settings.data_dir / CHROMA_DIR
    service.add_many([{"content": f"Note {n} about topic {n % 17}"} for n in range(100)])
    service.flush()
    service.close()
    assert len(_segment_folders(chroma)) == 1  # the graph of the one collection
    for _ in range(3):
        reindex_store(settings, embedder=embedder)
    folders = _segment_folders(chroma)
    assert len(folders) == 1 and leftover_segments(chroma) == [], folders

    stale = chroma / str(uuid.uuid4())  # as an earlier version's reindex left it
    shutil.copytree(chroma / folders[0], stale)
    checks = {c.name: c for c in check_store(settings, embedder, repair=False)}
    assert checks["index leftovers"].status == "warn", checks
    assert "1 folder(s) of deleted collections" in checks["index leftovers"].detail
    assert stale.exists()
    checks = {c.name: c for c in check_store(settings, embedder, repair=True)}
    assert checks["index leftovers"].status == "ok" and not stale.exists()
    assert _segment_folders(chroma) == folders
    assert "index leftovers" not in {c.name for c in check_store(settings, embedder, False)}
