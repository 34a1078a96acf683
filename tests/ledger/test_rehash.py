"""A store whose content hashes follow older duplicate rules (trailing punctuation counted):
opening it recomputes them, so old rows still dedupe against new adds, and a consolidation
folds the old variants into their cleanest form."""

import sqlite3
import unicodedata
from hashlib import sha256

from mcp_memory.factory import LEDGER_FILE, build_service
from mcp_memory.ledger.memories import HASH_SCHEME
from mcp_memory.policy import validation


def _old_hash(text: str) -> str:
    """The rules before trailing stops were ignored: NFKC, case-folded, spaces collapsed."""
    return sha256(" ".join(unicodedata.normalize("NFKC", text).casefold().split()).encode())


def test_hashes_under_older_rules_are_recomputed_when_the_store_opens(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    first = service.add("I am allergic to peanuts.", user_id="ann")
    clock.advance(hours=1)
    second = service.add("Placeholder", user_id="ann")
    service.close()
    with sqlite3.connect(settings.data_dir / LEDGER_FILE) as conn:  # as an older version left it
        for memory_id, text in (
            (first.id, first.memory.content),
            (second.id, "I am allergic to peanuts!!"),
        ):
            conn.execute(
                "UPDATE memories SET content = ?, content_hash = ? WHERE id = ?",
                (text, _old_hash(text).hexdigest(), memory_id),
            )
        conn.execute("DELETE FROM state WHERE key = ?", (HASH_SCHEME,))
    conn.close()

    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        again = service.add("i am allergic to peanuts", user_id="ann")
        assert again.duplicate_of == first.id
        assert service.ledger.rehash(validation.content_hash, validation.HASH_SCHEME) == 0
        service.consolidate(user_id="ann")
        [kept] = service.list(user_id="ann").memories
        assert (kept.id, kept.content) == (first.id, "I am allergic to peanuts.")
    finally:
        service.close()
