"""The layer order of DESIGN.md §2, enforced: imports only point down.

    cli → app → gateway / api / console → access, routing, billing, usage, accounts, snapshot
        → storage, state, upstreams, protocols, observability, config, errors, records, platforms

Every `torouter` module is placed on a rank below (the longest matching prefix wins); an import
of a module on a higher rank fails the test, wherever it is written (module level or inside a
function: both run). Imports under `if TYPE_CHECKING:` are skipped, since they never run; the
modules that have them must postpone annotations, or the names would be needed at run time.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "torouter"

# Rank 0, the leaves: import nothing from torouter above them.
# Rank 1, the edges with one seam per kind of I/O, and the pure protocol codecs.
# Rank 2, the domain: rules, money, accounts, and the in-memory view they read.
# Rank 3, the front doors: the gateway's hot path, the management API, the console.
# Rank 4, the composition root. Rank 5, the programs that run it.
RANKS: dict[str, int] = {
    "torouter": 0,  # the package's own __init__
    "torouter.errors": 0,
    "torouter.records": 0,
    "torouter.ids": 0,
    "torouter.memo": 0,  # identity memo for immutable records (hot path)
    "torouter.config_keys": 0,
    "torouter.private_files": 0,
    "torouter.config": 1,
    "torouter.crypto": 1,
    "torouter.observability": 1,
    "torouter.protocols": 1,
    "torouter.state": 1,
    "torouter.storage": 1,
    "torouter.upstreams": 1,
    "torouter.server": 1,  # the HTTP/1.1 protocol with request limits, below serving
    # The platform registry (issue 13, item 1) names each platform's codec and URL builder,
    # so it sits with protocols/ and upstreams/, not among the leaves.
    "torouter.platforms": 1,
    "torouter.access": 2,
    "torouter.routing": 2,
    "torouter.billing": 2,
    "torouter.usage": 2,
    "torouter.accounts": 2,
    "torouter.snapshot": 2,
    "torouter.channel_status": 2,
    "torouter.operations": 2,
    "torouter.jobs": 2,
    "torouter.site_config": 2,
    "torouter.invalidation": 2,
    "torouter.provisioning": 2,
    "torouter.schema_gate": 2,  # the start-up's lock and schema checks, on storage/ alone
    "torouter.gateway": 3,
    "torouter.api": 3,
    "torouter.console": 3,
    "torouter.mock": 3,  # the mock providers, mounted by the app in the demo
    "torouter.demo": 3,
    "torouter.preflight": 3,
    "torouter.docs_gen": 3,
    "torouter.app": 4,
    "torouter.app_payments": 4,
    "torouter.serving": 5,
    "torouter.cli": 5,
    "torouter.migrate_apart": 5,  # serve's migration child, a program beside serving
    # The mock provider's own process entry (`torouter mock-provider`): a program like the CLI,
    # so it may use serving's socket binding.
    "torouter.mock.server": 5,
    # Runs that server in a thread for tests and benchmarks; nothing in the package imports it.
    "torouter.mock.testing": 5,
}

# Upward imports accepted for now, each with its reason. Keep this empty where possible.
EXCEPTIONS: dict[tuple[str, str], str] = {}

# Import cycles between units (the RANKS entries) accepted for now, each with its reason.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    frozenset({"torouter.usage", "torouter.accounts"}): (
        "accounts.profile uses the pure usage.low_balance.initial_notified, usage.notices mails "
        "through accounts; usage/ is being split this session, the rule moves with it"
    ),
}

# Packages that must not load SQLAlchemy (DESIGN §2: only storage/ talks SQL; the hot path's
# rules, codecs, shared state and upstream adapters get their records from the snapshot).
SQL_FREE = (
    "torouter.access",
    "torouter.routing",
    "torouter.upstreams",
    "torouter.protocols",
    "torouter.state",
    "torouter.records",
)


@dataclass(frozen=True, slots=True)
class Edge:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The longest prefix of `module` in RANKS: the unit the layer rules speak about."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANKS:
            return ".".join(parts[:n])
    raise AssertionError(f"{module} has no rank: place it in RANKS (tests/test_layers.py)")


def rank(module: str) -> int:
    return RANKS[unit(module)]


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _imports(statements: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run, at any depth (functions, classes, try, with, if…);
    the body of `if TYPE_CHECKING:` never runs and is skipped (its `else:` is not).
    Imports are statements, so only statement bodies are walked, never expressions."""
    for stmt in statements:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
            continue
        skip_body = isinstance(stmt, ast.If) and _is_type_checking(stmt.test)
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            if name == "body" and skip_body:
                continue
            for child in getattr(stmt, name, ()):
                if isinstance(child, ast.ExceptHandler | ast.match_case):
                    yield from _imports(child.body)
                elif isinstance(child, ast.stmt):
                    yield from _imports([child])


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def runtime_edges(path: Path) -> Iterator[Edge]:
    """Every import of a torouter module in `path` that runs (TYPE_CHECKING blocks aside)."""
    source = path.read_text(encoding="utf-8")
    return edges_in(module_name(path), path.name == "__init__.py", source)


def edges_in(module: str, is_package: bool, source: str) -> Iterator[Edge]:
    for node in _imports(ast.parse(source).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _resolve(module, is_package, node)
            # `from torouter.x import y` may name the submodule torouter.x.y.
            targets = [
                f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names
            ]
        for target in targets:
            if target == "torouter" or target.startswith("torouter."):
                yield Edge(module, target, node.lineno)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (
        PACKAGE.parent / rel / "__init__.py"
    ).is_file()


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@functools.cache
def all_edges() -> tuple[Edge, ...]:
    return tuple(e for path in all_modules() for e in runtime_edges(path))


def test_every_module_has_a_rank() -> None:
    for path in all_modules():
        rank(module_name(path))


def test_imports_only_point_down() -> None:
    upward = []
    for edge in all_edges():
        if rank(edge.imported) > rank(edge.importer):
            if (edge.importer, edge.imported) not in EXCEPTIONS:
                upward.append(f"{edge.importer}:{edge.line} imports {edge.imported}")
    assert upward == [], "imports pointing up the layers (DESIGN.md §2):\n" + "\n".join(upward)


def test_exceptions_are_still_needed() -> None:
    """An exception nobody needs any more is removed, so the list only shrinks."""
    seen = {(e.importer, e.imported) for e in all_edges()}
    assert set(EXCEPTIONS) <= seen


def unit_cycles(edges: set[tuple[str, str]]) -> list[frozenset[str]]:
    """The strongly connected groups of more than one unit (Tarjan), so a loop inside one
    rank, which the rank check cannot see, fails too."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_units() -> None:
    edges = {(unit(e.importer), unit(e.imported)) for e in all_edges()}
    cycles = unit_cycles(edges)
    assert [sorted(c) for c in cycles if c not in KNOWN_CYCLES] == []
    assert set(KNOWN_CYCLES) <= set(cycles), "a known cycle is gone: drop it from KNOWN_CYCLES"


def test_the_cycle_finder() -> None:
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")}
    assert unit_cycles(edges) == [frozenset({"a", "b", "c"})]


def test_type_checking_imports_are_postponed_annotations() -> None:
    """A TYPE_CHECKING import is only safe when annotations are never evaluated at run time."""
    missing = []
    for path in all_modules():
        text = path.read_text(encoding="utf-8")
        if "if TYPE_CHECKING:" in text and "from __future__ import annotations" not in text:
            missing.append(module_name(path))
    assert missing == []


def test_the_checker_sees_upward_imports() -> None:
    """The walk itself: a function-level import counts, a TYPE_CHECKING one does not."""
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from torouter.records import KeyRec\n"
        "if TYPE_CHECKING:\n"
        "    from torouter.app import ToRouterApp\n"
        "def f() -> None:\n"
        "    from torouter.gateway import entry\n"
        "class C:\n"
        "    try:\n"
        "        pass\n"
        "    except ImportError:\n"
        "        import torouter.cli\n"
    )
    edges = list(edges_in("torouter.routing.example", False, source))
    assert [(e.imported, e.line) for e in edges] == [
        ("torouter.records", 3),
        ("torouter.gateway.entry", 7),
        ("torouter.cli", 12),
    ]
    assert [rank(e.imported) > rank(e.importer) for e in edges] == [False, True, True]


@pytest.mark.parametrize("package", SQL_FREE)
def test_package_loads_no_sqlalchemy(package: str) -> None:
    """Importing every module of the package leaves SQLAlchemy unloaded (a fresh interpreter)."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(getattr(pkg, '__path__', []), pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy')[:5])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
