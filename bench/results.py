"""A benchmark's result row and the table they print as: shared by every bench module."""

from __future__ import annotations

__all__ = ["Result", "print_table"]


class Result:
    def __init__(
        self,
        name: str,
        ours: str,
        baseline: str,
        ratio: float | None,
        target: str,
        ok: bool | None,
        note: str = "",
    ) -> None:
        self.name, self.ours, self.baseline = name, ours, baseline
        self.ratio, self.target, self.ok, self.note = ratio, target, ok, note


def print_table(results: list[Result]) -> None:
    rows = [("benchmark", "ours", "baseline", "ratio", "target", "result")]
    for r in results:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        if r.target == "reported":
            verdict = "-"
        else:
            verdict = "skipped" if r.ok is None else ("pass" if r.ok else "FAIL")
        rows.append((r.name, r.ours, r.baseline, ratio, r.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    notes = [r for r in results if r.note]
    if notes:
        print()
        for r in notes:
            print(f"  {r.name}: {r.note}")
