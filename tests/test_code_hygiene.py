"""What a reader of the code needs: files short enough to read, comments that say why.

No source file in brats_desktop/, models/, training/ over 600 lines (split by responsibility,
as docs/architecture.md describes), and no comment or docstring that cites a tracker ticket
("issue 11", "item 4") instead of the reason: a reader of the code has no tracker.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600
TICKET = re.compile(r"issue ?[0-9]|item ?[0-9]|ticket", re.IGNORECASE)


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_source_file_is_over_600_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _sources("brats_desktop", "models", "training")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these by responsibility: {long}"


def test_no_ticket_references_in_code() -> None:
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for p in _sources("brats_desktop", "models", "training", "bench", "scripts", "tests")
             if p.name != "test_code_hygiene.py"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if TICKET.search(line)]
    assert found == [], "say the reason instead of the ticket:\n" + "\n".join(found)
