"""Pictures made here with Pillow for the school-files tests: a PNG or JPEG of a size, plain or noise."""
from __future__ import annotations

import io
import random

from PIL import Image


def picture(kind: str = "PNG", size: tuple[int, int] = (64, 48), noise: bool = False, exif: bytes | None = None,
            seed: int = 5) -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    if noise:
        rng = random.Random(seed)
        image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    image.save(out, format=kind, **({"exif": exif} if exif else {}))
    return out.getvalue()
