"""amoCRM (Kommo) API v4 connector: leads with their lifecycle stages and deals, without personal data.

How one sync works (and why):

- Leads: GET /api/v4/leads ordered by `updated_at` **descending**, with `filter[updated_at][from]`. Pages are
  offsets, so a lead edited during the sync moves. Newest-first turns that into a harmless duplicate (it
  jumps to page 1, which was already read); oldest-first would shift an unread lead past a page boundary and
  lose it. Newest-first also lets us stop paging at the first page older than the window, which matters
  because some accounts silently ignore the filter (updated_at is checked client-side as well).
- Stage times: lead_status_changed events. One pass over the window's events covers leads created inside
  the window. Leads created before it get their full status history (10 ids per request, the API maximum),
  so every row is complete on its own and can replace the previous one.
- Deletions: lead_deleted / lead_restored events in the window; the latest one wins.
- Cursor: the newest `updated_at` (or deletion time) seen, but never later than the server's clock when the
  sync started, so edits made while it ran are read again next time (the overlap absorbs clock rounding).

Known limitation: a lead deleted while the sync pages through leads shifts later pages by one, so one
unchanged lead at a page boundary can be skipped in that run (it is read again when next modified).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pydantic

from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS, CrmBatch
from resources.crm_sync import crm_frame, email_salt, next_cursor, parse_cursor
from resources.http_client import ApiError, HttpClient, RetryPolicy, email_hash

LEADS_PATH = "/api/v4/leads"
EVENTS_PATH = "/api/v4/events"
CONTACTS_PATH = "/api/v4/contacts"
LEADS_PAGE_LIMIT = 250  # API maximum
EVENTS_PAGE_LIMIT = 100  # API maximum
CONTACTS_PER_REQUEST = 100
EVENT_ENTITY_IDS_MAX = 10  # filter[entity_id][] accepts at most 10 ids
MAX_PAGES = 20_000  # guard against a server that never stops sending `next`
WON_STATUS_ID = 142  # system status in every pipeline
LOST_STATUS_ID = 143  # system status in every pipeline
LEAD_WITH = "contacts,loss_reason,source"
EVENT_STATUS_CHANGED = "lead_status_changed"
EVENT_DELETED = "lead_deleted"
EVENT_RESTORED = "lead_restored"

StatusKey = tuple[int, int]  # (pipeline_id, status_id): status ids repeat across pipelines


class AmocrmStatusRef(pydantic.BaseModel):
    """One pipeline status, e.g. `{pipeline_id: 1, status_id: 11}`."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    pipeline_id: int
    status_id: int


class AmocrmStages(pydantic.BaseModel):
    """Which pipeline statuses mean MQL, SQL and disqualified. Won (142) and lost (143) are built in."""

    model_config = pydantic.ConfigDict(extra="forbid")

    mql: list[AmocrmStatusRef] = []
    sql: list[AmocrmStatusRef] = []
    disqualified: list[AmocrmStatusRef] = []

    @pydantic.model_validator(mode="after")
    def _one_stage_per_status(self) -> AmocrmStages:
        seen: dict[AmocrmStatusRef, str] = {}
        for stage in ("mql", "sql", "disqualified"):
            for ref in getattr(self, stage):
                if ref.status_id == WON_STATUS_ID:
                    raise ValueError("status 142 (won) cannot be a lead stage; won leads become deals")
                if ref in seen and seen[ref] != stage:
                    raise ValueError(
                        f"pipeline {ref.pipeline_id} status {ref.status_id} is mapped to both "
                        f"{seen[ref]} and {stage}"
                    )
                seen[ref] = stage
        return self


class AmocrmUtmFields(pydantic.BaseModel):
    """`field_code`s of the lead custom fields that hold UTM tags (ids differ per account, codes do not)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    utm_source: str = "UTM_SOURCE"
    utm_medium: str = "UTM_MEDIUM"
    utm_campaign: str = "UTM_CAMPAIGN"


class AmocrmSource(pydantic.BaseModel):
    """Config section `sources.amocrm`.

    Example:
        ```yaml
        amocrm:
          currency: RUB
          stages:
            mql: [{pipeline_id: 1, status_id: 11}]
            sql: [{pipeline_id: 1, status_id: 12}]
            disqualified: [{pipeline_id: 1, status_id: 13}]
        ```
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    currency: str = pydantic.Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 account currency of `price`")
    stages: AmocrmStages = pydantic.Field(default_factory=AmocrmStages)
    lost_is_disqualified: bool = True
    utm_field_codes: AmocrmUtmFields = pydantic.Field(default_factory=AmocrmUtmFields)
    overlap_minutes: int = pydantic.Field(default=10, ge=0)
    hash_emails: bool = False
    email_salt_env: str = "MPULSE_EMAIL_SALT"


class AmocrmResource(dg.ConfigurableResource):
    """amoCRM API v4 with a long-lived token (Authorization: Bearer).

    Build it with `AmocrmResource.from_env()` so secrets stay environment references in the Dagster UI.
    """

    access_token: str | None = None
    base_url: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 120.0
    ban_backoff_seconds: float = 60.0
    ban_max_attempts: int = 3

    @classmethod
    def from_env(cls, **overrides: Any) -> AmocrmResource:
        """Reference AMOCRM_ACCESS_TOKEN / AMOCRM_BASE_URL when set; unset means the connector is off."""
        env = {
            "access_token": "AMOCRM_ACCESS_TOKEN",
            "base_url": "AMOCRM_BASE_URL",
        }
        values = {field: dg.EnvVar(var) for field, var in env.items() if os.environ.get(var)}
        return cls(**{**values, **overrides})

    def is_configured(self) -> bool:
        return bool(self.access_token and self.base_url)

    def sync(self, source: AmocrmSource, since_cursor: str | None) -> CrmBatch:
        """Leads and deals changed since `since_cursor` (None: everything), and the cursor to resume from."""
        if not self.is_configured():
            raise ApiError("amoCRM is not configured: set AMOCRM_ACCESS_TOKEN and AMOCRM_BASE_URL")
        salt = email_salt(source.hash_emails, source.email_salt_env)
        policy = RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_backoff_seconds=self.max_backoff_seconds,
            slow_statuses=frozenset({403}),
            slow_backoff_seconds=self.ban_backoff_seconds,
            slow_max_attempts=self.ban_max_attempts,
        )
        client = HttpClient(
            name="amoCRM",
            secrets=[self.access_token],
            policy=policy,
            timeout_seconds=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self.access_token}"},
            error_parser=_problem_details,
        )
        with client:
            return _AmocrmSync(client, str(self.base_url), source, salt).run(since_cursor)


def _problem_details(body: Any) -> tuple[str | None, str | None]:
    """amoCRM errors are application/problem+json: {title, type, status, detail}."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("title")
    detail = body.get("detail") or body.get("hint")
    return (str(code) if code else None), (str(detail) if detail else None)


def _ts(value: Any) -> datetime | None:
    """Unix seconds -> naive UTC."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def _unix(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())


class _AmocrmSync:
    """One incremental pass; holds the HTTP client and the config, returns plain rows."""

    def __init__(self, client: HttpClient, base_url: str, source: AmocrmSource, salt: str | None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.salt = salt
        stages = source.stages
        self.stage_of: dict[StatusKey, str] = {}
        for stage in ("mql", "sql", "disqualified"):
            for ref in getattr(stages, stage):
                self.stage_of[(ref.pipeline_id, ref.status_id)] = stage

    def run(self, since_cursor: str | None) -> CrmBatch:
        old = parse_cursor(since_cursor)
        since = old - timedelta(minutes=self.source.overlap_minutes) if old else None
        leads = self._fetch_leads(since)
        events = self._fetch_window_events(since)

        history: dict[int, list[dict[str, Any]]] = defaultdict(list)
        last_delete_event: dict[int, dict[str, Any]] = {}
        for event in events:
            lead_id = int(event["entity_id"])
            if event["type"] == EVENT_STATUS_CHANGED:
                history[lead_id].append(event)
            elif _event_key(event) > _event_key(last_delete_event.get(lead_id)):
                last_delete_event[lead_id] = event

        deleted = {i: e for i, e in last_delete_event.items() if e["type"] == EVENT_DELETED}
        restored = [i for i, e in last_delete_event.items() if e["type"] == EVENT_RESTORED and i not in leads]
        leads.update(self._fetch_leads_by_id(restored))
        for lead_id, lead in list(leads.items()):
            if lead.get("is_deleted"):
                deleted.setdefault(lead_id, {"created_at": lead.get("updated_at")})
        for lead_id in deleted:
            leads.pop(lead_id, None)

        if since is not None:
            # Their earlier status changes predate the window: read their whole history.
            older = [i for i, lead in leads.items() if (_ts(lead.get("created_at")) or since) < since]
            history.update(self._fetch_status_history(older))

        emails = self._main_contact_emails(leads) if self.salt else {}
        lead_rows: list[dict[str, Any]] = []
        deal_rows: list[dict[str, Any]] = []
        for lead_id, lead in leads.items():
            lead_row, deal_row = self._rows(lead, sorted(history.get(lead_id, []), key=_event_key))
            lead_row["email_hash"] = email_hash(emails.get(lead_id), self.salt) if self.salt else None
            lead_rows.append(lead_row)
            deal_rows.append(deal_row)
        for lead_id, event in deleted.items():
            lead_rows.append(_tombstone_lead(str(lead_id), _ts(event.get("created_at"))))
            deal_rows.append(_tombstone_deal(str(lead_id), _ts(event.get("created_at"))))

        seen = [r["updated_at"] for r in lead_rows if r["updated_at"] is not None]
        return CrmBatch(
            leads=crm_frame(lead_rows, CRM_LEAD_COLUMNS, "lead_id"),
            deals=crm_frame(deal_rows, CRM_DEAL_COLUMNS, "deal_id"),
            cursor=next_cursor(old, seen, self.client.server_time),
        )

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _pages(
        self, path: str, params: list[tuple[str, Any]], key: str, stop: Callable[[list[dict[str, Any]]], bool]
    ) -> Iterator[list[dict[str, Any]]]:
        """Follow HAL `_links.next.href` until it ends, a 204/empty page, or `stop(page)` is true."""
        url: str | None = self._url(path)
        query: list[tuple[str, Any]] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            body = self.client.get_json(url, params=query)
            items = ((body or {}).get("_embedded") or {}).get(key) or []
            if not items:
                return
            yield items
            if stop(items):
                return
            href = (((body or {}).get("_links") or {}).get("next") or {}).get("href")
            url, query = (self._follow(href), None) if href else (None, None)
        raise ApiError(f"amoCRM: {path} returned more than {MAX_PAGES} pages; giving up")

    def _follow(self, href: str) -> str:
        """Resolve a `next` link against our base URL: proxies keep working and the token never leaves it."""
        parts = urlsplit(href)
        if not parts.path.startswith("/api/v4/"):
            raise ApiError("amoCRM: unexpected pagination link outside /api/v4/")
        return self._url(parts.path) + (f"?{parts.query}" if parts.query else "")

    def _fetch_leads(self, since: datetime | None) -> dict[int, dict[str, Any]]:
        params: list[tuple[str, Any]] = [
            ("with", LEAD_WITH),
            ("limit", LEADS_PAGE_LIMIT),
            ("page", 1),
            ("order[updated_at]", "desc"),
        ]
        if since is not None:
            params.append(("filter[updated_at][from]", _unix(since)))

        def older_than_window(items: list[dict[str, Any]]) -> bool:
            return since is not None and all((_ts(i.get("updated_at")) or since) < since for i in items)

        leads: dict[int, dict[str, Any]] = {}
        for page in self._pages(LEADS_PATH, params, "leads", older_than_window):
            for lead in page:
                updated = _ts(lead.get("updated_at"))
                if since is not None and (updated is None or updated < since):
                    continue  # the filter may be ignored by the account
                _keep_newest(leads, lead)
        return leads

    def _fetch_leads_by_id(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        leads: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(sorted(ids), LEADS_PAGE_LIMIT):
            params: list[tuple[str, Any]] = [("with", LEAD_WITH), ("limit", LEADS_PAGE_LIMIT)]
            params += [("filter[id][]", i) for i in chunk]
            for page in self._pages(LEADS_PATH, params, "leads", lambda _items: False):
                for lead in page:
                    _keep_newest(leads, lead)
        return leads

    def _fetch_window_events(self, since: datetime | None) -> list[dict[str, Any]]:
        """Status changes, deletions and restorations since the window start (newest first)."""
        params: list[tuple[str, Any]] = [("limit", EVENTS_PAGE_LIMIT), ("filter[entity][]", "lead")]
        params += [("filter[type][]", t) for t in (EVENT_STATUS_CHANGED, EVENT_DELETED, EVENT_RESTORED)]
        if since is not None:
            params.append(("filter[created_at][from]", _unix(since)))

        def older_than_window(items: list[dict[str, Any]]) -> bool:
            return since is not None and all((_ts(e.get("created_at")) or since) < since for e in items)

        events: dict[str, dict[str, Any]] = {}
        for page in self._pages(EVENTS_PATH, params, "events", older_than_window):
            for event in page:
                created = _ts(event.get("created_at"))
                if since is not None and (created is None or created < since):
                    continue
                if event.get("entity_type", "lead") == "lead" and event.get("entity_id") is not None:
                    events[str(event.get("id"))] = event
        return list(events.values())

    def _fetch_status_history(self, lead_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        history: dict[int, dict[str, dict[str, Any]]] = {i: {} for i in lead_ids}
        for chunk in _chunks(sorted(lead_ids), EVENT_ENTITY_IDS_MAX):
            params: list[tuple[str, Any]] = [
                ("limit", EVENTS_PAGE_LIMIT),
                ("filter[entity]", "lead"),
                ("filter[type][]", EVENT_STATUS_CHANGED),
            ]
            params += [("filter[entity_id][]", i) for i in chunk]
            for page in self._pages(EVENTS_PATH, params, "events", lambda _items: False):
                for event in page:
                    lead_id = int(event.get("entity_id") or 0)
                    if event.get("type") == EVENT_STATUS_CHANGED and lead_id in history:
                        history[lead_id][str(event.get("id"))] = event
        return {i: list(found.values()) for i, found in history.items()}

    def _main_contact_emails(self, leads: dict[int, dict[str, Any]]) -> dict[int, str]:
        """Email of each lead's main contact; only fetched when hashing is on, never stored in clear."""
        contact_of: dict[int, int] = {}
        for lead_id, lead in leads.items():
            contacts = (lead.get("_embedded") or {}).get("contacts") or []
            main = next((c for c in contacts if c.get("is_main")), contacts[0] if contacts else None)
            if main and main.get("id"):
                contact_of[lead_id] = int(main["id"])
        emails: dict[int, str] = {}
        for chunk in _chunks(sorted(set(contact_of.values())), CONTACTS_PER_REQUEST):
            params: list[tuple[str, Any]] = [("limit", LEADS_PAGE_LIMIT)] + [
                ("filter[id][]", i) for i in chunk
            ]
            for page in self._pages(CONTACTS_PATH, params, "contacts", lambda _items: False):
                for contact in page:
                    address = _field_value(contact.get("custom_fields_values"), "EMAIL")
                    if address:
                        emails[int(contact["id"])] = address
        return {lead_id: emails[c] for lead_id, c in contact_of.items() if c in emails}

    def _rows(
        self, lead: dict[str, Any], history: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        current: StatusKey = (int(lead.get("pipeline_id") or 0), int(lead.get("status_id") or 0))
        created = _ts(lead.get("created_at"))
        updated = _ts(lead.get("updated_at"))
        closed = _ts(lead.get("closed_at"))
        # The first status change tells the status the lead was created in; without any, it never moved.
        initial = _status_key(history[0].get("value_before")) if history else None
        timeline: list[tuple[datetime | None, StatusKey]] = [(created, initial or current)]
        timeline += [
            (_ts(e.get("created_at")), _status_key(e.get("value_after")) or current) for e in history
        ]

        first: dict[str, datetime | None] = {}
        for when, key in timeline:
            stage = self._stage(key)
            if stage and stage not in first:
                first[stage] = when

        disqualified_at, reason = first.get("disqualified"), None
        if disqualified_at is None and self.source.lost_is_disqualified and current[1] == LOST_STATUS_ID:
            disqualified_at = first.get("lost") or closed or updated
            reason = _loss_reason(lead)
        won_at = closed or first.get("won") or updated
        utm = self.source.utm_field_codes
        fields = lead.get("custom_fields_values")
        lead_id = str(lead["id"])
        lead_row = {
            "lead_id": lead_id,
            "created_at": created,
            "source": _source_name(lead),
            "utm_source": _field_value(fields, utm.utm_source),
            "utm_medium": _field_value(fields, utm.utm_medium),
            "utm_campaign": _field_value(fields, utm.utm_campaign),
            "mql_at": first.get("mql"),
            "sql_at": first.get("sql"),
            "disqualified_at": disqualified_at,
            "disqualification_reason": reason,
            "updated_at": updated,
            "email_hash": None,
            "is_deleted": False,
        }
        price = lead.get("price")
        deal_row = {
            "deal_id": lead_id,  # in amoCRM the lead *is* the deal
            "lead_id": lead_id,
            "amount": Decimal(str(price)) if price is not None else None,
            "currency": self.source.currency,
            "won_at": won_at if current[1] == WON_STATUS_ID else None,
            "updated_at": updated,
            "is_deleted": False,
        }
        return lead_row, deal_row

    def _stage(self, key: StatusKey) -> str | None:
        if key in self.stage_of:
            return self.stage_of[key]
        if key[1] == WON_STATUS_ID:
            return "won"
        if key[1] == LOST_STATUS_ID:
            return "lost"
        return None


def _keep_newest(leads: dict[int, dict[str, Any]], lead: dict[str, Any]) -> None:
    lead_id = int(lead["id"])
    known = leads.get(lead_id)
    if known is None or int(lead.get("updated_at") or 0) >= int(known.get("updated_at") or 0):
        leads[lead_id] = lead


def _event_key(event: dict[str, Any] | None) -> tuple[int, str]:
    if event is None:
        return (-1, "")
    return (int(event.get("created_at") or 0), str(event.get("id") or ""))


def _status_key(values: Any) -> StatusKey | None:
    """(pipeline_id, status_id) from an event's value_before/value_after."""
    for value in values or []:
        status = (value or {}).get("lead_status") if isinstance(value, dict) else None
        if status and status.get("id") is not None:
            return (int(status.get("pipeline_id") or 0), int(status["id"]))
    return None


def _field_value(fields: Any, code: str) -> str | None:
    for field in fields or []:
        if field.get("field_code") == code:
            for value in field.get("values") or []:
                text = value.get("value")
                if text not in (None, ""):
                    return str(text)
    return None


def _loss_reason(lead: dict[str, Any]) -> str | None:
    reason = (lead.get("_embedded") or {}).get("loss_reason")
    if isinstance(reason, list):
        reason = reason[0] if reason else None
    return str(reason["name"]) if isinstance(reason, dict) and reason.get("name") else None


def _source_name(lead: dict[str, Any]) -> str | None:
    source = (lead.get("_embedded") or {}).get("source")
    if isinstance(source, dict) and source.get("name"):
        return str(source["name"])
    return str(lead["source_id"]) if lead.get("source_id") else None


def _tombstone_lead(lead_id: str, when: datetime | None) -> dict[str, Any]:
    """A deleted lead: only its id, the deletion time and the flag are known."""
    row: dict[str, Any] = dict.fromkeys(CRM_LEAD_COLUMNS)
    row.update(lead_id=lead_id, updated_at=when, is_deleted=True)
    return row


def _tombstone_deal(deal_id: str, when: datetime | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CRM_DEAL_COLUMNS)
    row.update(deal_id=deal_id, lead_id=deal_id, updated_at=when, is_deleted=True)
    return row


def _chunks(values: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
