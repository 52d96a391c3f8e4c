"""The layout shows the architecture: imports go one way down the layers, studies are imported by
nothing but the CLI, no library module is over 350 lines, and docs/architecture.md lists every module."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "landscape"
LAYERS = ("base", "sources", "geometry", "evaluation", "storage", "surfaces", "metrics", "training", "viz",
          "studies", "cli")
MAX_LINES = 350


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "base"


def imported_modules(path: Path) -> set[str]:
    """Every landscape module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("landscape"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("landscape"))
    return found


def library_modules():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"]


def test_imports_go_down_the_layers_only():
    upward = [(module_name(p), m) for p in library_modules() for m in imported_modules(p)
              if LAYERS.index(layer(m)) > LAYERS.index(layer(module_name(p)))]
    assert not upward, upward


def test_nothing_but_the_cli_imports_a_study():
    users = [module_name(p) for p in library_modules() if layer(module_name(p)) not in ("studies", "cli")
             and any(layer(m) == "studies" for m in imported_modules(p))]
    assert not users, users


def test_no_library_module_is_over_350_lines():
    long = {module_name(p): n for p in library_modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_the_architecture_page_lists_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [str(p.relative_to(PACKAGE)) for p in library_modules()
               if p.name != "__init__.py" and p.parent.name != "cli" and p.parent.name != "depth"
               and f"`{p.relative_to(PACKAGE)}`" not in page and f"`{p.relative_to(PACKAGE)}` +" not in page]
    assert not missing, missing


def test_every_library_module_has_a_test_module():
    """tests/ mirrors the package: landscape/LAYER/MODULE.py is tested in tests/LAYER/test_MODULE.py."""
    missing = []
    for p in library_modules():
        if p.name == "__init__.py" or p.parent.name == "cli" or p.name in ("version.py",):
            continue
        relative = p.relative_to(PACKAGE)
        if not (ROOT / "tests" / relative.parent / f"test_{p.name}").is_file():
            missing.append(str(relative))
    assert not missing, missing


def test_every_public_name_is_importable_from_the_package():
    import landscape

    for name in landscape.__all__:
        assert getattr(landscape, name) is not None, name
