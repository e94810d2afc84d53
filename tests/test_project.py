"""Promises about the repository itself: the README's two commands, CI, offline pages."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block and text.index(block.group(0)) < text.index("## "), "the commands come first"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("classroom-server demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_line():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_pages_styles_and_scripts_name_no_outside_address():
    """Offline means offline: no CDN, web font or analytics URL anywhere in what browsers load."""
    package = ROOT / "classroom_server"
    pattern = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)
    for path in list(package.rglob("*.html")) + list(package.rglob("*.css")) + list(package.rglob("*.js")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "xmlns" in line:
                continue
            assert not pattern.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_hub_never_imports_the_school_server():
    for path in (ROOT / "sync" / "hub").rglob("*.py"):
        assert "classroom_server" not in path.read_text(encoding="utf-8"), path
    for path in (ROOT / "classroom_server").rglob("*.py"):
        assert not re.search(r"^\s*(from|import) sync\b", path.read_text(encoding="utf-8"), re.M), path


def test_every_data_file_is_packaged():
    """A plain `pip install .` (what install.sh does) must carry templates, catalogs, samples..."""
    import configparser
    import glob
    import os
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    data = config["options.package_data"]
    for package in ("classroom_server", "content_packs"):
        covered = set()
        for pattern in data[package].split():
            covered.update(glob.glob(str(ROOT / package / pattern)))
        for folder, dirs, files in os.walk(ROOT / package):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(folder, name)
                if name.endswith((".py", ".pyc", ".pot")):
                    continue
                assert path in covered, f"{os.path.relpath(path, ROOT)} would be left out of an install"
