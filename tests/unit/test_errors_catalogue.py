"""docs/errors.md, the catalogue of bad input, stays in step with the tests that check each message.

Every row of the catalogue's tables (``| What you did | Message (start) | Test |``)
must name at least one test, as ``tests/<path>.py::test_name``, and each named test
must exist. The catalogue holds at least 50 rows, and no situation is listed twice.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"
HEADER = ("What you did", "Message (start)", "Test")
TEST_REF = re.compile(r"(tests/[\w./-]+\.py)::(\w+)")
#: What may stand between test references in a Test cell.
SEPARATORS = re.compile(r"[\s;,]|<br>")


def split_row(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is an escaped pipe, not a separator)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


@cache
def catalogue_rows() -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """``(line number, section, cells)`` for every row of the catalogue's error tables."""
    rows = []
    section, in_table = "", False
    for number, line in enumerate(CATALOGUE.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("## "):
            section, in_table = line[3:].strip(), False
        elif not line.startswith("|"):
            in_table = False
        elif tuple(split_row(line)) == HEADER:
            in_table = True
        elif in_table and not re.fullmatch(r"\|(\s*-+\s*\|)+", line.strip()):
            rows.append((number, section, tuple(split_row(line))))
    return tuple(rows)


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The names of the test functions defined in ``path`` (relative to the repository)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    return frozenset(re.findall(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(", text, flags=re.MULTILINE))


def test_the_catalogue_has_at_least_50_rows_of_three_cells():
    rows = catalogue_rows()
    assert len(rows) >= 50, f"{CATALOGUE} has {len(rows)} rows; issue 9 asks for at least 50"
    malformed = [f"line {n}: {len(cells)} cells" for n, _, cells in rows if len(cells) != len(HEADER)]
    assert not malformed, f"rows without exactly the columns {HEADER}: {malformed}"
    empty = [f"line {n}" for n, _, cells in rows if not all(cells)]
    assert not empty, f"rows with an empty cell: {empty}"


def test_every_row_names_tests_that_exist():
    problems = []
    for number, _, cells in catalogue_rows():
        cell = cells[-1]
        refs = TEST_REF.findall(cell)
        if not refs:
            problems.append(f"line {number}: names no test ({cell!r})")
        leftover = SEPARATORS.sub("", TEST_REF.sub("", cell))
        if leftover:
            problems.append(f"line {number}: Test cell holds more than tests/...py::test_name refs: {cell!r}")
        for path, name in refs:
            if not (ROOT / path).is_file():
                problems.append(f"line {number}: {path} does not exist")
            elif name not in defined_tests(path):
                problems.append(f"line {number}: {path} has no 'def {name}('")
    assert not problems, "\n".join(problems)


def test_no_situation_is_listed_twice():
    seen: dict[str, int] = {}
    duplicates = []
    for number, _, cells in catalogue_rows():
        key = re.sub(r"\s+", " ", cells[0]).strip().lower()
        if key in seen:
            duplicates.append(f"line {number} repeats line {seen[key]}: {cells[0]!r}")
        seen.setdefault(key, number)
    assert not duplicates, "\n".join(duplicates)
