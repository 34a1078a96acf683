"""The storage engines the service suite runs on: one entry per engine.

Each entry turns a test's request and temporary directory into settings overrides (a section
name -> its values). ``tests/test_service.py`` runs every test once per entry (its ``settings``
fixture is parametrised over this table), so a new engine joins the whole suite by adding one
line here. An engine that needs a server starts it in a session fixture the entry asks for
through ``request.getfixturevalue``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Overrides = Callable[[pytest.FixtureRequest, Path], dict[str, Any]]

ENGINES: dict[str, Overrides] = {
    "sqlite+chroma": lambda request, tmp_path: {},
}
