"""What an operator sees of a running server: metrics and log lines. Nothing leaves the
machine: metrics are read from ``/metrics`` by whoever is allowed to, logs go to stderr.

- ``metrics``: ``Metrics``, the counters and histograms of one process (tool calls, page
  actions, consolidation runs, auth refusals) and the store's gauges read at each scrape.
- ``logs``: the text or JSON line format of every log record.
"""
