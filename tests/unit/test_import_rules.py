"""Import rules between the edge and the services: each service is one folder, plugged in through
functions/edge/api.py.

- a module of functions/edge/ imports no service (no `functions.<service>` at all);
- a service imports from the edge only its public interface (`functions.edge.api`), and from another
  service only that service's `public` module (what it answers others); `shared.*` and its own
  package are always allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE = "edge"
EDGE_INTERFACE = "functions.edge.api"
PUBLIC = "public"  # functions/<service>/public.py: what a service answers other services
# Modules of functions/ itself, not of a service: the edge and every service may use them.
PLATFORM = frozenset({"discovery"})


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(source: str, module: str, root: Path) -> list[tuple[int, str]]:
    """Every module the source imports (at any depth: lazy imports count), with its line."""
    package = module if _is_module(module + ".__init__", root) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if _is_module(submodule, root) else base))
    return list(dict.fromkeys(found))     # `from m import a, b` names m once


def _owner(name: str) -> str | None:
    """The functions/ package a dotted name belongs to (`functions.transfers.policy` -> `transfers`)."""
    parts = name.split(".")
    owner = parts[1] if len(parts) > 1 and parts[0] == "functions" else None
    return None if owner in PLATFORM else owner


def broken(module: str, target: str) -> str | None:
    """Why `module` may not import `target`; None when it may."""
    home, other = _owner(module), _owner(target)
    if home is None or other is None or home == other:
        return None
    if home == EDGE:
        return f"the edge imports the {other} service's {target}"
    if other == EDGE:
        return None if target == EDGE_INTERFACE else f"{home} imports the edge's internal {target}"
    if target == f"functions.{other}.{PUBLIC}":
        return None
    return f"{home} imports the {other} service's {target}"


def violations(root: Path, folder: str = "functions", rule=broken) -> list[str]:
    """Every import under root/folder that breaks the rule, as `file:line: why`."""
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        module = _module_name(path, root)
        for line, target in imported(path.read_text(encoding="utf-8"), module, root):
            why = rule(module, target)
            if why:
                found.append(f"{path.relative_to(root)}:{line}: {why}")
    return found


def test_the_edge_imports_no_service_and_no_service_another_services_internals():
    assert violations(ROOT) == []


@pytest.mark.parametrize("module, target", [
    ("functions.edge.services", "functions.transfers.policy"),
    ("functions.edge.main", "functions.missed_calls"),
    ("functions.zero_balance.config", "functions.transfers.policy"),
    ("functions.transfers.edge", "functions.edge.ussd"),
    ("functions.missed_calls.edge_ivr", "functions.edge.lookup"),
    ("functions.edge.services", "functions.transfers.public"),   # the edge asks no service anything
])
def test_the_rules_refuse_an_edge_reaching_into_a_service_and_a_service_into_another(module, target):
    assert broken(module, target) is not None


@pytest.mark.parametrize("module, target", [
    ("functions.transfers.edge", "functions.edge.api"),
    ("functions.transfers.edge_menu", "functions.transfers.edge_orders"),
    ("functions.edge.main", "functions.edge.ussd"),
    ("functions.edge.services", "functions"),
    ("functions.edge.services", "functions.discovery"),
    ("functions.zero_balance.config", "shared.presets"),
    ("functions.zero_balance.config", "functions.transfers.public"),
])
def test_the_rules_allow_the_interface_shared_code_and_a_services_own_modules(module, target):
    assert broken(module, target) is None


def test_from_imports_and_lazy_imports_are_all_read(tmp_path):
    (tmp_path / "functions" / "transfers").mkdir(parents=True)
    (tmp_path / "functions" / "edge").mkdir()
    for package in ("functions", "functions/transfers", "functions/edge"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "functions" / "transfers" / "policy.py").write_text("")
    (tmp_path / "functions" / "edge" / "desk.py").write_text(
        "from functions.transfers import policy\n\n\ndef later():\n    from ..transfers.policy import SERVICE\n")
    assert violations(tmp_path) == [
        "functions/edge/desk.py:1: the edge imports the transfers service's functions.transfers.policy",
        "functions/edge/desk.py:5: the edge imports the transfers service's functions.transfers.policy",
    ]
