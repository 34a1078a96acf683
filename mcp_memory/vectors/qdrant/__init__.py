"""Qdrant as the vector engine (``[vector] backend = "qdrant"``): the one package that imports
``qdrant_edge`` and ``qdrant_client``.

- ``edge``: embedded mode, Qdrant's Rust engine in-process (qdrant-edge-py), a shard per index
  under ``data_dir/qdrant``; ``turns``: how processes sharing the data dir take turns at it.
- ``server``: server mode, a Qdrant server or cluster through qdrant-client.
- ``points``: what both store (point ids, payloads, collection settings); the model stamp is
  every engine's (``store.vectors.model_stamp``).

The factory imports these modules only when a store uses Qdrant.
"""
