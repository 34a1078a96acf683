"""Another process on an embedded Qdrant index, for tests/vectors/test_qdrant.py.

python qdrant_child.py ROOT write ID      add a vector with this id, then exit
python qdrant_child.py ROOT hold ID       add it, say "holding" and keep the index open
                                          (idle) until stdin closes
python qdrant_child.py ROOT busy          say "busy" from inside a call on the index and
                                          stay in it until stdin closes
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mcp_memory.store.vectors import VectorRecord
from mcp_memory.vectors.qdrant.edge import EdgeCatalog


def main() -> None:
    root, action = Path(sys.argv[1]), sys.argv[2]
    index = EdgeCatalog(root).open("mem", "m", 3)
    if action == "busy":
        with index._shared.turns.use():
            print("busy", flush=True)
            sys.stdin.read()
        return
    index.upsert([VectorRecord(sys.argv[3], np.array([0, 0, 1], dtype=np.float32), "child")])
    if action == "hold":
        print("holding", flush=True)
        sys.stdin.read()
    index.close()


if __name__ == "__main__":
    main()
