"""The house rules, checked on the source (AST, not text): dependencies point down, files stay small.

Layers (docs/ARCHITECTURE.md): core (``gan_viz`` outside ``cli`` and ``explore``) <- analyses
(``gan_viz.analyses``, one package per analysis, plus the registry) <- front ends (``gan_viz.cli``,
``gan_viz.reports``, ``gan_viz.explore``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
FRONT_ENDS = ("gan_viz.cli", "gan_viz.explore", "gan_viz.reports", "gan_viz.__main__")


def module_name(path: Path) -> str:
    """The installed module name of a source file (analyses/ installs as gan_viz.analyses, reports/ as gan_viz.reports)."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("analyses", "reports"):
        parts = ["gan_viz", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> list[Path]:
    files = [*ROOT.glob("gan_viz/**/*.py"), *ROOT.glob("analyses/**/*.py"), *ROOT.glob("reports/**/*.py")]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (anywhere in the file, also inside functions), as absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}  # `from pkg import submodule`
    return {m for m in out if m.startswith("gan_viz")}


def layer_of(module: str) -> str:
    if module.startswith(FRONT_ENDS):
        return "front"
    if module.startswith("gan_viz.analyses"):
        return "analyses"
    return "core"


def analysis_package(module: str) -> str | None:
    """``gan_viz.analyses.forget.run`` -> "forget"; the registry and the namespace itself -> None."""
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["gan_viz", "analyses"] or parts[2] == "registry":
        return None
    return parts[2]


def test_the_checker_sees_real_imports():
    """Guard the guard: it resolves relative and absolute imports of a known file."""
    got = imports_of(ROOT / "analyses" / "forget" / "run.py")
    assert "gan_viz.analyses.forget.compute" in got and "gan_viz.analyses.registry" in got
    assert "gan_viz.layers" in got


def violations(me: str, deps) -> list[str]:
    """The imports of module ``me`` that point the wrong way."""
    bad, mine = [], layer_of(me)
    for dep in sorted(deps):
        theirs = layer_of(dep)
        if mine == "core" and theirs != "core":
            bad.append(f"core {me} imports {dep}")
        elif mine == "analyses" and theirs == "front":
            bad.append(f"analysis {me} imports front end {dep}")
        elif mine == "analyses" and theirs == "analyses":
            a, b = analysis_package(me), analysis_package(dep)
            if a is not None and b is not None and a != b:
                bad.append(f"analysis {a} imports analysis {b} ({me} -> {dep})")
        elif me.startswith("gan_viz.reports") and dep.startswith(("gan_viz.cli", "gan_viz.explore")):
            bad.append(f"report {me} imports {dep}")
    return bad


def test_the_rules_catch_planted_violations():
    assert violations("gan_viz.layers", {"gan_viz.analyses.forget"})
    assert violations("gan_viz.data.rooms", {"gan_viz.cli.common"})
    assert violations("gan_viz.analyses.forget.run", {"gan_viz.analyses.arithmetic.compute"})
    assert violations("gan_viz.analyses.neighbors.run", {"gan_viz.reports.glance"})
    assert violations("gan_viz.reports.html", {"gan_viz.explore.server"})
    assert not violations("gan_viz.analyses.forget.run", {"gan_viz.analyses.registry", "gan_viz.analyses.forget.probe",
                                                          "gan_viz.layers"})
    assert not violations("gan_viz.reports.report", {"gan_viz.analyses.registry", "gan_viz.io"})


def test_dependencies_point_down():
    bad = [v for path in sources() for v in violations(module_name(path), imports_of(path))]
    assert not bad, "\n".join(bad)


def test_every_analysis_is_a_package():
    loose = [p.name for p in (ROOT / "analyses").glob("*.py") if p.name not in ("__init__.py", "registry.py")]
    assert not loose, f"analyses/ modules outside a package: {loose}"
    from gan_viz.analyses.registry import MODULES

    for name, module in MODULES.items():
        pkg = module.split(".")[0]
        assert (ROOT / "analyses" / pkg / "__init__.py").exists(), name


def test_every_package_is_installed():
    """pyproject.toml lists every package (a non-editable install would leave one out)."""
    text = (ROOT / "pyproject.toml").read_text()
    for init in [*ROOT.glob("gan_viz/**/__init__.py"), *ROOT.glob("analyses/**/__init__.py"),
                 *ROOT.glob("reports/__init__.py")]:
        assert f'"{module_name(init)}"' in text, f"{module_name(init)} is missing from pyproject.toml packages"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) < MAX_FILE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)" for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 >= MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: {', '.join(long)}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_says_what_it_owns(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
