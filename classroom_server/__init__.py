"""The school server: lessons, e-textbooks and practice on the school LAN, whatever the link does."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["create_app", "__version__"]


def __getattr__(name: str):
    # Loaded on first use, so the pure `classroom_server.domain` imports no Flask or peewee.
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
