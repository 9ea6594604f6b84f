"""Rendering of a report (sections of tables and bullets) to Markdown or HTML; no warehouse access here, so
the same code serves the report assets and `mpulse report`."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd


@dataclass(frozen=True)
class Section:
    title: str
    table: pd.DataFrame | None = None
    bullets: tuple[str, ...] = ()
    note: str = ""
    empty_text: str = "Nothing to report."
    percent: tuple[str, ...] = ()  # ratio columns shown as percentages


@dataclass(frozen=True)
class Report:
    title: str
    subtitle: str
    sections: tuple[Section, ...] = field(default_factory=tuple)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "–"
    if isinstance(value, Decimal | float):
        value = float(value)
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _percent(value: object) -> str:
    return "–" if value is None or value is pd.NA or pd.isna(value) else f"{float(value):.0%}"


def _formatted(section: Section) -> pd.DataFrame:
    table = section.table
    return table.apply(lambda col: col.map(_percent if col.name in section.percent else _fmt))


def _is_number_column(column: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(column):
        return True
    values = column.dropna()
    return len(values) > 0 and all(isinstance(v, int | float | Decimal) for v in values)


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", f"_{report.subtitle}_", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        has_table = section.table is not None and len(section.table) > 0
        if has_table:
            align = tuple(
                "right" if _is_number_column(section.table[c]) else "left" for c in section.table.columns
            )
            table = _formatted(section).to_markdown(index=False, disable_numparse=True, colalign=align)
            lines += [table, ""]
        lines += [f"- {b}" for b in section.bullets]
        if section.bullets:
            lines.append("")
        if not has_table and not section.bullets:
            lines += [section.empty_text, ""]
    return "\n".join(lines).rstrip() + "\n"


def render_html(report: Report) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}</style>",
        "</head><body>",
        f"<h1>{html.escape(report.title)}</h1><p><em>{html.escape(report.subtitle)}</em></p>",
    ]
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p>{html.escape(section.note)}</p>")
        has_table = section.table is not None and len(section.table) > 0
        if has_table:
            parts.append(_formatted(section).to_html(index=False, border=0, escape=True))
        if section.bullets:
            parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>")
        if not has_table and not section.bullets:
            parts.append(f"<p>{html.escape(section.empty_text)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(report: Report, fmt: str) -> str:
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (use md or html)")
