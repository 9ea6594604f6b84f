"""Bitrix24 REST connector (inbound webhook): leads, their stage history and deals, without personal data.

How one sync works (and why):

- Lists (crm.lead.list, crm.deal.list) are read by **keyset**: `order {ID: ASC}`, `filter {">=DATE_MODIFY":
  window start, ">ID": last id}`, `start=-1` (no COUNT query), as Bitrix24's own guide for large exports
  recommends. Offset paging ordered by DATE_MODIFY would lose a record whenever an earlier one is edited
  during the sync (it moves to the end and shifts the rest). After one plain call, further pages travel in
  `batch` requests whose commands chain `">ID": "$result[p<k-1>][49][ID]"`, so up to 50 pages (2,500
  records) cost one request. A page shorter than 50 ends the list; commands after it are ignored.
- Stage times: crm.stagehistory.list (entityTypeId=1) for the leads in the batch, 50 leads per command and
  many commands per `batch`. TYPE_ID 1 records the status a lead was created in, so "created straight as
  SQL" is covered. A lead with no history for its current status (history can be switched off or predate
  the feature) falls back to MOVED_TIME, then DATE_MODIFY: an upper bound, documented as approximate.
- Deals: crm.deal.list; STAGE_SEMANTIC_ID == `won_deal_stage_semantics` ("S") makes `won_at` = CLOSEDATE.
- Deletions: Bitrix24 keeps no queryable trace of deleted leads, so a sync cannot see them. Use
  `list_lead_ids()` (IDs only, 2,500 per request) for a periodic reconciliation that marks missing leads
  deleted; `sync` always returns `is_deleted=False`.
- Cursor: the newest DATE_MODIFY seen, capped at the server clock when the sync started, so records edited
  while it ran are read again next time.

The webhook URL contains the token (`/rest/<user>/<token>/`); it is scrubbed from every error and log line.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import dagster as dg
import pydantic
import requests

from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS, CrmBatch
from resources.crm_sync import crm_frame, email_salt, next_cursor, parse_cursor
from resources.http_client import ApiError, HttpClient, RetryPolicy, email_hash

PAGE_SIZE = 50  # fixed by Bitrix24
BATCH_MAX_COMMANDS = 50  # fixed by Bitrix24
LEAD_ENTITY_TYPE_ID = 1
LEAD_FIELDS = (
    "ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "MOVED_TIME",
    "STATUS_ID",
    "STATUS_SEMANTIC_ID",
    "SOURCE_ID",
    "UTM_SOURCE",
    "UTM_MEDIUM",
    "UTM_CAMPAIGN",
)
DEAL_FIELDS = ("ID", "LEAD_ID", "OPPORTUNITY", "CURRENCY_ID", "CLOSEDATE", "STAGE_SEMANTIC_ID", "DATE_MODIFY")
HISTORY_FIELDS = ("ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "STATUS_ID", "STATUS_SEMANTIC_ID")
# Rate limiting (leaky bucket, 503), method blocking (429) and transient server faults.
RETRY_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR"})


class Bitrix24Source(pydantic.BaseModel):
    """Config section `sources.bitrix24`: which lead STATUS_IDs mean MQL, SQL and disqualified."""

    model_config = pydantic.ConfigDict(extra="forbid")

    mql_statuses: list[str] = ["IN_PROCESS"]
    sql_statuses: list[str] = ["PROCESSED"]
    disqualified_statuses: list[str] = ["JUNK"]
    failed_is_disqualified: bool = pydantic.Field(
        default=True, description="any status with failure semantics (F) also disqualifies"
    )
    won_deal_stage_semantics: str = "S"
    overlap_minutes: int = pydantic.Field(default=10, ge=0)
    hash_emails: bool = False
    email_salt_env: str = "MPULSE_EMAIL_SALT"

    @pydantic.model_validator(mode="after")
    def _one_stage_per_status(self) -> Bitrix24Source:
        seen: dict[str, str] = {}
        for stage in ("mql_statuses", "sql_statuses", "disqualified_statuses"):
            for status in getattr(self, stage):
                if status in seen and seen[status] != stage:
                    raise ValueError(f"status {status!r} is in both {seen[status]} and {stage}")
                seen[status] = stage
        return self


class Bitrix24Resource(dg.ConfigurableResource):
    """Bitrix24 REST through an inbound webhook URL (https://<portal>/rest/<user>/<token>/).

    Build it with `Bitrix24Resource.from_env()` so the webhook stays an environment reference in the UI.
    """

    webhook_url: str | None = None
    timeout_seconds: float = 60.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 120.0
    pages_per_batch: int = pydantic.Field(default=BATCH_MAX_COMMANDS, ge=1, le=BATCH_MAX_COMMANDS)

    @classmethod
    def from_env(cls, **overrides: Any) -> Bitrix24Resource:
        """Reference BITRIX24_WEBHOOK_URL when set; unset means the connector is off."""
        values = (
            {"webhook_url": dg.EnvVar("BITRIX24_WEBHOOK_URL")}
            if os.environ.get("BITRIX24_WEBHOOK_URL")
            else {}
        )
        return cls(**{**values, **overrides})

    def is_configured(self) -> bool:
        return bool(self.webhook_url)

    def sync(self, source: Bitrix24Source, since_cursor: str | None) -> CrmBatch:
        """Leads and deals changed since `since_cursor` (None: everything), and the cursor to resume from."""
        salt = email_salt(source.hash_emails, source.email_salt_env)
        with self._api() as api:
            return _Bitrix24Sync(api, source, salt).run(since_cursor)

    def list_lead_ids(self) -> set[str]:
        """Every lead id that exists now: compare with stored ids to find deleted leads."""
        with self._api() as api:
            return {str(row["ID"]) for row in api.list_all("crm.lead.list", {"select": ["ID"], "filter": {}})}

    def _api(self) -> _Bitrix24Api:
        if not self.webhook_url:
            raise ApiError("Bitrix24 is not configured: set BITRIX24_WEBHOOK_URL")
        policy = RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            retry_codes=RETRY_CODES,
        )
        return _Bitrix24Api(self.webhook_url, policy, self.timeout_seconds, self.pages_per_batch)


def _bitrix_error(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    code, detail = body.get("error"), body.get("error_description")
    return (str(code) if code else None), (str(detail) if detail else None)


def php_query(params: Mapping[str, Any]) -> str:
    """Encode nested params the way PHP's http_build_query does; batch commands are such query strings."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            pairs.append((prefix, "" if value is None else str(value)))

    for key, value in params.items():
        walk(key, value)
    return urlencode(pairs)


class _Bitrix24Api:
    """Calls, batches and keyset-paged lists over one HttpClient."""

    def __init__(
        self, webhook_url: str, policy: RetryPolicy, timeout_seconds: float, pages_per_batch: int
    ) -> None:
        self.base = webhook_url.rstrip("/") + "/"
        self.pages_per_batch = pages_per_batch
        token = webhook_url.rstrip("/").rsplit("/", 1)[-1]
        self.client = HttpClient(
            name="Bitrix24",
            secrets=[webhook_url, self.base, token],
            policy=policy,
            timeout_seconds=timeout_seconds,
            error_parser=_bitrix_error,
        )

    def __enter__(self) -> _Bitrix24Api:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        response = self.client.request("POST", self.base + method, json_body=params, validate=self._check)
        body = self.client.decode_json(response)
        if not isinstance(body, dict):
            raise ApiError(f"Bitrix24: {method} returned an unexpected body")
        return body

    def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run up to 50 commands in one request; returns (results, next offsets) and raises on needed errors.

        Errors of individual commands are returned in the results as `{"__error__": (code, text)}` so that a
        caller can ignore commands it does not need (e.g. chained pages after the end of a list).
        """
        cmd = {name: f"{method}?{php_query(params)}" for name, (method, params) in commands.items()}
        body = self.call("batch", {"halt": 0, "cmd": cmd})
        outer = body.get("result") or {}
        results = dict(outer.get("result") or {})
        errors = outer.get("result_error") or {}
        for name, error in errors.items() if isinstance(errors, dict) else []:
            code, detail = _bitrix_error(error)
            results[name] = {"__error__": (code, self.client.scrub(str(detail or "")))}
        nexts = outer.get("result_next") or {}
        return results, dict(nexts) if isinstance(nexts, dict) else {}

    def _check(self, response: requests.Response) -> None:
        """Errors Bitrix24 reports with HTTP 200: top-level `error`, or a rate-limited batch command."""
        try:
            body = response.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        codes = [body.get("error")]
        batch_errors = (
            (body.get("result") or {}).get("result_error") if isinstance(body.get("result"), dict) else None
        )
        if isinstance(batch_errors, dict):
            codes += [e.get("error") for e in batch_errors.values() if isinstance(e, dict)]
        retryable = [c for c in codes if c in RETRY_CODES]
        if retryable:
            raise ApiError(f"Bitrix24: {retryable[0]}", code=str(retryable[0]), retryable=True)
        if body.get("error"):
            _code, detail = _bitrix_error(body)
            raise ApiError(
                self.client.scrub(f"Bitrix24: {body['error']}: {detail or ''}"), code=str(body["error"])
            )

    def list_all(self, method: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every record of a list method, keyset-paged by ID; later pages chained inside `batch` requests."""
        base_filter = dict(params.get("filter") or {})

        def page_params(after: Any) -> dict[str, Any]:
            return {**params, "filter": {**base_filter, ">ID": after}, "order": {"ID": "ASC"}, "start": -1}

        last_page = _advancing(method, self.call(method, page_params(0)).get("result"), 0)
        rows: list[dict[str, Any]] = list(last_page)
        while len(last_page) == PAGE_SIZE:
            after = int(last_page[-1]["ID"])
            commands = {
                f"p{k}": (method, page_params(after if k == 0 else f"$result[p{k - 1}][49][ID]"))
                for k in range(self.pages_per_batch)
            }
            results, _nexts = self.batch(commands)
            for name in commands:
                page = results.get(name)
                if isinstance(page, dict) and "__error__" in page:
                    code, detail = page["__error__"]
                    raise ApiError(f"Bitrix24: {method} page failed: {code}: {detail}", code=code)
                last_page = _advancing(method, page, after)
                rows.extend(last_page)
                if len(last_page) < PAGE_SIZE:
                    break  # the list ended; later commands referenced a missing row and are meaningless
                after = int(last_page[-1]["ID"])
        return rows

    def stage_history(self, lead_ids: list[str]) -> list[dict[str, Any]]:
        """crm.stagehistory.list for these leads: 50 owners per command, continued by `>ID` while `next`."""
        chunks = [lead_ids[i : i + PAGE_SIZE] for i in range(0, len(lead_ids), PAGE_SIZE)]
        pending: dict[str, tuple[list[str], int]] = {f"h{i}": (chunk, 0) for i, chunk in enumerate(chunks)}
        entries: list[dict[str, Any]] = []
        while pending:
            names = list(pending)[: self.pages_per_batch]
            commands = {
                name: (
                    "crm.stagehistory.list",
                    {
                        "entityTypeId": LEAD_ENTITY_TYPE_ID,
                        "order": {"ID": "ASC"},
                        "filter": {"OWNER_ID": pending[name][0], ">ID": pending[name][1]},
                        "select": list(HISTORY_FIELDS),
                        "start": 0,
                    },
                )
                for name in names
            }
            results, nexts = self.batch(commands)
            for name in names:
                owners, _after = pending.pop(name)
                result = results.get(name) or {}
                if "__error__" in result:
                    code, detail = result["__error__"]
                    raise ApiError(f"Bitrix24: crm.stagehistory.list failed: {code}: {detail}", code=code)
                items = list(result.get("items") or [])
                entries.extend(items)
                if items and (name in nexts or len(items) == PAGE_SIZE):
                    pending[name] = (owners, int(items[-1]["ID"]))
        return entries


def _advancing(method: str, page: Any, after: int) -> list[dict[str, Any]]:
    """A keyset page must start after the previous one; otherwise the `>ID` filter was ignored and paging
    would never end."""
    rows = list(page or [])
    if rows and int(rows[0]["ID"]) <= after:
        raise ApiError(
            f"Bitrix24: {method} ignored the >ID filter (page starts at {rows[0]['ID']}, after {after})"
        )
    return rows


def parse_b24_time(value: Any) -> datetime | None:
    """Bitrix24 ISO time with offset (portal time zone) -> naive UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


class _Bitrix24Sync:
    """One incremental pass over leads, their stage history and deals."""

    def __init__(self, api: _Bitrix24Api, source: Bitrix24Source, salt: str | None) -> None:
        self.api = api
        self.source = source
        self.salt = salt
        self.stage_of: dict[str, str] = {}
        for stage, statuses in (
            ("mql", source.mql_statuses),
            ("sql", source.sql_statuses),
            ("disqualified", source.disqualified_statuses),
        ):
            self.stage_of.update(dict.fromkeys(statuses, stage))

    def run(self, since_cursor: str | None) -> CrmBatch:
        old = parse_cursor(since_cursor)
        since = old - timedelta(minutes=self.source.overlap_minutes) if old else None
        window = {">=DATE_MODIFY": since.isoformat() + "+00:00"} if since else {}
        lead_select = list(LEAD_FIELDS) + (["EMAIL"] if self.salt else [])
        leads = _newest_by_id(self.api.list_all("crm.lead.list", {"select": lead_select, "filter": window}))
        deals = _newest_by_id(
            self.api.list_all("crm.deal.list", {"select": list(DEAL_FIELDS), "filter": window})
        )

        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in self.api.stage_history(sorted(leads, key=int)):
            history[str(entry.get("OWNER_ID"))].append(entry)

        lead_rows = [self._lead_row(lead, history.get(lead_id, [])) for lead_id, lead in leads.items()]
        deal_rows = [self._deal_row(deal) for deal in deals.values()]
        seen = [r["updated_at"] for r in lead_rows + deal_rows if r["updated_at"] is not None]
        return CrmBatch(
            leads=crm_frame(lead_rows, CRM_LEAD_COLUMNS, "lead_id"),
            deals=crm_frame(deal_rows, CRM_DEAL_COLUMNS, "deal_id"),
            cursor=next_cursor(old, seen, self.api.client.server_time),
        )

    def _stage(self, status: Any, semantic: Any) -> str | None:
        if status in self.stage_of:
            return self.stage_of[str(status)]
        if semantic == "F" and self.source.failed_is_disqualified:
            return "disqualified"
        return None

    def _lead_row(self, lead: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
        first: dict[str, tuple[datetime | None, str]] = {}
        for entry in sorted(
            history, key=lambda e: (parse_b24_time(e.get("CREATED_TIME")) or datetime.min, int(e["ID"]))
        ):
            stage = self._stage(entry.get("STATUS_ID"), entry.get("STATUS_SEMANTIC_ID"))
            if stage and stage not in first:
                first[stage] = (parse_b24_time(entry.get("CREATED_TIME")), str(entry.get("STATUS_ID")))
        current = self._stage(lead.get("STATUS_ID"), lead.get("STATUS_SEMANTIC_ID"))
        if current and current not in first:
            # No history for the current status: when it was entered is unknown; this is an upper bound.
            moved = parse_b24_time(lead.get("MOVED_TIME")) or parse_b24_time(lead.get("DATE_MODIFY"))
            first[current] = (moved, str(lead.get("STATUS_ID")))

        disqualified = first.get("disqualified")
        emails = lead.get("EMAIL") or []
        address = next((e.get("VALUE") for e in emails if isinstance(e, dict) and e.get("VALUE")), None)
        return {
            "lead_id": str(lead["ID"]),
            "created_at": parse_b24_time(lead.get("DATE_CREATE")),
            "source": lead.get("SOURCE_ID") or None,
            "utm_source": lead.get("UTM_SOURCE") or None,
            "utm_medium": lead.get("UTM_MEDIUM") or None,
            "utm_campaign": lead.get("UTM_CAMPAIGN") or None,
            "mql_at": first.get("mql", (None, ""))[0],
            "sql_at": first.get("sql", (None, ""))[0],
            "disqualified_at": disqualified[0] if disqualified else None,
            "disqualification_reason": disqualified[1] if disqualified else None,
            "updated_at": parse_b24_time(lead.get("DATE_MODIFY")),
            "email_hash": email_hash(address, self.salt) if self.salt else None,
            "is_deleted": False,
        }

    def _deal_row(self, deal: dict[str, Any]) -> dict[str, Any]:
        lead_id = str(deal.get("LEAD_ID") or "")
        won = deal.get("STAGE_SEMANTIC_ID") == self.source.won_deal_stage_semantics
        updated = parse_b24_time(deal.get("DATE_MODIFY"))
        return {
            "deal_id": str(deal["ID"]),
            "lead_id": lead_id if lead_id not in ("", "0") else None,
            "amount": _decimal(deal.get("OPPORTUNITY")),
            "currency": deal.get("CURRENCY_ID") or None,
            "won_at": (parse_b24_time(deal.get("CLOSEDATE")) or updated) if won else None,
            "updated_at": updated,
            "is_deleted": False,
        }


def _newest_by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deduplicate by ID, keeping the most recently modified copy."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = str(row["ID"])
        known = newest.get(key)
        if known is None or (parse_b24_time(row.get("DATE_MODIFY")) or datetime.min) >= (
            parse_b24_time(known.get("DATE_MODIFY")) or datetime.min
        ):
            newest[key] = row
    return newest


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
