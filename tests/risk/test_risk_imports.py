"""The risk domain stands on its own: no module of juhe.risk imports the API, the CLI or the benchmarks."""

import ast
from pathlib import Path

import juhe.risk

FORBIDDEN = ("juhe.api", "juhe.cli", "juhe.bench")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_risk_package_imports_no_api_cli_or_bench():
    folder = Path(juhe.risk.__file__).parent
    offenders = {f"{path.name}: {name}" for path in folder.glob("*.py") for name in imported_modules(path)
                 if name.startswith(FORBIDDEN)}
    assert offenders == set()
