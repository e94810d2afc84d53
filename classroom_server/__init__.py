"""The school server: lessons, e-textbooks and practice on the school LAN, whatever the link does."""
from __future__ import annotations

__version__ = "0.1.0"

from .app import create_app  # noqa: E402  (re-exported for `from classroom_server import create_app`)

__all__ = ["create_app", "__version__"]
