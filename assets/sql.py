"""SQL files live beside the assets that run them (`<layer>/sql/<table>.sql`): one place to read a model."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def read_sql(package: str, name: str) -> str:
    return resources.files(package).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
