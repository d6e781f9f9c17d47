"""Render verdicts as an aligned text table (terminal, CI log) or a Markdown table."""

from __future__ import annotations

from vimbench.compare.verdict import Comparison

HEADERS = ("benchmark", "base ms", "cand ms", "change", "n", "p(slower)", "verdict")


def _cells(c: Comparison) -> tuple[str, ...]:
    base = f"{c.baseline.median_ms:.4g}" if c.baseline else "-"
    cand = f"{c.candidate.median_ms:.4g}" if c.candidate else "-"
    change = f"{(c.ratio - 1) * 100:+.1f}%" if c.ratio is not None else "-"
    n_base = len(c.baseline.samples_ms) if c.baseline else 0
    n_cand = len(c.candidate.samples_ms) if c.candidate else 0
    counts = f"{n_base}/{n_cand}"
    if c.p_slower is not None:
        p = f"{c.p_slower:.2g}"
    elif c.test == "iqr-overlap":
        p = "iqr"
    else:
        p = "-"
    return (c.key, base, cand, change, counts, p, c.verdict)


def render_text(comparisons: list[Comparison]) -> str:
    rows = [HEADERS] + [_cells(c) for c in comparisons]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(rows):
        # first column left-aligned (names), numbers right-aligned, verdict left-aligned
        parts = [row[0].ljust(widths[0])]
        parts += [row[i].rjust(widths[i]) for i in range(1, len(row) - 1)]
        parts.append(row[-1])
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(comparisons: list[Comparison]) -> str:
    """A GitHub table.  Cell ids hold `|` (`deit_tiny|sdpa|r1248|...`): escaped as `\\|`, which
    GitHub renders as `|` even inside a code span, so a row keeps one cell per column."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for c in comparisons:
        cells = [_escape(cell) for cell in _cells(c)]
        cells[0] = f"`{cells[0]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
