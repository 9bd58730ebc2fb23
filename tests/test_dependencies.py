"""Every package the code imports is declared in pyproject.toml (an installed wheel gets
only what is declared; a dependency's dependency may vanish in its next release)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"journeys", "channels", "flows", "bench"}
# Modules only pytest imports (the plugin a team's suite loads), with the extra that
# declares what they need beyond the runtime dependencies.
EXTRAS = {"flows/testing.py": "testing"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {_name(r) for r in listed}


def _imports(folder: str) -> dict[str, str]:
    """Top-level modules imported by the code under `folder` (or a file), one place each;
    the modules of EXTRAS only when named themselves."""
    found: dict[str, str] = {}
    root = PROJECT_ROOT / folder
    paths = [root] if root.is_file() else sorted(root.rglob("*.py"))
    for path in paths:
        if path != root and str(path.relative_to(PROJECT_ROOT)) in EXTRAS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                found.setdefault(top, f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    return found


def _undeclared(folders: list[str], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    # The tests' own helper modules, imported by name from their folders.
    local = {p.stem for p in (PROJECT_ROOT / "tests").rglob("*.py")}
    missing = []
    for folder in folders:
        for module, where in _imports(folder).items():
            if module in sys.stdlib_module_names or module in FIRST_PARTY | local:
                continue
            owners = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
            if not owners & declared:
                missing.append(f"{module} ({where}; from {', '.join(sorted(owners))})")
    return missing


def test_the_code_imports_only_declared_packages() -> None:
    assert _undeclared(["journeys", "channels", "flows"], _declared()) == []


def test_tests_and_benchmarks_import_only_declared_packages() -> None:
    declared = _declared() | _declared("dev")
    assert _undeclared(["tests", "bench"], declared) == []


def test_modules_of_an_extra_import_only_what_it_declares() -> None:
    for module, extra in EXTRAS.items():
        assert (PROJECT_ROOT / module).is_file(), module
        assert _undeclared([module], _declared() | _declared(extra)) == []
        assert _undeclared([module], _declared()) != [], f"{module} needs nothing of {extra}"
