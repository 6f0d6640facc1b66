"""Every handler and helper that takes a `ctx` names the Context's hand-off type (`runtime.Context[None]` when none).

A bare `ctx` or `runtime.Context` lets `ctx.handoff` be anything; the subscript is what ties a
handler's hand-off to its `after_commit`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Typed by the missed-calls, ledger and shared-module work going on in parallel; the lead drops these once merged.
NOT_YET = {"functions/missed_calls", "functions/ledger", "shared/archive.py", "shared/consent.py", "shared/ledger.py"}


def _is_typed_context(annotation: ast.expr | None) -> bool:
    if not isinstance(annotation, ast.Subscript):
        return False
    name = annotation.value
    return (isinstance(name, ast.Attribute) and name.attr == "Context") or (
        isinstance(name, ast.Name) and name.id == "Context")


def untyped_contexts(path: Path, root: Path = ROOT) -> list[str]:
    """`file:line function` for each function of `path` whose `ctx` parameter lacks `Context[...]`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            if arg.arg == "ctx" and not _is_typed_context(arg.annotation):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_the_check_tells_a_typed_context_from_a_bare_one(tmp_path):
    module = tmp_path / "handlers.py"
    module.write_text("def typed(ctx: runtime.Context[None]) -> None: ...\n"
                      "def bare(ctx: runtime.Context) -> None: ...\n"
                      "def untyped(ctx, payload) -> None: ...\n")
    assert untyped_contexts(module, tmp_path) == ["handlers.py:2 bare", "handlers.py:3 untyped"]


def test_every_ctx_names_its_hand_off_type():
    paths = [path for folder in ("functions", "shared", "infra") for path in sorted((ROOT / folder).rglob("*.py"))
             if not any(str(path.relative_to(ROOT)).startswith(pending) for pending in NOT_YET)]
    untyped = [where for path in paths for where in untyped_contexts(path)]
    assert untyped == [], f"ctx without Context[...]: {untyped}"
