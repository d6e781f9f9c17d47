"""Markdown tables and number formatting (no extra dependency; output is deterministic)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from vimbench.report.names import GB


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(value))
    except TypeError:
        return False


def fmt(value: Any, spec: str = "", missing: str = "") -> str:
    if is_missing(value):
        return missing
    return format(value, spec)


def fmt_gb(nbytes: Any, missing: str = "") -> str:
    return missing if is_missing(nbytes) else f"{nbytes / GB:.2f}"


def fmt_ips(value: Any, missing: str = "") -> str:
    if is_missing(value):
        return missing
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def fmt_ratio(value: Any, missing: str = "") -> str:
    return missing if is_missing(value) else f"{value:.2f}x"


def fmt_pct(fraction: Any, missing: str = "") -> str:
    return missing if is_missing(fraction) else f"{100 * fraction:.1f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one letter per column, 'l' or 'r' (default: all 'l')."""
    align = align or "l" * len(header)
    cells = [[_escape(str(c)) for c in row] for row in rows]
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
