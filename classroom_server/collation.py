"""People's names in the alphabetical order Kazakh and Russian readers expect, not by character code:
Ә after А, Ғ after Г, Қ after К, Ң after Н, Ө after О, Ұ and Ү after У, Һ after Х, І after Ы.

ICU's Kazakh collation (CLDR) does it; the Kazakh alphabet keeps the Russian letters in the Russian
order, so one order serves a class list in either language. The database sorts with it too: SQLite
through a collation the connection registers (db.open_database), PostgreSQL through an ICU collation
of the same name (migration 0016).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import icu

NAMES = "names"  # the collation's name in SQL: Field.collate(NAMES)
LOCALE = "kk-KZ"
_local = threading.local()


def _collator() -> icu.Collator:
    # One collator per thread: ICU allows sharing one for comparing, but a per-thread one costs
    # nothing and leaves no doubt.
    collator = getattr(_local, "collator", None)
    if collator is None:
        # Imported by the first comparison, not at start: ICU's libraries are ~5 MiB of an idle
        # server's memory (issue 18), and a server's supervisor process never sorts a name.
        import icu
        collator = _local.collator = icu.Collator.createInstance(icu.Locale(LOCALE))
    return collator


def name_key(name: str) -> bytes:
    """A sort key: sorted(names, key=name_key) is alphabetical order."""
    return _collator().getSortKey(name)


def compare(left: str, right: str) -> int:
    """-1, 0 or 1, as SQLite's collation callback wants."""
    return _collator().compare(left, right)
