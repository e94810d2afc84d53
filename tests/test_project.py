"""Promises about the repository itself: the README's two commands, CI, offline pages."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_every_script_tag_carries_the_pages_nonce():
    """script-src admits only scripts with the response's nonce: a template's script without it
    would silently never run (security.csp_nonce)."""
    for path in (ROOT / "classroom_server").rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", path.read_text(encoding="utf-8")):
            assert 'nonce="{{ csp_nonce() }}"' in tag, f"{path.relative_to(ROOT)}: {tag}"


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


def _test_modules_imported(path: Path) -> list[str]:
    """The test modules (tests/test_*.py) that `path` imports, anywhere in its code."""
    found = []
    for module, names, level, _ in _imports(path):
        if level > 1 or (level == 0 and module != "tests" and not module.startswith("tests.")):
            continue  # not inside tests/
        tail = module.rsplit(".", 1)[-1]
        if tail.startswith("test_"):
            found.append(tail)
        elif tail in ("", "tests"):  # `from . import test_x`, `from tests import test_x`
            found += [name for name in names if name.startswith("test_")]
    return found


def test_every_suite_wears_its_markers_and_imports_helpers_not_conftest():
    """`pytest -m "not slow and not browser"` (docs/development.md) leaves out every test that drives
    Chromium, starts a real hub or fills a disk, so it stays the minute a developer waits. Tests share
    code through helper modules (tests/helpers.py, tests/hubtesting.py, ...) and conftest.py's
    fixtures, never through another test module: that one changes for its own tests, and its markers
    do not come with what it lends."""
    for path in (ROOT / "tests").glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        name = path.name
        borrowed = _test_modules_imported(path)
        assert not borrowed, f"{name} imports {borrowed}: move what it needs to a helper module " \
                             f"(tests/helpers.py, tests/hubtesting.py, ...) or a fixture in tests/conftest.py"
        if name == "test_project.py":  # names these words to look for them
            continue
        assert "from .conftest import" not in text, f"{name}: import helpers from tests/helpers.py"
        if "sync_playwright" in text or "chromium.launch" in text or name.startswith("test_browser"):
            assert "mark.browser" in text, f"{name} drives Chromium: mark it browser"
        if "HubProcess(" in text or "tmpfs(" in text or "install.sh" in text:
            assert "mark.slow" in text, f"{name} starts a real hub, fills a disk or installs: mark it slow"


def _imports(path: Path, top_level_only: bool = False) -> list[tuple[str, tuple[str, ...], int, bool]]:
    """(module, names, level, at top level) of each import in `path`; `if TYPE_CHECKING:` blocks are
    left out (they import nothing when the program runs)."""
    import ast
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, (), 0, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append((child.module or "", tuple(a.name for a in child.names), child.level, top))
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    visit(tree, True)
    return found


# The architecture's "never" imports (docs/architecture.md): a part on the left never imports the right.
NEVER = [
    ("classroom_server", ("sync",)),
    ("sync/hub", ("classroom_server",)),
    ("sync/protocol.py", ("classroom_server", "sync.agent", "sync.hub", "flask", "peewee")),
    ("content_packs", ("classroom_server", "sync")),
    ("classroom_server/domain", ("flask", "peewee", "requests", "classroom_server")),
]


def test_no_part_imports_what_the_architecture_says_it_never_imports():
    for part, forbidden in NEVER:
        where = ROOT / part
        for path in ([where] if where.is_file() else where.rglob("*.py")):
            for module, _, level, _ in _imports(path):
                if level:
                    continue  # relative: inside the same part
                assert not any(module == f or module.startswith(f + ".") for f in forbidden), \
                    f"{path.relative_to(ROOT)} imports {module}: docs/architecture.md says {part} never does"


# The agent's modules from the bottom up (sync/agent/__init__.py, docs/architecture.md).
AGENT_ORDER = ["school", "status", "trust", "client", "records", "roster", "certificate", "content", "jobs", "cli"]


def test_the_agents_modules_import_downwards_by_public_names_at_the_top():
    folder = ROOT / "sync" / "agent"
    assert sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__") == sorted(AGENT_ORDER)
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        rank = AGENT_ORDER.index(path.stem)
        for module, names, level, top in _imports(path):
            sibling = module if level == 1 else (module[len("sync.agent."):] if module.startswith("sync.agent.")
                                                 else None)
            if level == 1 and not module:
                siblings = list(names)
            elif sibling is not None:
                siblings = [sibling.split(".")[0]]
            else:
                assert module != "sync.agent", f"{path.name} imports the package itself"
                continue
            assert top, f"{path.name} imports {siblings} inside a function: a cycle to untie, not hide"
            for name in siblings:
                assert AGENT_ORDER.index(name) < rank, f"{path.name} imports {name}, which sits above it"
            assert not any(n.startswith("_") for n in names), f"{path.name} imports private {names} of {module}"
        text = path.read_text(encoding="utf-8")
        private = re.search(r"\b(" + "|".join(AGENT_ORDER) + r")\._[a-z]", text)
        assert not private, f"{path.name} uses {private.group(0)}...: another module's private name"


# Entry points import late on purpose: `classroom-server --help` need not load the web app.
LATE_IMPORTS_ALLOWED = {"classroom_server/cli.py", "classroom_server/__init__.py"}


def test_the_school_servers_modules_import_each_other_at_the_top():
    """An import inside a function hides a cycle instead of untying it: shared code goes down into a
    module both sides import (a blueprint over several files keeps `bp` and its shared helpers in
    `<feature>/blueprint.py`, which imports none of them)."""
    for path in (ROOT / "classroom_server").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative in LATE_IMPORTS_ALLOWED or "/migrations/" in relative:
            continue
        for module, names, level, top in _imports(path):
            ours = level > 0 or module.split(".")[0] in ("classroom_server", "content_packs", "sync")
            assert top or not ours, f"{relative} imports {module or names} inside a function: untie the cycle"


def test_a_blueprint_over_several_files_is_imported_by_its_view_files_never_the_other_way():
    for feature in ("coach", "learn"):
        folder = ROOT / "classroom_server" / feature
        imported = {name for module, names, level, _ in _imports(folder / "blueprint.py") if level == 1
                    for name in ([module.split(".")[0]] if module else names)}
        views = {path.stem for path in folder.glob("*views.py")}
        assert views and not imported & views, f"{feature}/blueprint.py imports its view files {imported & views}"
        for stem in views:
            for module, names, level, _ in _imports(folder / f"{stem}.py"):
                if level == 1:
                    used = [module.split(".")[0]] if module else list(names)
                    assert not set(used) & views, f"{feature}/{stem}.py imports another view file {used}"


# The benchmark scripts (a module they import has no `__main__`).
BENCHMARKS = sorted(path for path in (ROOT / "benchmarks").glob("**/*.py")
                    if '__name__ == "__main__"' in path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_benchmark_script_starts(script):
    # The figures in docs/BENCHMARKS.md come from these: one whose imports broke (answers.py once
    # imported a function load_home.py no longer had) could not measure again, and nothing ran it.
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
