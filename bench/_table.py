"""What every benchmark prints: a plain table, one row per measurement."""

from __future__ import annotations


def print_table(rows: list[dict], title: str | None = None) -> None:
    if title:
        print(f"\n{title}")
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
