"""The package installs as one distribution and its entry points stay light."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO


def _packages_on_disk() -> set[str]:
    found = set()
    for init in (REPO / "vmb_agent").rglob("__init__.py"):
        rel = init.parent.relative_to(REPO)
        found.add(".".join(rel.parts))
    for mapped in ("tools", "prompts"):
        for init in (REPO / mapped).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / mapped)
            found.add(".".join(("vmb_agent", mapped, *rel.parts)))
    return {p for p in found if "__pycache__" not in p}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


def test_import_is_light() -> None:
    code = (
        "import sys, vmb_agent, vmb_agent.types, vmb_agent.errors, vmb_agent.settings;"
        "heavy = [m for m in ('torch', 'chromadb', 'librosa', 'numpy', 'transformers', 'music21')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_lists_commands_without_heavy_imports() -> None:
    code = (
        "import sys\nfrom vmb_agent.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'chromadb', 'numpy', 'music21') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for command in ("describe", "library", "search", "generate", "score", "serve", "chat", "eval"):
        assert command in out.stdout
    assert "HEAVY=\n" in out.stdout + "\n" and out.stdout.strip().endswith("HEAVY=")


def test_mapped_packages_are_importable_under_vmb_agent() -> None:
    import vmb_agent.prompts
    import vmb_agent.tools

    assert Path(vmb_agent.tools.__file__).parent == REPO / "tools"
    assert Path(vmb_agent.prompts.__file__).parent == REPO / "prompts"


def test_public_names_resolve_lazily() -> None:
    import vmb_agent

    assert sorted(vmb_agent.__all__) == sorted(vmb_agent._LAZY)
    for name in vmb_agent.__all__:
        assert getattr(vmb_agent, name).__name__ == name
