"""The package's shape: import directions and module sizes (docs/architecture.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "brainpipe"

#: What a kernel module may import besides the standard library and other kernels.
#: threadpoolctl only limits BLAS threads around small batched ``eigh`` calls
#: (kernels.spd); it computes nothing.
KERNEL_LIBRARIES = {"numpy", "numba", "torch", "scipy", "threadpoolctl"}

#: About 400 lines: one idea per module.
MAX_LINES = 410
#: Modules other changes are splitting or editing now (remove each once it is split).
LINE_ALLOW: set = set()

#: Packages whose modules may import only these brainpipe packages (and themselves).
LAYERS = {
    "brainpipe.features": ("brainpipe.kernels", "brainpipe._check"),
    "brainpipe.report": ("brainpipe.io", "brainpipe._check"),
}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path):
    """Every module ``path`` imports, at any depth (lazy imports included), absolute."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.add(mod)
            # "from . import x" / "from brainpipe import report": x may be a module
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def _stage_imports(path):
    """The brainpipe modules ``path`` imports (the package root and its dunders left out)."""
    return {m for m in _imports(path) if m.startswith("brainpipe.") and not m.startswith("brainpipe.__")}


def _inside(module, package):
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_report_and_cli_import_report(path):
    name = _name(path)
    if _inside(name, "brainpipe.report") or _inside(name, "brainpipe.cli"):
        return
    bad = sorted(m for m in _imports(path) if _inside(m, "brainpipe.report"))
    assert not bad, f"{name} imports {bad}: stages write through brainpipe.io.fragments/figures"


@pytest.mark.parametrize("path", sorted((PACKAGE / "kernels").rglob("*.py")),
                         ids=lambda p: p.name)
def test_kernels_import_only_the_allowed_libraries(path):
    bad = []
    for mod in _imports(path):
        top = mod.split(".")[0]
        if top == "brainpipe":
            if not (_inside(mod, "brainpipe.kernels") or _inside(mod, "brainpipe._check")
                    or mod == "brainpipe"):
                bad.append(mod)
        elif top not in KERNEL_LIBRARIES and top not in sys.stdlib_module_names and top != "__future__":
            bad.append(mod)
    assert not bad, f"{path.name} imports {sorted(bad)}; kernels use {sorted(KERNEL_LIBRARIES)} only"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downwards(path):
    name = _name(path)
    for package, allowed in LAYERS.items():
        if not _inside(name, package):
            continue
        bad = sorted(m for m in _stage_imports(path)
                     if not _inside(m, package) and not any(_inside(m, a) for a in allowed))
        assert not bad, f"{name} imports {bad}; {package} builds on {list(allowed)} only"
    # io is the base the stages write through: only io.validate, which checks the
    # stages' settings up front, reads stage packages
    if _inside(name, "brainpipe.io") and not _inside(name, "brainpipe.io.validate"):
        bad = sorted(m for m in _stage_imports(path)
                     if not (_inside(m, "brainpipe.io") or _inside(m, "brainpipe._check")))
        assert not bad, f"{name} imports {bad}; io builds on brainpipe._check only"


def test_modules_stay_small():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    big = {k: n for k, n in sizes.items() if n > MAX_LINES and k not in LINE_ALLOW}
    assert not big, f"modules over {MAX_LINES} lines (split them by idea): {big}"


def test_library_code_never_switches_the_matplotlib_backend():
    for path in _modules():
        if _inside(_name(path), "brainpipe.cli"):
            continue
        assert "matplotlib.use(" not in path.read_text(), f"{path}: only the CLI picks the backend"
