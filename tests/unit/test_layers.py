"""The layering rule of docs/design.md ("Layers"), enforced from every module's imports.

Floors, bottom up: the core ``smsflow``; the contracts ``schemas``; the stages ``producers``,
``streams`` and ``sinks``; the tools built on them, ``dashboard``, ``simulator`` and ``infra``
(a local Kafka broker or cluster); the ``shell``. A module may import its own package and any
package on a lower floor, never a higher one nor another package of its own floor (a stage
never imports another stage). Imports inside functions count the same as top-level ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOORS: list[set[str]] = [
    {"smsflow"}, {"schemas"}, {"producers", "streams", "sinks"},
    {"dashboard", "simulator", "infra"}, {"shell"},
]
# `python -m smsflow` is the `smsflow` command: a two-line launcher of shell.cli that no module
# imports (the console script points at shell.cli directly)
EXEMPT = {"smsflow/__main__.py"}


def floor_of(package: str) -> int | None:
    return next((i for i, names in enumerate(FLOORS) if package in names), None)


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the module, nested ones too."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def violations(root: Path) -> list[str]:
    """``path:line: a imports b (why)`` for every import against the rule under ``root``."""
    found: list[str] = []
    for names in FLOORS:
        for package in sorted(names):
            for path in sorted((root / package).rglob("*.py")):
                rel = path.relative_to(root).as_posix()
                if rel in EXEMPT:
                    continue
                own = floor_of(package)
                assert own is not None
                for line, target in imported(ast.parse(path.read_text(), rel)):
                    theirs = floor_of(target)
                    if theirs is None or target == package:
                        continue
                    if theirs > own:
                        found.append(f"{rel}:{line}: {package} imports {target}, a higher floor")
                    elif theirs == own:
                        found.append(f"{rel}:{line}: {package} imports {target}, a sibling stage")
    return found


def test_every_import_points_down() -> None:
    assert violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_stage_importing_another_stage_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "sinks/rows.py": "def f():\n    from streams.state import apply\n",
        "streams/state.py": "import smsflow.config\nfrom schemas import codec\n",
    })
    assert violations(root) == [
        "sinks/rows.py:2: sinks imports streams, a sibling stage"]


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "smsflow/config.py": "import shell.cli\n",
        "dashboard/app.py": "from shell import ops\nfrom sinks import reports\n",
        "streams/worker.py": "from infra.broker import Broker\n",
    })
    assert violations(root) == [
        "smsflow/config.py:1: smsflow imports shell, a higher floor",
        "streams/worker.py:1: streams imports infra, a higher floor",
        "dashboard/app.py:1: dashboard imports shell, a higher floor",
    ]


def test_every_installed_package_has_a_floor() -> None:
    """A package left out of FLOORS would go unchecked by the rule above."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    assert {p for p in packages if floor_of(p) is None} == set()
