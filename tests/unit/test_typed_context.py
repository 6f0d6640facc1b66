"""Every handler and helper that takes a `ctx` names the Context's hand-off type (`runtime.Context[None]` when none).

A bare `ctx` or `runtime.Context` lets `ctx.handoff` be anything; the subscript is what ties a
handler's hand-off to its `after_commit`.

One other form passes: a Protocol of the same module that declares no `handoff`. A module that
shared.runtime imports (shared/consent.py, through shared/events.py) cannot name runtime.Context,
not even under TYPE_CHECKING (tests/unit/test_import_cycles.py), so it states the part of the
Context it uses; without `handoff` in it, its helpers cannot touch a hand-off of any type.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Paths whose ctx parameters are still being typed; empty: every path is checked.
NOT_YET: set[str] = set()


def _is_typed_context(annotation: ast.expr | None) -> bool:
    if not isinstance(annotation, ast.Subscript):
        return False
    name = annotation.value
    return (isinstance(name, ast.Attribute) and name.attr == "Context") or (
        isinstance(name, ast.Name) and name.id == "Context")


def _base_name(base: ast.expr) -> str | None:
    return base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else None


def _protocols_without_handoff(tree: ast.Module) -> set[str]:
    """The module's Protocol classes that declare no `handoff` (as an attribute, a property or a method)."""
    found = set()
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or "Protocol" not in map(_base_name, node.bases):
            continue
        members = {statement.target.id for statement in node.body
                   if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)}
        members |= {statement.name for statement in node.body
                    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if "handoff" not in members:
            found.add(node.name)
    return found


def untyped_contexts(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line function` for each function of `path` whose `ctx` parameter lacks `Context[...]`."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    protocols = _protocols_without_handoff(tree)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            if arg.arg != "ctx" or _is_typed_context(arg.annotation):
                continue
            if not (isinstance(arg.annotation, ast.Name) and arg.annotation.id in protocols):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_the_check_tells_a_typed_context_from_a_bare_one(tmp_path):
    module = tmp_path / "handlers.py"
    module.write_text("def typed(ctx: runtime.Context[None]) -> None: ...\n"
                      "def bare(ctx: runtime.Context) -> None: ...\n"
                      "def untyped(ctx, payload) -> None: ...\n")
    assert untyped_contexts(module, tmp_path) == ["handlers.py:2 bare", "handlers.py:3 untyped"]


def test_a_protocol_passes_only_without_a_handoff(tmp_path):
    module = tmp_path / "helpers.py"
    module.write_text("class Narrow(Protocol):\n"
                      "    def doc(self, collection: str, doc_id: str) -> object: ...\n"
                      "class Wide(typing.Protocol):\n"
                      "    handoff: object\n"
                      "class Plain:\n"
                      "    pass\n"
                      "def narrow(ctx: Narrow) -> None: ...\n"
                      "def wide(ctx: Wide) -> None: ...\n"
                      "def plain(ctx: Plain) -> None: ...\n")
    assert untyped_contexts(module, tmp_path) == ["helpers.py:8 wide", "helpers.py:9 plain"]


def test_every_ctx_names_its_hand_off_type():
    paths = [path for folder in ("functions", "shared", "infra") for path in sorted((ROOT / folder).rglob("*.py"))
             if not any(str(path.relative_to(ROOT)).startswith(pending) for pending in NOT_YET)]
    untyped = [where for path in paths for where in untyped_contexts(path)]
    assert untyped == [], f"ctx without Context[...]: {untyped}"
