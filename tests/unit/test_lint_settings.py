"""The style and type checks hold what the project asks of them (settings in pyproject.toml).

`make lint` runs ruff and mypy over the code; these tests make sure the settings stay strict
enough: a handler whose `ctx` is untyped fails the type check, and every ignore names what it
ignores and says why on the same line.
"""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("functions", "shared", "infra", "emulators")

# A type-ignore names its codes in brackets, then a second comment says why; a noqa names its
# codes after a colon, then says why after " - ", in parentheses or in a second comment.
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")
NOQA = re.compile(r"#\s*noqa(?P<codes>:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?(?P<rest>.*)$")


def _type_check(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "handler.py"
    module.write_text(source)
    report, _, status = mypy_api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"), str(module)]
    )
    return report, status


def test_a_handler_with_an_untyped_ctx_fails_the_type_check(tmp_path: Path) -> None:
    report, status = _type_check(tmp_path, "def on_event(ctx, amount: int) -> None:\n    print(ctx, amount)\n")
    assert status == 1 and "[no-untyped-def]" in report, report


def test_the_same_handler_typed_passes(tmp_path: Path) -> None:
    report, status = _type_check(
        tmp_path,
        "class Context:\n    consumer = 'ops'\n\n\n"
        "def on_event(ctx: Context, amount: int) -> None:\n    print(ctx.consumer, amount)\n",
    )
    assert status == 0, report


def unexplained_ignores(text: str) -> list[str]:
    """The lines of `text` whose ignore names no code or gives no reason after it."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, reason in ((TYPE_IGNORE, r"\s*#\s*\w"), (NOQA, r"\s*(?:-|\(|#)\s*\w")):
            match = pattern.search(line)
            if match and (not match["codes"] or not re.match(reason, match["rest"])):
                found.append(f"{number}: {line.strip()}")
    return found


def test_an_ignore_without_codes_or_reason_is_found() -> None:
    assert unexplained_ignores(
        "x = f()  # type: ignore\n"
        "y = g()  # type: ignore[arg-type]\n"
        "z = h()  # noqa\n"
        "w = k()  # noqa: E731\n"
        "a = b()  # type: ignore[union-attr]  # why it is safe\n"
        "c = d()  # noqa: A001 - reads like the builtin\n"
    ) == [
        "1: x = f()  # type: ignore",
        "2: y = g()  # type: ignore[arg-type]",
        "3: z = h()  # noqa",
        "4: w = k()  # noqa: E731",
    ]


def test_every_ignore_names_its_codes_and_says_why() -> None:
    unexplained = {
        str(path.relative_to(ROOT)): lines
        for package in CHECKED
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := unexplained_ignores(path.read_text()))
    }
    assert unexplained == {}, f"ignores without a code or a reason on the same line: {unexplained}"
