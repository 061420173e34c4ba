"""The import contracts in .importlinter hold for the tree, and they do catch a forbidden arrow.

The second half is what makes the first worth anything: the very same contract file, pointed at
a throwaway package laid out like ours, must report an upward import between every two adjacent
layers and a web <-> api import, and must keep a tree whose arrows all point down.
"""

from __future__ import annotations

import configparser
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PROBE = "canteen_probe"


def _lint(cwd: Path, config: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(  # noqa: S603 - our own venv's lint-imports, fixed arguments
        [str(LINT_IMPORTS), "--no-cache", "--config", str(config)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _layers() -> list[list[str]]:
    """The layers of the contract, highest first; each a list of sibling module names."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS, encoding="utf-8")
    raw = parser["importlinter:contract:layers"]["layers"]
    out = []
    for line in raw.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append([m.strip() for m in re.split(r"[|:]", line)])
    return out


def _probe(tmp_path: Path, arrows: list[tuple[str, str]]) -> Path:
    """A package named like ours child for child, whose only imports are ``arrows``
    (plus the two named exceptions of the contract, which must exist to be ignored)."""
    root = tmp_path / PROBE
    root.mkdir()
    (root / "__init__.py").write_text("")
    for layer in _layers():
        for name in layer:
            pkg = root / name
            pkg.mkdir()
            (pkg / "__init__.py").write_text("")
            (pkg / "m.py").write_text("")
    (root / "regions" / "tables.py").write_text("")
    for mod in ("tables", "services"):
        (root / "accounts" / f"{mod}.py").write_text(f"from {PROBE}.regions import tables\n")
    by_importer: dict[str, list[str]] = {}
    for importer, imported in arrows:
        by_importer.setdefault(importer, []).append(imported)
    for importer, imported_list in by_importer.items():
        lines = [f"import {PROBE}.{imported}.m\n" for imported in imported_list]
        (root / importer / "m.py").write_text("".join(lines))
    config = tmp_path / ".importlinter"
    config.write_text(re.sub(r"\bcanteen\b", PROBE, CONTRACTS.read_text(encoding="utf-8")), encoding="utf-8")
    return config


def test_the_tree_keeps_every_contract() -> None:
    done = _lint(REPO, CONTRACTS)
    assert done.returncode == 0, f"lint-imports found a forbidden arrow:\n{done.stdout}\n{done.stderr}"
    assert "KEPT" in done.stdout and "BROKEN" not in done.stdout


def test_every_package_of_canteen_has_a_layer() -> None:
    listed = {name for layer in _layers() for name in layer}
    src = REPO / "src" / "canteen"
    children = {p.stem for p in src.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in src.iterdir() if (p / "__init__.py").exists()}
    assert children - listed == set(), "place each new package in a layer of .importlinter"


def test_arrows_that_point_down_are_kept(tmp_path: Path) -> None:
    layers = _layers()
    # Every module imports every module of every lower layer.
    arrows = [
        (high, low)
        for i, upper in enumerate(layers)
        for high in upper
        for lower in layers[i + 1 :]
        for low in lower
    ]
    done = _lint(tmp_path, _probe(tmp_path, arrows), pythonpath=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


@pytest.mark.parametrize("siblings", [("web", "api"), ("api", "web"), ("cli", "piccolo_conf")])
def test_siblings_may_not_import_each_other(tmp_path: Path, siblings: tuple[str, str]) -> None:
    importer, imported = siblings
    done = _lint(tmp_path, _probe(tmp_path, [siblings]), pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{PROBE}.{importer} is not allowed to import {PROBE}.{imported}" in done.stdout
    assert f"- {PROBE}.{importer}.m -> {PROBE}.{imported}.m" in done.stdout


def test_an_upward_arrow_between_any_two_adjacent_layers_is_reported(tmp_path: Path) -> None:
    layers = _layers()
    # For each pair of adjacent layers, the first module of the lower one imports the first
    # module of the upper one: e.g. payments -> meals, accounts -> regions, core -> accounts.
    arrows = [(lower[0], upper[0]) for upper, lower in itertools.pairwise(layers)]
    assert ("core", "accounts") in arrows and ("payments", "meals") in arrows
    done = _lint(tmp_path, _probe(tmp_path, arrows), pythonpath=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    missed = [
        (low, high)
        for low, high in arrows
        if f"{PROBE}.{low} is not allowed to import {PROBE}.{high}" not in done.stdout
    ]
    assert missed == [], done.stdout
