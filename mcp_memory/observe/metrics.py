"""The metrics of one server process, in Prometheus text format (``prometheus-client``).

Counted as things happen (the MCP layer, the page and the scheduler call ``Metrics``):

- ``mcp_memory_tool_calls_total{tool, outcome}``: outcome ``ok``, or the kind of error
  (``invalid_input``, ``not_found``, ``access_denied``, ``conflict``, ..., ``refused`` for
  arguments the tool does not take or a tool that does not exist);
- ``mcp_memory_tool_call_seconds{tool}``: a latency histogram per tool;
- ``mcp_memory_page_actions_total{action, outcome}``: changes made on the memory page;
- ``mcp_memory_consolidation_runs_total{mode}`` (``run``, ``dry_run``, ``undo``) and
  ``mcp_memory_consolidation_actions_total{action, mode}``;
- ``mcp_memory_auth_refusals_total{reason}``: requests refused for want of a valid token,
  session, CSRF token, Host or Origin, or for a scope outside the caller's grant.

Read from the store at each scrape (``StoreCollector``; every process sharing the data dir
sees the same values): ``mcp_memory_memories{stage}``, ``mcp_memory_index_queue_length``
(index changes not applied yet), ``mcp_memory_ledger_memories``, and, once this process has
opened the vector index, ``mcp_memory_index_vectors`` and ``mcp_memory_index_drift`` (ledger
memories minus vectors: 0 when in line); ``mcp_memory_model_load_seconds`` once the model is
loaded. A scrape never loads the model nor opens the index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mcp_memory.errors import MemoryServiceError
from mcp_memory.models import ConsolidateResult, Stage
from mcp_memory.observe.outcomes import outcome_of as outcome_of
from mcp_memory.service import MemoryService
from mcp_memory.store.records import MemoryFilter

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One process's metrics, in a registry of their own (never the global one)."""

    def __init__(self, service: MemoryService | None = None):
        disable_created_metrics()  # no *_created series: a counter's start time is noise here
        self.registry = registry = CollectorRegistry()
        self.tool_calls = Counter(
            "mcp_memory_tool_calls", "MCP tool calls by tool and outcome.",
            ["tool", "outcome"], registry=registry,
        )  # fmt: skip
        self.tool_seconds = Histogram(
            "mcp_memory_tool_call_seconds", "Time to answer an MCP tool call, by tool.",
            ["tool"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.page_actions = Counter(
            "mcp_memory_page_actions", "Changes made on the memory page, by action and outcome.",
            ["action", "outcome"], registry=registry,
        )  # fmt: skip
        self.consolidation_runs = Counter(
            "mcp_memory_consolidation_runs", "Consolidation runs by mode (run, dry_run, undo).",
            ["mode"], registry=registry,
        )  # fmt: skip
        self.consolidation_actions = Counter(
            "mcp_memory_consolidation_actions",
            "Consolidation actions by kind and mode; a merge counts the memories it absorbs, as "
            "the consolidate reply does.",
            ["action", "mode"], registry=registry,
        )  # fmt: skip
        self.auth_refusals = Counter(
            "mcp_memory_auth_refusals", "Requests refused by authentication or authorisation.",
            ["reason"], registry=registry,
        )  # fmt: skip
        if service is not None:
            registry.register(StoreCollector(service))

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_seconds.labels(tool).observe(seconds)
        if outcome == "access_denied":
            self.refused("scope")

    def page_action(self, action: str, outcome: str) -> None:
        self.page_actions.labels(action, outcome).inc()
        if outcome == "access_denied":
            self.refused("scope")

    def consolidated(self, result: ConsolidateResult) -> None:
        """Count a consolidation run (or dry run, or undo) and the actions it took."""
        mode = "undo" if result.undone else "dry_run" if result.dry_run else "run"
        self.consolidation_runs.labels(mode).inc()
        for action in result.actions:
            self.consolidation_actions.labels(action.action, mode).inc(len(action.other_ids) or 1)

    def refused(self, reason: str) -> None:
        self.auth_refusals.labels(reason).inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus text format (reads the store: call it off the loop)."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Gauges read from the store at each scrape."""

    def __init__(self, service: MemoryService):
        self.service = service

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._gauges()
        except MemoryServiceError:
            logger.exception("could not read the store's gauges for /metrics")

    def _gauges(self) -> Iterator[Metric]:
        ledger, service = self.service.ledger, self.service
        by_stage = ledger.stats(MemoryFilter())["by_stage"]
        stages = GaugeMetricFamily(
            "mcp_memory_memories", "Memories in the ledger by lifecycle stage.", labels=["stage"]
        )
        for stage in Stage:
            stages.add_metric([stage.value], by_stage.get(stage.value, 0))
        yield stages
        memories = ledger.count(MemoryFilter())
        yield GaugeMetricFamily(
            "mcp_memory_ledger_memories", "Memories in the ledger (the truth).", value=memories
        )
        yield GaugeMetricFamily(
            "mcp_memory_index_queue_length",
            "Vector index changes queued in the ledger and not applied yet.",
            value=ledger.count_pending(),
        )
        if service.index.is_open:
            vectors = service.index.count()
            yield GaugeMetricFamily(
                "mcp_memory_index_vectors", "Vectors in the index.", value=vectors
            )
            yield GaugeMetricFamily(
                "mcp_memory_index_drift",
                "Ledger memories minus index vectors (0 when the index is in line).",
                value=memories - vectors,
            )
        load = getattr(service.embedder, "load_seconds", None)
        if load is not None:
            yield GaugeMetricFamily(
                "mcp_memory_model_load_seconds",
                "Seconds this process took to load the embedding model.",
                value=load,
            )
