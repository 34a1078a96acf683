"""The layering of shared/DESIGN.md, enforced on packages: which package may import which.

Layers, from the top: the entry points (``mcp``, ``web``, ``cli``, ``factory``) -> ``service`` -> the
ideas it composes (``search``, ``consolidation``, ``indexing``, ``transfer``, ``policy``) ->
the storage protocols and records (``store``) <- the engines (``ledger``, ``postgres``,
``vectors``, ``embeddings``). Only ``factory`` (and the entry points above it) chooses an engine; every
other package sees the protocols alone.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "mcp_memory"

EVERYTHING = {
    *("errors", "clock", "lru", "tokens", "models", "config", "store", "policy"),
    *("embeddings", "ledger", "postgres"),
    *("vectors", "search", "consolidation", "transfer", "indexing", "service", "factory"),
    *("http", "observe", "web", "mcp", "cli"),
}
CORE = {"errors", "clock", "lru", "tokens", "models", "config", "store"}
# What each unit of mcp_memory may import from mcp_memory (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "clock": {"errors"},
    "lru": set(),
    "tokens": set(),
    "models": {"errors", "clock"},
    "config": {"errors"},
    "store": {"errors", "clock", "models"},
    "policy": CORE,
    "embeddings": CORE,
    "ledger": CORE,
    "postgres": CORE,
    "vectors": CORE,
    "search": CORE | {"policy", "embeddings.base"},
    "consolidation": CORE | {"policy"},
    "transfer": CORE | {"policy"},
    "indexing": CORE | {"policy", "embeddings.base"},
    "service": CORE
    | {"policy", "search", "consolidation", "indexing", "transfer", "embeddings.base"},
    "factory": EVERYTHING - {"http", "observe", "web", "mcp", "cli"},
    # the shared HTTP security pieces (tokens, Host/Origin), and what an operator sees
    "http": CORE | {"policy.access", "policy.tokens"},
    "observe": CORE | {"service"},
    # the page: the service, the grant, the shared HTTP pieces; only entry points import it
    "web": CORE | {"service", "policy.access", "http", "observe"},
    "mcp": EVERYTHING - {"cli"},
    "cli": EVERYTHING - {"mcp"} | {"mcp.serve"},
    "__init__": set(),
    "__main__": {"cli"},
}
# Third-party engines and who may import them.
ENGINES = {
    "sqlite3": {"ledger", "vectors.scoped", "vectors.chroma_files"},
    "chromadb": {"vectors.chroma", "vectors.chroma_clients"},
    "qdrant_edge": {"vectors.qdrant"},
    "qdrant_client": {"vectors.qdrant"},
    "psycopg": {"postgres"},
    "psycopg_pool": {"postgres"},
    "pgvector": {"postgres"},
    "mcp": {"mcp"},
    "starlette": {"mcp", "web"},
    "jinja2": {"web"},
    "uvicorn": {"mcp.serve", "web.local"},
    "prometheus_client": {"observe.metrics"},
    "torch": {"embeddings"},
    "sentence_transformers": {"embeddings"},
    "onnxruntime": {"embeddings"},
}


def units() -> dict[str, Path]:
    """Every module, named by its dotted path under mcp_memory."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "mcp_memory":
                found.update(f"mcp_memory.{alias.name}" for alias in node.names)
    return found


def covers(rules: set[str], name: str) -> bool:
    return any(name == rule or name.startswith(rule + ".") for rule in rules)


def test_every_package_imports_only_the_layers_below_it():
    for unit, path in units().items():
        top = unit.split(".")[0]
        allowed = ALLOWED[top]
        for name in imports(path):
            if not name.startswith("mcp_memory."):
                continue
            target = name.removeprefix("mcp_memory.")
            if target.split(".")[0] == top or target == "__version__":
                continue
            assert covers(allowed, target), f"{unit} imports mcp_memory.{target}"


def test_engines_are_imported_only_by_their_own_package():
    for unit, path in units().items():
        for name in imports(path):
            root = name.split(".")[0]
            if root in ENGINES:
                assert covers(ENGINES[root], unit), f"{unit} imports {name}"


def test_search_and_policy_import_no_storage_engine():
    for unit, path in units().items():
        if unit.split(".")[0] in {"search", "policy", "consolidation", "service"}:
            for name in imports(path):
                engines = {"mcp_memory.ledger", "mcp_memory.postgres", "mcp_memory.vectors"}
                assert not covers(engines, name), f"{unit} imports {name}"


def test_the_command_line_loads_the_mcp_sdk_only_to_serve():
    """``mcp-memory serve`` starts the MCP layer (a sibling entry point, imported inside that
    command); every other command runs without importing the MCP SDK."""
    for unit, path in units().items():
        if unit.split(".")[0] != "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = imports_of(node)
            assert not any(covers({"mcp", "mcp_memory.mcp"}, n) for n in names), unit
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name != "cmd_serve":
                names = set().union(*(imports_of(n) for n in ast.walk(node)))
                assert not any(covers({"mcp", "mcp_memory.mcp"}, n) for n in names), (
                    f"{unit}.{node.name}"
                )


def imports_of(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return {node.module}
    return set()
