"""Who may read what in the data folder, whatever the umask of whoever started the server.

The data folder holds the school's database (every child's answers, password hashes), the key
that signs session cookies and the sync agent's secret: nobody but the classroom user may read
those (0600), the settings file may be read by its group (0640), and the folder itself is 0750
(0751 where nginx must pass through it to the content files). Files are made with these modes;
`classroom-server doctor` reports any that are wider and `doctor --fix` narrows them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_MODE = 0o750
SECRET_MODE = 0o600
# Bits that must not be set: group write and other read/write on the folder (other x is nginx's
# way in, install.sh --with-nginx); anything beyond 0640 on settings; anything beyond 0600 on secrets.
FOLDER_FORBIDDEN, SETTINGS_FORBIDDEN, SECRET_FORBIDDEN = 0o026, 0o137, 0o177
# SQLite's companions of a database file (made by SQLite with the database file's own mode).
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal", "-writer.lock")


@dataclass(frozen=True)
class WrongMode:
    path: Path
    mode: int
    wanted: int  # the mode `fix` gives it: the same, less the forbidden bits

    def __str__(self) -> str:
        return f"{self.path} has mode {self.mode:04o}, should be {self.wanted:04o}"


def make_folder(folder: Path) -> None:
    """Create the data folder 0750 (and its missing parents as usual); an existing one is left as it is."""
    folder.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)


def create_private(path: Path) -> None:
    """Create an empty file only its owner may read (0600), unless it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE))
    except FileExistsError:
        pass


def _rules(data_dir: Path, database: Path | None, ini: Path | None) -> list[tuple[Path, int]]:
    rules = [(data_dir, FOLDER_FORBIDDEN), (data_dir / "secret_key", SECRET_FORBIDDEN),
             (data_dir / "keys", 0o077)]
    if ini is not None:
        rules.append((ini, SETTINGS_FORBIDDEN))
    if database is not None:
        rules += [(Path(f"{database}{suffix}"), SECRET_FORBIDDEN) for suffix in SQLITE_SUFFIXES]
    rules += [(pem, SECRET_FORBIDDEN) for pem in sorted(data_dir.glob("*.pem"))]
    keys = data_dir / "keys"
    if keys.is_dir():
        rules += [(key, SECRET_FORBIDDEN) for key in sorted(keys.iterdir()) if key.is_file()]
    return rules


def sqlite_path(database_url: str) -> Path | None:
    return Path(database_url[len("sqlite:///"):]) if database_url.startswith("sqlite:///") else None


def wrong_modes(data_dir: Path, database: Path | None = None, ini: Path | None = None) -> list[WrongMode]:
    """Everything in the data folder that others may read (or the group write) but should not."""
    found = []
    for path, forbidden in _rules(data_dir, database, ini):
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & forbidden:
            found.append(WrongMode(path, mode, mode & ~forbidden))
    return found


def fix_modes(data_dir: Path, database: Path | None = None, ini: Path | None = None) -> list[WrongMode]:
    """Narrow every wrong mode (see wrong_modes); what was changed."""
    fixed = wrong_modes(data_dir, database, ini)
    for wrong in fixed:
        os.chmod(wrong.path, wrong.wanted)
    return fixed
