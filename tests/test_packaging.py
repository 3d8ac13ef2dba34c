"""The package installs as one distribution and its entry points stay light."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO


def _package_folders() -> dict[str, Path]:
    """Every folder that ships, by package name: all folders with an importable name under
    vmb_agent and under the two root folders mapped into it. setuptools warns at every build
    about files in such a folder unless it is a listed package; folders whose names cannot be
    imported (``_tinysoundfont-src``) are plain data of the package above them."""
    found = {}
    for root, prefix in ((REPO / "vmb_agent", ("vmb_agent",)),
                         (REPO / "tools", ("vmb_agent", "tools")),
                         (REPO / "prompts", ("vmb_agent", "prompts"))):  # fmt: skip
        for folder in [root, *root.rglob("*")]:
            parts = folder.relative_to(root).parts
            if folder.is_dir() and "__pycache__" not in parts and all(
                part.isidentifier() for part in parts
            ):
                found[".".join((*prefix, *parts))] = folder
    return found


def _setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(_setuptools_config()["packages"])
    assert set(_package_folders()) == listed


def test_every_data_file_is_named_by_package_data() -> None:
    """include-package-data is off, so a file that no package-data pattern names would be left
    out of the wheel."""
    package_data = _setuptools_config()["package-data"]
    for package, folder in _package_folders().items():
        data = {f.name for f in folder.iterdir() if f.is_file() and f.suffix not in (".py", ".pyc")
                and not f.name.endswith(".so")}  # fmt: skip
        named = {f.name for pattern in package_data.get(package, []) for f in folder.glob(pattern)}
        assert data <= named, (package, data - named)


def test_vendored_renderer_is_compiled_and_carries_its_licences() -> None:
    from vmb_agent.rendering import _tinysoundfont  # type: ignore[attr-defined]

    assert Path(_tinysoundfont.__file__).parent == REPO / "vmb_agent" / "rendering"
    source = REPO / "vmb_agent" / "rendering" / "_tinysoundfont-src"
    assert "Bernhard Schelling" in (source / "NOTICE").read_text()
    assert "Nathan Whitehead" in (source / "LICENSE").read_text()


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
