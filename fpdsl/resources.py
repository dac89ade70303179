"""Find the grammar and template folders in a wheel or a source checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """`grammars` or `templates`: inside the installed package (wheel) or at
    the top of the source tree (editable install, tests)."""
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"fpdsl installation is missing its {name}/ folder")
