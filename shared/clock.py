"""How far the local stack's clock has been moved: a small file every local process reads.

`infra.clock` moves the clock (`python -m infra.clock advance 25h`) by writing the seconds moved
so far to the file named by VAS_CLOCK_FILE; `shared.events.utcnow` adds them. A function started
before the move sees it on its next `utcnow()`, which reads the file. Production never reads it:
only the local stack (VAS_ENV=local) can be moved.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

CLOCK_FILE_VARIABLE = "VAS_CLOCK_FILE"
LOCAL = "local"


class ClockNotMovable(RuntimeError):
    """Moving the clock was asked for outside the local stack, where the clock is the real one."""


def is_local() -> bool:
    return os.environ.get("VAS_ENV") == LOCAL


def require_local() -> None:
    """Refuse to move the clock outside the local stack."""
    if not is_local():
        raise ClockNotMovable(
            f"the clock can only be moved on the local stack (VAS_ENV=local); here VAS_ENV="
            f"{os.environ.get('VAS_ENV') or '(unset)'} and the clock is the real one"
        )


def moved_seconds() -> float:
    """Seconds the local stack's clock has been moved forward (0 without a clock file, and always 0 in production)."""
    path = os.environ.get(CLOCK_FILE_VARIABLE)
    if not path or not is_local():
        return 0.0
    return read_moved_seconds(Path(path))


def read_moved_seconds(path: Path) -> float:
    """The seconds moved that the clock file at `path` holds (0 when there is none yet).

    Read whole on every call (about 20 µs, and only on the local stack): a cache keyed on the
    file's inode and mtime could miss a quick second move that reused both.
    """
    try:
        return float(json.loads(path.read_text())["moved_seconds"])
    except FileNotFoundError:
        return 0.0


def write_moved_seconds(path: Path, seconds: float) -> None:
    """Replace the clock file at once, so a reader never sees half of it."""
    require_local()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".clock-", delete=False) as handle:
        json.dump({"moved_seconds": seconds}, handle)
    os.replace(handle.name, path)
