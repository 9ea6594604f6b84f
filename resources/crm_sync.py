"""What every incremental CRM sync shares: the cursor arithmetic, the email salt, and the typed frames of
crm_rows.py. One copy, so all CRMs resume, hash and order rows the same way."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pandas as pd


def email_salt(hash_emails: bool, env_name: str) -> str | None:
    """The salt for email hashing, or None when hashing is off; refuses to hash without one."""
    if not hash_emails:
        return None
    salt = os.environ.get(env_name)
    if not salt:
        raise ValueError(f"hash_emails is on but the salt variable {env_name} is not set")
    return salt


def parse_cursor(cursor: str | None) -> datetime | None:
    """An ISO cursor as naive UTC (offsets are converted)."""
    if not cursor:
        return None
    parsed = datetime.fromisoformat(cursor)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def next_cursor(old: datetime | None, seen: list[datetime], server_time: datetime | None) -> str | None:
    """Newest change seen, capped at the server clock at sync start, never moving backwards."""
    new = max(seen, default=None)
    if new is not None and server_time is not None and new > server_time:
        new = server_time
    if old is not None and (new is None or new < old):
        new = old
    return new.isoformat() if new is not None else None


def crm_frame(rows: list[dict[str, Any]], columns: tuple[str, ...], key: str) -> pd.DataFrame:
    """Rows in a stable order (by numeric id) with datetime columns typed even when empty."""
    rows = sorted(rows, key=lambda r: (len(r[key]), r[key]))
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in columns:
        if column.endswith("_at"):
            frame[column] = pd.to_datetime(frame[column])
    frame["is_deleted"] = frame["is_deleted"].astype(bool)
    return frame
