"""docs/api.md against the code: it is exactly what docs/gen_api.py generates, and it covers every
public name (``__all__``) of the modules it lists."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_api", ROOT / "docs" / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def test_api_md_is_generated_from_the_code():
    assert PAGE.read_text(encoding="utf-8") == GEN.render_page(), (
        "docs/api.md is out of date: run python docs/gen_api.py --write"
    )


def test_every_public_name_of_the_listed_modules_is_documented():
    page = PAGE.read_text(encoding="utf-8")
    documented = GEN.documented()
    missing = []
    for module, names in documented.items():
        public = getattr(importlib.import_module(module), "__all__", None)
        for name in public or ():
            if name not in names or f"### `{name}`" not in page or f"`{module}.{name}" not in page:
                missing.append(f"{module}.{name}")
    assert missing == []


def test_the_packages_public_names_appear_on_the_page():
    page = PAGE.read_text(encoding="utf-8")
    missing = [
        f"{package}.{name}"
        for package in GEN.COVERED_PACKAGES
        for name in importlib.import_module(package).__all__
        if f"### `{name}`" not in page
    ]
    assert missing == []


def test_the_page_is_deterministic_and_has_no_memory_addresses():
    page = GEN.render_page()
    assert " at 0x" not in page and "<factory>" not in page
    assert "```python" not in page  # the docs test runs python blocks; the reference has none
