"""The layering of shared/DESIGN.md, enforced: nothing below the service reaches up or into MCP."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "mcp_memory"
TOP = {"server", "cli", "__main__", "factory"}
FORBIDDEN_BELOW = {"mcp", "mcp_types", "mcp_memory.server", "mcp_memory.cli", "mcp_memory.factory"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_core_modules_do_not_import_mcp_or_upper_layers():
    for path in PACKAGE.glob("*.py"):
        if path.stem in TOP:
            continue
        bad = {
            name
            for name in imports(path)
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_BELOW)
        }
        assert not bad, f"{path.name} imports {bad}"


def test_only_the_ledger_writes_sql():
    for path in PACKAGE.glob("*.py"):
        if path.stem != "ledger":
            assert "import sqlite3" not in path.read_text(), path.name


def test_mcp_sdk_is_imported_only_by_the_server():
    for path in PACKAGE.glob("*.py"):
        uses_mcp = any(n == "mcp" or n.startswith(("mcp.", "mcp_types")) for n in imports(path))
        assert not uses_mcp or path.stem == "server", path.name
