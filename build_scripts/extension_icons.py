"""Draw the extension's icons (a white N on the hub's blue, rounded) as PNG files, with the
standard library only; run once, the PNGs are committed:
`python build_scripts/extension_icons.py`."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "browser-extension" / "src" / "icons"
BLUE, WHITE, CLEAR = (59, 91, 219, 255), (255, 255, 255, 255), (0, 0, 0, 0)


def inside_rounded_square(x: float, y: float, radius: float) -> bool:
    cx, cy = min(max(x, radius), 1 - radius), min(max(y, radius), 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def on_letter_n(x: float, y: float, stroke: float) -> bool:
    """An N from 0.28 to 0.72 across, 0.25 to 0.75 down: two uprights and a diagonal."""
    if not 0.25 <= y <= 0.75:
        return False
    if 0.28 <= x <= 0.28 + stroke or 0.72 - stroke <= x <= 0.72:
        return True
    t = (y - 0.25) / 0.5  # the diagonal runs from top left to bottom right
    diagonal_x = 0.28 + t * (0.44 - stroke)
    return diagonal_x <= x <= diagonal_x + stroke


def pixel(size: int, px: int, py: int) -> tuple[int, int, int, int]:
    # 4x4 samples per pixel, averaged: smooth edges at 16 px
    samples = [
        ((px + (i + 0.5) / 4) / size, (py + (j + 0.5) / 4) / size)
        for i in range(4)
        for j in range(4)
    ]
    colours = [
        WHITE if on_letter_n(x, y, 0.12) else BLUE if inside_rounded_square(x, y, 0.22) else CLEAR
        for x, y in samples
    ]
    return tuple(round(sum(c[k] for c in colours) / len(colours)) for k in range(4))


def png(size: int) -> bytes:
    rows = b"".join(
        b"\0" + bytes(v for px in range(size) for v in pixel(size, px, py)) for py in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (16, 32, 48, 128):
        (OUT / f"icon-{size}.png").write_bytes(png(size))
    print(f"icons written to {OUT}")
