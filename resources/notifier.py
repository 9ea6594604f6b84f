"""Where standup reports go. Today: files in a folder (Markdown and HTML) that a chat bot, mail job or
wiki can pick up; the folder is the contract other channels will plug into."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DEFAULT_REPORTS_DIR = "reports"


def reports_dir_from_env() -> str:
    return os.environ.get("MPULSE_REPORTS_DIR") or DEFAULT_REPORTS_DIR


class NotifierResource(dg.ConfigurableResource):
    """Publishes rendered reports as `<reports_dir>/<kind>/<name>.<ext>`."""

    reports_dir: str = DEFAULT_REPORTS_DIR

    def publish(self, kind: str, name: str, documents: dict[str, str]) -> list[Path]:
        folder = Path(self.reports_dir) / kind
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for ext, text in documents.items():
            path = folder / f"{name}.{ext}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written
