"""Areas depend downward only (DESIGN.md): platform < tenants < leads < compliance <
telephony < admin; nothing imports admin; platform imports no area. Checked from the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "leadwire"
ORDER = ["platform", "tenants", "leads", "compliance", "telephony", "admin"]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leadwire."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("leadwire.")}
    return found


@pytest.mark.parametrize("area", ORDER)
def test_area_imports_only_areas_below_it(area: str) -> None:
    allowed = set(ORDER[: ORDER.index(area) + 1])
    for path in (SRC / area).rglob("*.py"):
        upward = (_imports(path) & set(ORDER)) - allowed
        assert not upward, f"{path.relative_to(SRC)} imports {sorted(upward)}"
