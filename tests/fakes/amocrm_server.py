"""A local amoCRM API v4 server: real HTTP on 127.0.0.1, HAL JSON, offset pages, 204 at the end, faults.

Only what the connector reads is modelled: GET /api/v4/leads, /api/v4/events and /api/v4/contacts with the
filters documented at amocrm.ru/developers (leads-api, events-and-notes). `next` links point at a public
host on purpose: a client that follows them verbatim (instead of resolving them against its base URL) fails.
"""

from __future__ import annotations

import email.utils
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PUBLIC_HOST = "https://example.amocrm.ru"


def unix(value: datetime) -> int:
    """Naive UTC datetime -> unix seconds, as amoCRM sends timestamps."""
    return int(value.replace(tzinfo=UTC).timestamp())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None


@dataclass
class Fault:
    """Answer `status` instead of the real response, `times` times, for requests matching `path`/`match`."""

    path: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    match: Callable[[dict[str, list[str]]], bool] = lambda _query: True


class FakeAmocrm:
    """In-memory account. Use as a context manager; `base_url` is the server address."""

    def __init__(self, token: str = "amo-test-token-0123456789", now: datetime | None = None) -> None:
        self.token = token
        self.now = now or datetime(2024, 5, 10, 12, 0, 0)
        self.page_size = 3  # smaller than the client's limit=250, so a handful of leads spans pages
        self.events_page_size = 4
        self.ignore_updated_filter = False
        self.echo_auth_in_errors = False
        self.leads: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.after_request: Callable[[FakeAmocrm, Recorded], None] | None = None
        self._lock = threading.RLock()
        self._event_seq = 0
        self._server: ThreadingHTTPServer | None = None

    # data helpers -------------------------------------------------------------------------------------------
    def add_lead(
        self,
        lead_id: int,
        *,
        created: datetime,
        pipeline_id: int = 1,
        status_id: int = 10,
        price: int | None = 0,
        utm: dict[str, str] | None = None,
        contact_email: str | None = None,
        source_name: str | None = None,
    ) -> dict[str, Any]:
        """A lead created at `created` straight into (pipeline_id, status_id), with no status events."""
        fields = [
            {
                "field_id": 500 + i,
                "field_name": code.lower(),
                "field_code": code,
                "values": [{"value": value}],
            }
            for i, (code, value) in enumerate(sorted((utm or {}).items()))
        ]
        contacts = []
        if contact_email is not None:
            contact_id = 9000 + lead_id
            self.contacts[contact_id] = {
                "id": contact_id,
                "name": f"Person {lead_id}",
                "custom_fields_values": [
                    {"field_id": 77, "field_code": "PHONE", "values": [{"value": "+7 900 000-00-00"}]},
                    {"field_id": 78, "field_code": "EMAIL", "values": [{"value": contact_email}]},
                ],
            }
            contacts = [{"id": contact_id, "is_main": True}]
        lead = {
            "id": lead_id,
            "name": f"Deal with Person {lead_id}",
            "price": price,
            "status_id": status_id,
            "pipeline_id": pipeline_id,
            "loss_reason_id": None,
            "created_at": unix(created),
            "updated_at": unix(created),
            "closed_at": None,
            "is_deleted": False,
            "custom_fields_values": fields or None,
            "account_id": 1,
            "_embedded": {"tags": [], "companies": [], "contacts": contacts},
        }
        if source_name:
            lead["_embedded"]["source"] = {"id": 1, "name": source_name}
        self.leads[lead_id] = lead
        return lead

    def move(self, lead_id: int, at: datetime, *, status_id: int, pipeline_id: int | None = None) -> None:
        """Change a lead's status as the CRM does: new status, updated_at and a lead_status_changed event."""
        lead = self.leads[lead_id]
        before = {"lead_status": {"id": lead["status_id"], "pipeline_id": lead["pipeline_id"]}}
        lead["pipeline_id"] = pipeline_id or lead["pipeline_id"]
        lead["status_id"] = status_id
        lead["updated_at"] = unix(at)
        if status_id in (142, 143):
            lead["closed_at"] = unix(at)
        after = {"lead_status": {"id": status_id, "pipeline_id": lead["pipeline_id"]}}
        self._event("lead_status_changed", lead_id, at, [before], [after])

    def lose(self, lead_id: int, at: datetime, reason: str) -> None:
        self.move(lead_id, at, status_id=143)
        self.leads[lead_id]["loss_reason_id"] = 4000 + lead_id
        self.leads[lead_id]["_embedded"]["loss_reason"] = [{"id": 4000 + lead_id, "name": reason, "sort": 1}]

    def touch(self, lead_id: int, at: datetime) -> None:
        """An edit that is not a status change (e.g. a note): only updated_at moves."""
        self.leads[lead_id]["updated_at"] = unix(at)

    def delete(self, lead_id: int, at: datetime) -> None:
        """Move a lead to the trash: gone from the list, a lead_deleted event remains."""
        self.leads.pop(lead_id)
        self._event("lead_deleted", lead_id, at, [], [])

    def _event(self, kind: str, lead_id: int, at: datetime, before: list[Any], after: list[Any]) -> None:
        self._event_seq += 1
        self.events.append(
            {
                "id": f"ev{self._event_seq:06d}",
                "type": kind,
                "entity_id": lead_id,
                "entity_type": "lead",
                "created_by": 1,
                "created_at": unix(at),
                "value_before": before,
                "value_after": after,
                "account_id": 1,
            }
        )

    # server -------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "use FakeAmocrm as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeAmocrm:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                now = getattr(self, "served_at", fake.now)  # the clock when the request arrived
                return email.utils.format_datetime(now.replace(tzinfo=UTC), usegmt=True)

            def do_GET(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        auth = handler.headers.get("Authorization")
        with self._lock:
            handler.served_at = self.now  # type: ignore[attr-defined]
            record = Recorded("GET", parts.path, query, auth)
            self.requests.append(record)
            status, body, headers = self._respond(parts.path, query, auth)
            if self.after_request is not None:
                self.after_request(self, record)
        payload = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        content_type = "application/problem+json" if status >= 400 else "application/hal+json"
        handler.send_header("Content-Type", content_type)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _respond(
        self, path: str, query: dict[str, list[str]], auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        for fault in self.faults:
            if fault.times > 0 and path == fault.path and fault.match(query):
                fault.times -= 1
                body = fault.body or {"title": "Error", "status": fault.status, "detail": "scripted fault"}
                return fault.status, body, fault.headers
        if auth != f"Bearer {self.token}":
            detail = f"bad credentials: {auth}" if self.echo_auth_in_errors else "Unauthorized"
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": detail}, {}
        if path == "/api/v4/leads":
            return self._list(path, query, "leads", self._leads(query), self.page_size)
        if path == "/api/v4/events":
            return self._list(path, query, "events", self._events(query), self.events_page_size)
        if path == "/api/v4/contacts":
            ids = {int(i) for i in query.get("filter[id][]", [])}
            contacts = [c for i, c in sorted(self.contacts.items()) if not ids or i in ids]
            return self._list(path, query, "contacts", contacts, 250)
        return 404, {"title": "Not Found", "status": 404}, {}

    def _leads(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        leads = list(self.leads.values())
        ids = {int(i) for i in query.get("filter[id][]", [])}
        if ids:
            leads = [lead for lead in leads if lead["id"] in ids]
        since = query.get("filter[updated_at][from]")
        if since and not self.ignore_updated_filter:
            leads = [lead for lead in leads if lead["updated_at"] >= int(since[0])]
        direction = (query.get("order[updated_at]") or [""])[0]
        if direction:
            leads.sort(key=lambda lead: (lead["updated_at"], lead["id"]), reverse=direction == "desc")
        else:
            leads.sort(key=lambda lead: lead["id"])
        return leads

    def _events(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        events = list(self.events)
        entity = query.get("filter[entity]", []) + query.get("filter[entity][]", [])
        if entity:
            events = [e for e in events if e["entity_type"] in entity]
        ids = {int(i) for i in query.get("filter[entity_id][]", [])}
        if ids:
            assert len(ids) <= 10, "amoCRM accepts at most 10 entity ids"
            assert len(entity) == 1, "filter[entity_id] needs exactly one filter[entity]"
            events = [e for e in events if e["entity_id"] in ids]
        types = query.get("filter[type][]", []) + query.get("filter[type]", [])
        if types:
            events = [e for e in events if e["type"] in types]
        since = query.get("filter[created_at][from]")
        if since:
            events = [e for e in events if e["created_at"] >= int(since[0])]
        return sorted(events, key=lambda e: (e["created_at"], e["id"]), reverse=True)  # newest first

    def _list(
        self, path: str, query: dict[str, list[str]], key: str, items: list[dict[str, Any]], page_size: int
    ) -> tuple[int, Any, dict[str, str]]:
        page = int((query.get("page") or ["1"])[0])
        limit = min(int((query.get("limit") or ["50"])[0]), page_size)
        chunk = items[(page - 1) * limit : page * limit]
        if not chunk:
            return 204, None, {}
        flat = [(k, v) for k, values in query.items() if k != "page" for v in values]
        links: dict[str, Any] = {
            "self": {"href": f"{PUBLIC_HOST}{path}?{urlencode([*flat, ('page', page)])}"}
        }
        if page * limit < len(items):
            links["next"] = {"href": f"{PUBLIC_HOST}{path}?{urlencode([*flat, ('page', page + 1)])}"}
        return 200, {"_page": page, "_links": links, "_embedded": {key: json.loads(json.dumps(chunk))}}, {}
