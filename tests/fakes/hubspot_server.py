"""A local HTTP HubSpot (CRM v3 search/list/batch read, v4 associations) for tests through the real client."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
SEARCH_RESULT_CAP = 10_000  # HubSpot: a search query cannot page past 10,000 results
_EPOCH = datetime(1970, 1, 1)


def iso(at: datetime) -> str:
    """HubSpot's datetime property format: UTC with milliseconds and Z."""
    return at.isoformat(timespec="milliseconds") + "Z"


def to_ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


@dataclass
class FakeObject:
    id: str
    kind: str
    created: datetime
    modified: datetime
    properties: dict[str, str | None]
    history: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)  # newest last
    archived_at: datetime | None = None
    modified_ms: int = 0

    def sort_value(self, prop: str) -> float | None:
        """What HubSpot compares in filters and sorts: datetimes as epoch ms, numbers as numbers."""
        if prop == MODIFIED[self.kind]:
            return self.modified_ms
        if prop == "hs_object_id":
            return int(self.id)
        return _as_number(self.properties.get(prop))

    def to_json(self, wanted: Iterable[str] | None, with_history: Iterable[str] = ()) -> dict[str, Any]:
        names = ["hs_object_id", "createdate", MODIFIED[self.kind], *(wanted or [])]
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {n: self.properties.get(n) for n in dict.fromkeys(names)},
            "createdAt": iso(self.created),
            "updatedAt": iso(self.modified),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = iso(self.archived_at)
        if with_history:
            body["propertiesWithHistory"] = {
                p: [
                    {"value": v, "timestamp": iso(at), "sourceType": "CRM_UI", "sourceId": "userId:1"}
                    for v, at in reversed(self.history.get(p, []))
                ]
                for p in with_history
            }
        return body


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class _Failure:
    path: str
    status: int
    retry_after: str | None
    body: dict[str, Any]
    times: int


class FakeHubspot:
    """In-memory portal behind a threaded HTTP server on 127.0.0.1:0; use as a context manager."""

    def __init__(self, token: str = "pat-na1-test-token") -> None:
        self.token = token
        self.objects: dict[str, dict[str, FakeObject]] = {"contacts": {}, "deals": {}}
        self.associations: dict[str, list[str]] = {}  # deal id -> contact ids
        self.requests: list[RecordedRequest] = []
        self.hooks: list[Callable[[RecordedRequest], None]] = []
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle

    def __enter__(self) -> FakeHubspot:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server, "use FakeHubspot as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # data

    def add_contact(
        self, contact_id: str, *, created: datetime, modified: datetime | None = None, **props: Any
    ) -> None:
        self._add("contacts", contact_id, created, modified or created, props)

    def add_deal(
        self,
        deal_id: str,
        *,
        created: datetime,
        modified: datetime | None = None,
        contacts: Iterable[str] = (),
        **props: Any,
    ) -> None:
        self._add("deals", deal_id, created, modified or created, props)
        if contacts:
            self.associations[deal_id] = [str(c) for c in contacts]

    def add_bulk_contacts(
        self, count: int, *, first_id: int, start: datetime, step: timedelta, **props: Any
    ) -> None:
        """Many plain contacts cheaply (no history), modified `step` apart from `start`."""
        with self._lock:
            for n in range(count):
                at = start + step * n
                cid = str(first_id + n)
                self.objects["contacts"][cid] = FakeObject(
                    cid,
                    "contacts",
                    at,
                    at,
                    {"hs_object_id": cid, "createdate": iso(at), "lastmodifieddate": iso(at), **props},
                    modified_ms=to_ms(at),
                )

    def modify(self, kind: str, object_id: str, at: datetime, **props: Any) -> None:
        """An edit in the portal: properties change and the modified time moves to `at`."""
        with self._lock:
            obj = self.objects[kind][object_id]
            for name, value in props.items():
                obj.properties[name] = None if value is None else str(value)
                obj.history.setdefault(name, []).append((str(value), at))
            obj.modified, obj.modified_ms = at, to_ms(at)
            obj.properties[MODIFIED[kind]] = iso(at)

    def archive(self, kind: str, object_id: str, at: datetime) -> None:
        with self._lock:
            self.objects[kind][object_id].archived_at = at

    def fail_next(
        self,
        path: str,
        status: int = 429,
        *,
        retry_after: str | None = "0",
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """The next `times` requests to `path` get `status` (HubSpot's error body), then normal service."""
        body = {
            "status": "error",
            "message": message or "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT" if status == 429 else "ERROR",
            "correlationId": "00000000-0000-0000-0000-000000000000",
            "category": "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR",
        }
        if status == 429:
            body["policyName"] = "SECONDLY"
        with self._lock:
            self._failures.append(_Failure(path, status, retry_after, body, times))

    def on_request(self, hook: Callable[[RecordedRequest], None]) -> None:
        """Run `hook` before each request is served (e.g. to edit a record between two pages)."""
        self.hooks.append(hook)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def _add(
        self, kind: str, object_id: str, created: datetime, modified: datetime, props: dict[str, Any]
    ) -> None:
        with self._lock:
            values = {k: None if v is None else str(v) for k, v in props.items()}
            obj = FakeObject(
                object_id,
                kind,
                created,
                modified,
                {
                    "hs_object_id": object_id,
                    "createdate": iso(created),
                    MODIFIED[kind]: iso(modified),
                    **values,
                },
                history={k: [(v, created)] for k, v in values.items() if v is not None},
                modified_ms=to_ms(modified),
            )
            self.objects[kind][object_id] = obj

    # handlers: each returns (status, body)

    def search(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        limit, after = int(body.get("limit") or 10), int(body.get("after") or 0)
        if limit > 200:
            return 400, _error("limit must be at most 200", "VALIDATION_ERROR")
        if after + limit > SEARCH_RESULT_CAP:
            return 400, _error("Search results are limited to 10,000; refine the filters", "VALIDATION_ERROR")
        live = [o for o in self.objects[kind].values() if o.archived_at is None]
        groups = body.get("filterGroups") or []
        if groups:
            live = [o for o in live if any(all(_matches(o, f) for f in g.get("filters", [])) for g in groups)]
        for sort in reversed(body.get("sorts") or []):
            prop = sort["propertyName"] if isinstance(sort, dict) else str(sort).lstrip("-")
            live.sort(
                key=lambda o, p=prop: o.sort_value(p) or 0, reverse=sort.get("direction") == "DESCENDING"
            )
        page = live[after : after + limit]
        out: dict[str, Any] = {
            "total": len(live),
            "results": [o.to_json(body.get("properties")) for o in page],
        }
        if after + limit < len(live):
            nxt = str(after + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, out

    def list_objects(self, kind: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        limit, after = int(query.get("limit", ["10"])[0]), int(query.get("after", ["0"])[0])
        if limit > 100:
            return 400, _error("limit must be at most 100", "VALIDATION_ERROR")
        archived = query.get("archived", ["false"])[0].lower() == "true"
        wanted = [p for v in query.get("properties", []) for p in v.split(",")]
        chosen = [o for o in self.objects[kind].values() if (o.archived_at is not None) == archived]
        chosen.sort(key=lambda o: int(o.id))
        page = chosen[after : after + limit]
        out: dict[str, Any] = {"results": [o.to_json(wanted) for o in page]}
        if after + limit < len(chosen):
            nxt = str(after + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return 200, out

    def batch_read(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = [i["id"] for i in body.get("inputs", [])]
        history = body.get("propertiesWithHistory") or []
        if len(inputs) > (50 if history else 100):
            return 400, _error("too many inputs", "VALIDATION_ERROR")
        live = self.objects[kind]
        found = [live[i] for i in inputs if i in live and live[i].archived_at is None]
        missing = [i for i in inputs if i not in live or live[i].archived_at is not None]
        out = _batch([o.to_json(body.get("properties"), history) for o in found])
        if missing:
            out["errors"] = [_batch_error("OBJECT_NOT_FOUND", missing)]
            out["numErrors"] = 1
            return 207, out
        return 200, out

    def read_deal_contacts(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = [str(i["id"]) for i in body.get("inputs", [])]
        if len(inputs) > 1000:
            return 400, _error("too many inputs", "VALIDATION_ERROR")
        results, missing = [], []
        for deal_id in inputs:
            contacts = self.associations.get(deal_id)
            if not contacts:
                missing.append(deal_id)
                continue
            to = [
                {
                    "toObjectId": int(c),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}],
                }
                for c in contacts
            ]
            results.append({"from": {"id": deal_id}, "to": to})
        out = _batch(results)
        if missing:
            out["errors"] = [_batch_error("NO_ASSOCIATIONS_FOUND", missing)]
            out["numErrors"] = 1
            return 207, out
        return 200, out

    def handle(
        self, method: str, raw_path: str, body: Any, auth: str | None
    ) -> tuple[int, dict[str, Any], dict]:
        parts = urlsplit(raw_path)
        request = RecordedRequest(method, parts.path, parse_qs(parts.query), body, auth)
        with self._lock:
            self.requests.append(request)
            for hook in list(self.hooks):
                hook(request)
            if auth != f"Bearer {self.token}":
                return 401, _error("Authentication credentials not found.", "INVALID_AUTHENTICATION"), {}
            for failure in self._failures:
                if failure.times > 0 and failure.path == request.path:
                    failure.times -= 1
                    headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
                    return failure.status, failure.body, headers
            status, out = self._route(method, request)
            return status, out, {}

    def _route(self, method: str, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        segments = request.path.strip("/").split("/")
        if method == "POST" and request.path == "/crm/v4/associations/deals/contacts/batch/read":
            return self.read_deal_contacts(request.body)
        if len(segments) >= 4 and segments[:3] == ["crm", "v3", "objects"] and segments[3] in self.objects:
            kind, rest = segments[3], segments[4:]
            if method == "POST" and rest == ["search"]:
                return self.search(kind, request.body)
            if method == "POST" and rest == ["batch", "read"]:
                return self.batch_read(kind, request.body)
            if method == "GET" and not rest:
                return self.list_objects(kind, request.query)
        return 404, _error(f"no route for {method} {request.path}", "OBJECT_NOT_FOUND")


def _handler(fake: FakeHubspot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API; urllib3 reuses connections

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, out, headers = fake.handle(method, self.path, body, self.headers.get("Authorization"))
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def _matches(obj: FakeObject, f: dict[str, Any]) -> bool:
    op, prop = f["operator"], f["propertyName"]
    have = obj.sort_value(prop)
    if op == "HAS_PROPERTY":
        return obj.properties.get(prop) not in (None, "")
    if have is None:
        return False
    want = _as_number(f.get("value"))
    if want is None:
        raise ValueError(f"fake supports numeric/datetime filters only: {f}")
    return {
        "EQ": have == want,
        "NEQ": have != want,
        "GT": have > want,
        "GTE": have >= want,
        "LT": have < want,
        "LTE": have <= want,
    }[op]


def _as_number(value: Any) -> float | None:
    """Numbers, epoch-ms strings and ISO datetimes (as epoch ms), like HubSpot's filter coercion."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", ""))
    except ValueError:
        return None
    return float(to_ms(at))


def _error(message: str, category: str) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": "fake", "category": category}


def _batch(results: list[dict[str, Any]]) -> dict[str, Any]:
    now = iso(datetime(2026, 1, 1))
    return {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}


def _batch_error(category: str, ids: list[str]) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": f"{category}: {ids}", "context": {"ids": ids}}
