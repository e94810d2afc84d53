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


def _pins() -> dict[str, str]:
    """constraints.txt as {normalized name: version}, for the lines whose marker fits this Python."""
    from packaging.requirements import Requirement
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"pin one exact version: {line}"
        if requirement.marker is None or requirement.marker.evaluate():
            pins[_normalized(requirement.name)] = specifiers[0].version
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_project_needs_is_pinned_to_what_is_installed():
    """A release on PyPI cannot change an install: every dependency of the server, the hub and the
    tests, direct or not, is pinned in constraints.txt, and the pin is the version installed here."""
    from importlib import metadata
    from packaging.requirements import Requirement
    pins = _pins()
    wanted = [("classroom-server", ("test", "hub", "postgres"))]
    seen = set()
    while wanted:
        name, extras = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker and not any(
                    requirement.marker.evaluate({"extra": extra}) for extra in extras or ("",)):
                continue
            dependency = _normalized(requirement.name)
            assert dependency in pins, f"{dependency} (needed by {name}) is not in constraints.txt"
            installed = metadata.version(dependency)
            assert installed == pins[dependency], (
                f"{dependency} {installed} is installed but constraints.txt pins {pins[dependency]}: "
                "reinstall with ./install.sh --dev, or refresh the pins (docs/development.md)")
            wanted.append((dependency, tuple(requirement.extras)))


def test_install_passes_the_pins_to_every_pip_install():
    """Each pip command in install.sh carries constraints.txt (directly or in its argument array)."""
    script = (ROOT / "install.sh").read_text(encoding="utf-8")
    installs = [line for line in script.splitlines() if re.search(r"-m pip (install|wheel)|\"\$\{pip\[@\]\}\"", line)]
    assert len(installs) >= 5, installs
    for line in installs:
        assert re.search(r"constraints\.txt|\$\{(pin|pip)\[@\]\}", line), f"pip without constraints.txt: {line.strip()}"
    for array in re.findall(r"local (pin|pip)=\((.*)\)", script):
        assert "-c " in array[1] and "constraints.txt" in array[1], array


def _python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def test_raw_sql_is_written_one_way_and_nothing_writes_peewee_internals():
    """Raw SQL is written with `?` and run through classroom_server.db.sql / run_sql (which give
    PostgreSQL its `%s`); rows are made through the model's constructor, never by setting `__data__`."""
    other_ways = re.compile(r"obj\.param|\"\?\" if is_sqlite|\{p\}|\{param\}|\{marker\}|\.__data__\s*=|"
                            r"execute_sql\([^)]*%s")
    for path in _python_files("classroom_server", "sync/agent"):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "classroom_server/db.py" or "/migrations/" in relative:  # the idiom itself; frozen history
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not other_ways.search(line), f"{relative}:{number}: {line.strip()}"
