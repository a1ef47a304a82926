"""The import contract of docs/architecture.md, checked on the source (every import, module-level
or inside a function): a package imports only from its own layer's component or lower layers,
components of one layer are independent, and no module uses another module's ``_private`` names.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgeden



ROOT = Path(edgeden.__file__).parent

#: Highest layer first. A component is a module or package under ``edgeden``; components in one
#: layer are independent of each other. Keep in step with docs/architecture.md.
LAYERS: list[list[str]] = [
    ["__main__"],
    ["cli"],
    ["bench", "cluster"],
    ["training", "demo", "runner"],
    ["batch"],
    ["evaluate", "classify", "info", "calibrate"],
    ["peers"],
    ["pipeline"],
    ["presets"],
    ["models", "io"],
    ["core", "paths", "__init__"],
]
RANK = {c: i for i, layer in enumerate(LAYERS) for c in layer}


def component(module: str) -> str:
    """``edgeden.io.raw`` -> ``io``; ``edgeden`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) of every edgeden import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "edgeden" or mod.startswith("edgeden."):
                out.append((node.lineno, mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("edgeden"):
                    out.append((node.lineno, a.name, []))
    return out


def _targets(mod: str, names: list[str]) -> list[str]:
    """The modules an import reaches: ``from edgeden import io`` reaches ``edgeden.io``."""
    if mod == "edgeden":
        subs = [n for n in names if (ROOT / n).is_dir() or (ROOT / f"{n}.py").exists()]
        return [f"edgeden.{n}" for n in subs] + (["edgeden"] if len(subs) < len(names) else [])
    return [mod]


def violations() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        me = module_name(path)
        mine = component(me)
        assert mine in RANK, f"{me}: component {mine!r} is in no layer of LAYERS (add it, and to the docs)"
        for line, mod, names in imports(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            for target in _targets(mod, names):
                theirs = component(target)
                if theirs == mine:
                    continue
                if theirs not in RANK:
                    bad.append(f"{where}: imports {target}, in no layer")
                elif RANK[theirs] < RANK[mine]:
                    bad.append(f"{where}: {mine} (layer {RANK[mine]}) imports the higher layer {theirs} ({target})")
                elif RANK[theirs] == RANK[mine]:
                    bad.append(f"{where}: {mine} imports {theirs}, an independent component of its layer")
            if mod != me:
                for n in names:
                    if n.startswith("_") and not n.startswith("__"):
                        bad.append(f"{where}: imports the private name {n} of {mod}")
        bad += _private_attribute_uses(path)
    return bad


def _private_attribute_uses(path: Path) -> list[str]:
    """``mod._name`` where ``mod`` was bound by importing another edgeden module."""
    tree = ast.parse(path.read_text(), str(path))
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgeden"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if (ROOT.parent / Path(*full.split("."))).is_dir() or (ROOT.parent / (Path(*full.split(".")).as_posix() + ".py")).exists():
                    bound.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("edgeden") and a.asname:
                    bound.add(a.asname)
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: uses the private name {node.value.id}.{node.attr}")
    return out


def test_import_contract_holds():
    bad = violations()
    assert not bad, "import contract broken (see docs/architecture.md):\n" + "\n".join(bad)


def test_contract_checker_catches_a_violation(tmp_path):
    """The checker itself: a core module importing a model and a private name is reported."""
    fake = tmp_path / "edgeden"
    (fake / "core").mkdir(parents=True)
    (fake / "models").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "models" / "__init__.py").write_text("def _hidden():\n    pass\n")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "core" / "bad.py").write_text("from edgeden.models import _hidden\n")
    global ROOT
    old, ROOT = ROOT, fake
    try:
        bad = violations()
    finally:
        ROOT = old
    assert any("higher layer models" in b for b in bad) and any("private name _hidden" in b for b in bad)


def test_every_cli_command_uses_typed_annotated_options():
    """One CLI style: every parameter of every command is ``Annotated[type, typer.Option/Argument]``."""
    import inspect
    import typing

    from edgeden.cli import app

    for cmd in app.registered_commands:
        fn = inspect.unwrap(cmd.callback)
        hints = typing.get_type_hints(fn, include_extras=True)
        for name in inspect.signature(fn).parameters:
            assert typing.get_origin(hints[name]) is typing.Annotated, f"{cmd.name or fn.__name__}: {name}"
