"""HubSpot contacts and deals as lead-lifecycle rows (resources/crm_rows.py), synced incrementally."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
import pydantic

from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS, CrmBatch
from resources.errors import ConfigError, SourceError

CONTACTS_MODIFIED = "lastmodifieddate"  # contacts' incremental property; deals and companies use hs_-prefixed
DEALS_MODIFIED = "hs_lastmodifieddate"
LEAD_STATUS = "hs_lead_status"
OBJECT_ID = "hs_object_id"
DEAL_PROPERTIES = (
    "createdate",
    DEALS_MODIFIED,
    "amount",
    "deal_currency_code",
    "closedate",
    "dealstage",
    "pipeline",
)
SEARCH_MAX_PAGE = 200  # search API cap per page
LIST_MAX_PAGE = 100  # basic list (archived) cap per page
HISTORY_BATCH = 50  # batch read with propertiesWithHistory: HubSpot caps history reads at 50 records
ASSOCIATION_BATCH = 100
REQUEST_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds; the SDK's default is to wait forever
RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_FACTOR = 1.0  # urllib3: 0, 2, 4, 8, 16 s between attempts unless Retry-After says otherwise
UTM_COLUMNS = ("utm_source", "utm_medium", "utm_campaign")
_EPOCH = datetime(1970, 1, 1)
_T = TypeVar("_T")

log = dg.get_dagster_logger("hubspot")


class HubspotError(SourceError):
    """A HubSpot call failed for good (after retries); names the call, the status and HubSpot's message."""


class HubspotSource(pydantic.BaseModel):
    """The `sources.hubspot` config section: how this portal's properties map to the lead lifecycle."""

    model_config = pydantic.ConfigDict(extra="forbid")

    object_type: str = "contacts"
    mql_stage: str = "marketingqualifiedlead"
    sql_stage: str = "salesqualifiedlead"
    disqualified_lead_statuses: list[str] = ["UNQUALIFIED"]
    disqualification_reason_property: str | None = None
    source_property: str = "hs_analytics_source"
    utm_properties: dict[str, str] = {c: c for c in UTM_COLUMNS}
    won_stages: list[str] = ["closedwon"]
    overlap_minutes: int = pydantic.Field(default=10, ge=0)
    hash_emails: bool = False
    email_salt_env: str = "MPULSE_EMAIL_SALT"

    @pydantic.field_validator("object_type")
    @classmethod
    def _contacts_only(cls, value: str) -> str:
        # leads are contacts here; the field exists so a config naming another object fails loudly
        if value != "contacts":
            raise ValueError("only 'contacts' is supported")
        return value

    @pydantic.field_validator("utm_properties")
    @classmethod
    def _known_utm_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(UTM_COLUMNS))
        if unknown:
            raise ValueError(f"unknown keys {unknown}; allowed: {list(UTM_COLUMNS)}")
        return value

    @property
    def mql_date_property(self) -> str:
        return f"hs_lifecyclestage_{self.mql_stage}_date"

    @property
    def sql_date_property(self) -> str:
        return f"hs_lifecyclestage_{self.sql_stage}_date"

    def contact_properties(self) -> list[str]:
        """Only what the rows need: never names or phones, and the email only when it is to be hashed."""
        wanted = [
            "createdate",
            CONTACTS_MODIFIED,
            "lifecyclestage",
            self.mql_date_property,
            self.sql_date_property,
            LEAD_STATUS,
            self.source_property,
            *self.utm_properties.values(),
        ]
        if self.disqualification_reason_property:
            wanted.append(self.disqualification_reason_property)
        if self.hash_emails:
            wanted.append("email")
        return list(dict.fromkeys(wanted))


@dataclass(frozen=True)
class _Record:
    """One HubSpot object as read, SDK-free."""

    id: str
    properties: dict[str, str | None]
    modified: datetime  # naive UTC
    created: datetime | None


class _Pacer:
    """Spaces search requests `interval` seconds apart across the whole sync."""

    def __init__(self, interval: float) -> None:
        self.interval, self.next_at = interval, 0.0

    def wait(self) -> None:
        time.sleep(max(0.0, self.next_at - time.monotonic()))
        self.next_at = time.monotonic() + self.interval


class HubspotResource(dg.ConfigurableResource):
    """HubSpot CRM through the official client; the token comes from HUBSPOT_ACCESS_TOKEN."""

    access_token: str | None = None
    base_url: str | None = None
    page_size: int = 100
    max_attempts: int = 6
    # HubSpot allows 5 search requests/s per account; pacing below that avoids burning retries on 429s
    search_interval_seconds: float = 0.25

    def is_configured(self) -> bool:
        return bool(self.access_token and self.access_token.strip())

    def sync(self, source: HubspotSource, since_cursor: str | None) -> CrmBatch:
        """Contacts and deals changed since `since_cursor` (minus the overlap), plus ones archived since then.

        Rows carry no names, emails or phones. Rerunning from the same cursor returns the same rows (upsert by
        id); a failed run raises before returning a cursor, so resuming from the old one leaves no gap.
        """
        if not self.is_configured():
            raise ConfigError("HUBSPOT_ACCESS_TOKEN is not set, so the HubSpot connector is off")
        if not 1 <= self.page_size <= SEARCH_MAX_PAGE:
            raise ConfigError(f"page_size must be 1..{SEARCH_MAX_PAGE}, got {self.page_size}")
        salt = _email_salt(source)
        previous = parse_cursor(since_cursor)
        since = previous - timedelta(minutes=source.overlap_minutes) if previous else _EPOCH

        import hubspot.crm.associations.v4 as assoc_models
        import hubspot.crm.contacts as contact_models
        import hubspot.crm.deals as deal_models

        client = self._client()
        contacts_api, deals_api = client.crm.contacts, client.crm.deals  # each property builds a new pool
        contact_props = source.contact_properties()
        pacer = _Pacer(self.search_interval_seconds)
        contacts = self._search(
            contacts_api.search_api, contact_models, CONTACTS_MODIFIED, contact_props, since, pacer
        )
        deals = self._search(
            deals_api.search_api, deal_models, DEALS_MODIFIED, list(DEAL_PROPERTIES), since, pacer
        )
        # listed after the searches: anything archived before the newest change they saw is caught here
        gone_contacts = self._archived(contacts_api.basic_api, "contacts", contact_props, since)
        gone_deals = self._archived(deals_api.basic_api, "deals", list(DEAL_PROPERTIES), since)
        log.info(
            "HubSpot since %s: %d contacts, %d deals changed; %d contacts, %d deals archived",
            since.isoformat(),
            len(contacts),
            len(deals),
            len(gone_contacts),
            len(gone_deals),
        )

        statuses = set(source.disqualified_lead_statuses)
        disqualified = [c.id for c in contacts.values() if c.properties.get(LEAD_STATUS) in statuses]
        entered = self._status_entered(contacts_api.batch_api, contact_models, disqualified, statuses)
        lead_of = self._deal_contacts(client.crm.associations.v4.batch_api, assoc_models, list(deals))

        leads = {c.id: _lead_row(c, source, salt, entered.get(c.id), False) for c in contacts.values()}
        for c in gone_contacts:
            leads[c.id] = _lead_row(c, source, salt, None, True)
        deal_rows = {d.id: _deal_row(d, source, lead_of.get(d.id), False) for d in deals.values()}
        for d in gone_deals:
            deal_rows[d.id] = _deal_row(d, source, None, True)

        seen = [r.modified for r in (*contacts.values(), *deals.values())]
        newest = max([*seen, *([previous] if previous else [])], default=None)
        return CrmBatch(
            leads=_frame(
                leads.values(), CRM_LEAD_COLUMNS, ("created_at", "mql_at", "sql_at", "disqualified_at")
            ),
            deals=_frame(deal_rows.values(), CRM_DEAL_COLUMNS, ("won_at",)),
            cursor=format_cursor(newest) if newest else None,
        )

    def _client(self) -> Any:
        import hubspot
        from urllib3.util.retry import Retry

        # urllib3's total counts retries; max_attempts counts the first try too
        retry = Retry(
            total=max(self.max_attempts - 1, 0),
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # search is a POST, and every call here is a read
            backoff_factor=BACKOFF_FACTOR,
            respect_retry_after_header=True,
            raise_on_status=False,  # hand the last response to the SDK so the error carries HubSpot's message
        )
        options: dict[str, Any] = {"access_token": self.access_token, "retry": retry}
        if self.base_url:
            options["host"] = self.base_url.rstrip("/")
        return hubspot.Client.create(**options)

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """One SDK call with a timeout; final failures become a HubspotError without the token."""
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except HTTPError as exc:  # connection-level failures once the retries are spent
            message = f"HubSpot {what} failed after {self.max_attempts} attempts: {exc}"
            raise HubspotError(self._scrub(message)) from exc
        except Exception as exc:
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            raise HubspotError(self._scrub(f"HubSpot {what} failed: {_describe(exc, status)}")) from exc

    def _scrub(self, text: str) -> str:
        return text.replace(self.access_token, "***") if self.access_token else text

    def _search(
        self, api: Any, models: Any, modified: str, properties: list[str], since: datetime, pacer: _Pacer
    ) -> dict[str, _Record]:
        """Every object with `modified` >= since, newest version of each.

        Keyset paging: each request starts again from the last modified time seen (GTE) instead of following
        `after`. Offsets would shift when a record is edited mid-sync (skipping its neighbours), and a single
        query may not page past 10,000 results. Ids seen twice at the boundary are de-duplicated. A page that
        is all one timestamp is walked by hs_object_id within that timestamp.
        """
        found: dict[str, _Record] = {}
        lower, op, tie_after = _to_ms(since), "GTE", None
        while True:
            if tie_after is None:
                filters = [models.Filter(property_name=modified, operator=op, value=str(lower))]
                sort = modified
            else:
                filters = [
                    models.Filter(property_name=modified, operator="EQ", value=str(lower)),
                    models.Filter(property_name=OBJECT_ID, operator="GT", value=tie_after),
                ]
                sort = OBJECT_ID
            request = models.PublicObjectSearchRequest(
                filter_groups=[models.FilterGroup(filters=filters)],
                sorts=[{"propertyName": sort, "direction": "ASCENDING"}],
                properties=properties,
                limit=self.page_size,
            )
            pacer.wait()
            page = self._call(f"{modified} search", api.do_search, public_object_search_request=request)
            records = [_record(r, modified) for r in page.results or []]
            for rec in records:
                if rec.id not in found or found[rec.id].modified <= rec.modified:
                    found[rec.id] = rec
            more = bool(records) and page.paging is not None and page.paging.next is not None
            if tie_after is not None:
                tie_after = records[-1].id if more else None
                op = "GTE" if more else "GT"  # the tie group is done: continue strictly after it
            elif more:
                last = _to_ms(records[-1].modified)
                if last > lower:
                    lower, op = last, "GTE"
                else:
                    tie_after = "0"
            else:
                return found

    def _archived(self, api: Any, kind: str, properties: list[str], since: datetime) -> list[_Record]:
        """Archived objects archived since `since`; search never returns them, and the list has no filter."""
        out: list[_Record] = []
        after = None
        while True:
            page = self._call(
                f"archived {kind} list",
                api.get_page,
                limit=min(self.page_size, LIST_MAX_PAGE),
                after=after,
                properties=properties,
                archived=True,
            )
            for r in page.results or []:
                rec = _record(r, DEALS_MODIFIED if kind == "deals" else CONTACTS_MODIFIED)
                gone = _parse_time(getattr(r, "archived_at", None)) or rec.modified
                if gone >= since:
                    out.append(_Record(rec.id, rec.properties, max(rec.modified, gone), rec.created))
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return out

    def _status_entered(
        self, api: Any, models: Any, ids: list[str], statuses: set[str]
    ) -> dict[str, datetime]:
        """When each contact's lead status last became a disqualified value, from the property history.

        lastmodifieddate moves with every later edit, so it would shift the disqualification between periods;
        the history timestamp does not. Contacts without history fall back to lastmodifieddate.
        """
        out: dict[str, datetime] = {}
        for chunk in _chunks(ids, HISTORY_BATCH):
            body = models.BatchReadInputSimplePublicObjectId(
                inputs=[models.SimplePublicObjectId(id=i) for i in chunk],
                properties=[LEAD_STATUS],
                properties_with_history=[LEAD_STATUS],
            )
            page = self._call(
                "lead status history read", api.read, batch_read_input_simple_public_object_id=body
            )
            for r in page.results or []:
                history = sorted(
                    (
                        (_parse_time(v.timestamp), v.value)
                        for v in (r.properties_with_history or {}).get(LEAD_STATUS) or []
                    ),
                    key=lambda tv: tv[0] or _EPOCH,
                    reverse=True,
                )
                start = None
                for at, value in history:
                    if value not in statuses:
                        break
                    start = at
                if start:
                    out[str(r.id)] = start
        return out

    def _deal_contacts(self, api: Any, models: Any, deal_ids: list[str]) -> dict[str, str]:
        """deal id -> its contact; of several, the lowest id (usually the first, where the deal came from)."""
        out: dict[str, str] = {}
        for chunk in _chunks(deal_ids, ASSOCIATION_BATCH):
            body = models.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[models.PublicFetchAssociationsBatchRequest(id=i) for i in chunk]
            )
            page = self._call("deal-contact associations read", api.get_page, "deals", "contacts", body)
            for r in page.results or []:
                contacts = [str(t.to_object_id) for t in r.to or []]
                if contacts:
                    out[str(r._from.id)] = min(contacts, key=_id_key)
        return out


def parse_cursor(cursor: str | None) -> datetime | None:
    """The cursor as naive UTC; an offset-less value is taken as UTC."""
    if not cursor:
        return None
    try:
        return _parse_time(cursor, strict=True)
    except ValueError as exc:
        raise HubspotError(f"invalid HubSpot cursor {cursor!r}: expected an ISO timestamp") from exc


def format_cursor(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds") + "Z"


def _email_salt(source: HubspotSource) -> str | None:
    if not source.hash_emails:
        return None
    salt = os.environ.get(source.email_salt_env)
    if not salt:
        raise ConfigError(
            f"hash_emails is on but the environment variable {source.email_salt_env} is not set"
        )
    return salt


def _email_hash(email: str, salt: str) -> str | None:
    # the one shared hash, so hashes from different CRMs join; imported here to keep requests off import
    from resources.http_client import email_hash

    return email_hash(email, salt)


def _record(obj: Any, modified: str) -> _Record:
    props = dict(obj.properties or {})
    changed = _parse_time(props.get(modified)) or _parse_time(obj.updated_at)
    if changed is None:
        raise HubspotError(f"HubSpot object {obj.id} has no {modified}")
    return _Record(
        str(obj.id), props, changed, _parse_time(props.get("createdate")) or _parse_time(obj.created_at)
    )


def _lead_row(
    c: _Record, source: HubspotSource, salt: str | None, status_entered: datetime | None, deleted: bool
) -> dict[str, Any]:
    p = c.properties
    disqualified = p.get(LEAD_STATUS) in set(source.disqualified_lead_statuses)
    email = _text(p.get("email"))
    reason = (
        p.get(source.disqualification_reason_property) if source.disqualification_reason_property else None
    )
    return {
        "lead_id": c.id,
        "created_at": c.created,
        "source": _text(p.get(source.source_property)),
        **{
            col: _text(p.get(source.utm_properties[col])) if col in source.utm_properties else None
            for col in UTM_COLUMNS
        },
        "mql_at": _parse_time(p.get(source.mql_date_property)),
        "sql_at": _parse_time(p.get(source.sql_date_property)),
        "disqualified_at": (status_entered or c.modified) if disqualified else None,
        "disqualification_reason": _text(reason) if disqualified else None,
        "updated_at": c.modified,
        "email_hash": _email_hash(email, salt) if salt and email else None,
        "is_deleted": deleted,
    }


def _deal_row(d: _Record, source: HubspotSource, lead_id: str | None, deleted: bool) -> dict[str, Any]:
    p = d.properties
    currency = _text(p.get("deal_currency_code"))
    return {
        "deal_id": d.id,
        "lead_id": lead_id,
        "amount": _decimal(p.get("amount")),
        "currency": currency.upper() if currency else None,
        "won_at": _parse_time(p.get("closedate")) if p.get("dealstage") in set(source.won_stages) else None,
        "updated_at": d.modified,
        "is_deleted": deleted,
    }


def _frame(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], times: tuple[str, ...]) -> pd.DataFrame:
    """Fixed dtypes whether or not there are rows: datetime64[us] (NaT for None), bool, else object."""
    ordered = sorted(rows, key=lambda r: (r["updated_at"], _id_key(r[columns[0]])))
    dtypes = {c: "datetime64[us]" for c in (*times, "updated_at")} | {"is_deleted": "bool"}
    return pd.DataFrame({c: pd.Series([r[c] for r in ordered], dtype=dtypes.get(c, object)) for c in columns})


def _parse_time(value: Any, strict: bool = False) -> datetime | None:
    """HubSpot times (ISO strings, epoch-ms strings or datetimes) as naive UTC; unparsable -> None."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            at = value
        elif str(value).strip().isdigit():
            return _EPOCH + timedelta(milliseconds=int(str(value).strip()))
        else:
            at = datetime.fromisoformat(str(value).strip())
    except ValueError:
        if strict:
            raise
        log.warning("ignoring unparsable HubSpot timestamp %r", value)
        return None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _to_ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _decimal(value: Any) -> Decimal | None:
    text = _text(value)
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        log.warning("ignoring non-numeric HubSpot deal amount %r", value)
        return None


def _id_key(object_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (HubSpot ids are digits), anything else after them."""
    return (len(object_id), object_id) if object_id.isdigit() else (1 << 30, object_id)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(exc: Exception, status: int) -> str:
    """`HTTP 429 RATE_LIMITS: You have reached your secondly limit.` from an SDK ApiException."""
    body = getattr(exc, "body", None)
    try:
        parsed = json.loads(body) if body else {}
    except (TypeError, ValueError):
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    message = (
        parsed.get("message") or (str(body)[:300] if body else None) or getattr(exc, "reason", None) or ""
    )
    head = " ".join(str(x) for x in ("HTTP", status, parsed.get("category")) if x)
    hint = " (check HUBSPOT_ACCESS_TOKEN and the private app's scopes)" if status in (401, 403) else ""
    return f"{head}: {message}{hint}"
