"""The layout is the architecture (docs/architecture.md): no import cycles among the product's
modules, no module past ~400 lines, a small composition root, and KPI families that name their
fields once and their metrics as the contract does."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from agents.kpis import kpis_for, targets
from streams.records import TARGET_METRICS
from tests.deploy.test_dashboards import spec_text, spelled_names

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "agents")
MAX_LINES = 400
ROOT_MAX_LINES = 200


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """Our modules this one imports anywhere (functions included), except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def test_no_import_cycles() -> None:
    found = modules()
    graph = {name: imports(path, set(found)) - {name} for name, path in found.items()}
    # a package's __init__ importing its own modules is not a cycle through them
    for name in graph:
        graph[name] = {dep for dep in graph[name] if not name.startswith(dep + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("from a import x\n")
    assert imports(tmp_path / "a.py", {"a", "b"}) == {"b"}
    assert imports(tmp_path / "b.py", {"a", "b"}) == {"a"}


def test_modules_stay_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
    assert sizes["agents.pipeline"] < ROOT_MAX_LINES


def test_private_reaches_live_in_streams_kafka() -> None:
    """Only streams/kafka/ reaches into another library's private attributes (ruff's SLF rule keeps
    new ones visible; this keeps them in one place)."""
    offenders = []
    for name, path in modules().items():
        if name.startswith("streams.kafka"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "noqa: SLF001" in line:
                offenders.append(f"{name}:{number}")
    assert offenders == []


def test_family_fields_are_unique_and_metrics_are_the_contracts() -> None:
    kpis = kpis_for(ZoneInfo("UTC"), 300_000_000)
    fields = [field for family in kpis.families for field in family.fields]
    assert len(fields) == len(set(fields)), "two families write the same field"
    prefixes = [f for f in fields if any(o != f and o.startswith(f) for o in fields)]
    assert prefixes == [], "a field is a prefix of another (histogram fields are prefixes)"
    declared = {metric for family in kpis.families for metric, *_ in (*family.counts, *family.ratios)}
    contract = spelled_names(spec_text())
    assert declared - contract == set()
    for family in kpis.families:
        assert re.fullmatch(r"[a-z_]+", family.name)
    assert set(targets.METRICS) == TARGET_METRICS  # every metric a target.set may name has its KPI field
