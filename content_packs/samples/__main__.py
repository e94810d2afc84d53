"""`python -m content_packs.samples OUTDIR [--key PEMFILE]`: build the sample packs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..manifest import InvalidPack
from ..signing import load_private_key
from . import build_samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m content_packs.samples",
                                     description="Build the sample content packs as .ckpack files.")
    parser.add_argument("outdir", type=Path, help="folder to write the .ckpack files into")
    parser.add_argument("--key", metavar="PEMFILE", help="Ed25519 private key (PEM) to sign the packs with; "
                                                        "without it the packs are unsigned")
    args = parser.parse_args(argv)
    try:
        key = load_private_key(args.key) if args.key else None
        paths = build_samples(args.outdir, key)
    except InvalidPack as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"{path}  {path.stat().st_size} bytes{'  signed' if key else '  unsigned'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
