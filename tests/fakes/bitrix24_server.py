"""A local Bitrix24 REST server behind an inbound-webhook URL: real HTTP on 127.0.0.1, scripted faults.

Models what the connector uses (apidocs.bitrix24.com, dev.1c-bitrix.ru/rest_help): crm.lead.list and
crm.deal.list (50 per page, `start`, `start=-1` without a count, filters with >= > < <= prefixes),
crm.stagehistory.list (entityTypeId=1, `{"items": [...]}`), and `batch` (commands as PHP query strings,
`$result[cmd][i][FIELD]` macros, result / result_error / result_next / result_total). An unresolved macro is
left as literal text, which the `>ID` filter reads as 0 (so such a page is plausible-looking garbage).
Times are served in the portal's zone (+03:00).
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PAGE = 50
PORTAL_TZ = timezone(timedelta(hours=3))
_MACRO = re.compile(r"^\$result\[([^\]]+)\]((?:\[[^\]]*\])*)$")


def b24_time(value: datetime | None) -> str:
    """Naive UTC -> Bitrix24's ISO text in the portal time zone."""
    return "" if value is None else value.replace(tzinfo=UTC).astimezone(PORTAL_TZ).isoformat()


def parse_php_query(query: str) -> dict[str, Any]:
    """Inverse of PHP's http_build_query for the shapes the connector sends."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        names = re.findall(r"[^\[\]]+", key)  # filter[>=DATE_MODIFY] -> ["filter", ">=DATE_MODIFY"]
        node = root
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


@dataclass
class Recorded:
    method: str
    params: dict[str, Any]
    in_batch: bool


@dataclass
class Fault:
    """Fail calls of `method` (a sub-command too when `in_batch`) with `status` + Bitrix24 `code`."""

    method: str
    status: int
    code: str
    times: int = 1
    in_batch: bool = False
    match: Callable[[dict[str, Any]], bool] = lambda _params: True


class FakeBitrix24:
    """In-memory portal. Use as a context manager; `webhook_url` is the inbound webhook of user 1."""

    def __init__(self, token: str = "b24secrettoken0123456789", now: datetime | None = None) -> None:
        self.token = token
        self.now = now or datetime(2024, 5, 10, 12, 0, 0)
        self.echo_path_in_errors = False
        self.ignore_id_filter = False  # a portal that drops the keyset condition
        self.leads: dict[int, dict[str, Any]] = {}
        self.deals: dict[int, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.after_request: Callable[[FakeBitrix24, Recorded], None] | None = None
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # data helpers -------------------------------------------------------------------------------------------
    def add_lead(
        self,
        lead_id: int,
        *,
        created: datetime,
        status: str = "NEW",
        semantic: str = "P",
        source: str | None = "WEB",
        utm: dict[str, str] | None = None,
        email_address: str | None = None,
        with_history: bool = True,
    ) -> dict[str, Any]:
        lead = {
            "ID": str(lead_id),
            "TITLE": f"Lead from Person {lead_id}",
            "NAME": f"Person {lead_id}",
            "DATE_CREATE": b24_time(created),
            "DATE_MODIFY": b24_time(created),
            "MOVED_TIME": b24_time(created),
            "STATUS_ID": status,
            "STATUS_SEMANTIC_ID": semantic,
            "SOURCE_ID": source,
            "UTM_SOURCE": (utm or {}).get("UTM_SOURCE"),
            "UTM_MEDIUM": (utm or {}).get("UTM_MEDIUM"),
            "UTM_CAMPAIGN": (utm or {}).get("UTM_CAMPAIGN"),
            "PHONE": [{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+7 900 000-00-00", "TYPE_ID": "PHONE"}],
            "EMAIL": [{"ID": "2", "VALUE_TYPE": "WORK", "VALUE": email_address, "TYPE_ID": "EMAIL"}]
            if email_address
            else [],
        }
        self.leads[lead_id] = lead
        if with_history:
            self._history(lead_id, 1, created, status, semantic)
        return lead

    def move(self, lead_id: int, at: datetime, status: str, semantic: str = "P") -> None:
        lead = self.leads[lead_id]
        lead.update(
            STATUS_ID=status, STATUS_SEMANTIC_ID=semantic, DATE_MODIFY=b24_time(at), MOVED_TIME=b24_time(at)
        )
        self._history(lead_id, 2 if semantic == "P" else 3, at, status, semantic)

    def touch(self, lead_id: int, at: datetime) -> None:
        self.leads[lead_id]["DATE_MODIFY"] = b24_time(at)

    def add_deal(
        self,
        deal_id: int,
        *,
        lead_id: int | None,
        amount: str,
        currency: str,
        semantic: str,
        closed: datetime | None,
        modified: datetime,
    ) -> None:
        self.deals[deal_id] = {
            "ID": str(deal_id),
            "TITLE": f"Deal {deal_id}",
            "LEAD_ID": str(lead_id) if lead_id else None,
            "OPPORTUNITY": amount,
            "CURRENCY_ID": currency,
            "STAGE_ID": "WON" if semantic == "S" else "NEW",
            "STAGE_SEMANTIC_ID": semantic,
            "CLOSEDATE": b24_time(closed),
            "DATE_MODIFY": b24_time(modified),
        }

    def _history(self, lead_id: int, type_id: int, at: datetime, status: str, semantic: str) -> None:
        self.history.append(
            {
                "ID": len(self.history) + 1,
                "TYPE_ID": type_id,
                "OWNER_ID": lead_id,
                "CREATED_TIME": b24_time(at),
                "STATUS_ID": status,
                "STATUS_SEMANTIC_ID": semantic,
            }
        )

    # server -------------------------------------------------------------------------------------------------
    @property
    def webhook_url(self) -> str:
        assert self._server is not None, "use FakeBitrix24 as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}/rest/1/{self.token}/"

    def methods(self, *, in_batch: bool | None = None) -> list[str]:
        return [r.method for r in self.requests if in_batch is None or r.in_batch == in_batch]

    def __enter__(self) -> FakeBitrix24:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                now = getattr(self, "served_at", fake.now)  # the clock when the request arrived
                return email.utils.format_datetime(now.replace(tzinfo=UTC), usegmt=True)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake._handle(self, json.loads(raw or b"{}"))

            def do_GET(self) -> None:
                fake._handle(self, parse_php_query(urlsplit(self.path).query))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self._server
        threading.Thread(target=lambda: server.serve_forever(poll_interval=0.02), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, params: dict[str, Any]) -> None:
        path = urlsplit(handler.path).path
        match = re.fullmatch(r"/rest/(\d+)/([^/]+)/([\w.]+?)(?:\.json)?", path)
        with self._lock:
            handler.served_at = self.now  # type: ignore[attr-defined]
            if not match or match.group(2) != self.token:
                detail = (
                    f"Invalid request credentials for {path}"
                    if self.echo_path_in_errors
                    else "Invalid request"
                )
                status, body = 401, {"error": "INVALID_CREDENTIALS", "error_description": detail}
            else:
                method = match.group(3)
                record = Recorded(method, params, in_batch=False)
                self.requests.append(record)
                status, body = self._call(method, params, in_batch=False)
                if self.after_request is not None:
                    self.after_request(self, record)
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _call(self, method: str, params: dict[str, Any], *, in_batch: bool) -> tuple[int, dict[str, Any]]:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == method
                and fault.in_batch == in_batch
                and fault.match(params)
            ):
                fault.times -= 1
                return fault.status, {"error": fault.code, "error_description": "scripted fault"}
        timing = {"start": 0, "finish": 0, "duration": 0, "date_start": b24_time(self.now)}
        if method == "batch":
            return 200, {"result": self._batch(params.get("cmd") or {}), "time": timing}
        if method in ("crm.lead.list", "crm.deal.list"):
            table = self.leads if method == "crm.lead.list" else self.deals
            return 200, {**self._list(list(table.values()), params, wrap=None), "time": timing}
        if method == "crm.stagehistory.list":
            assert str(params.get("entityTypeId")) == "1", "only leads are modelled"
            return 200, {**self._list(self.history, params, wrap="items"), "time": timing}
        return 400, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}

    def _batch(self, commands: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        for name, command in commands.items():
            method, _, query = command.partition("?")
            params = self._resolve(parse_php_query(query), result)
            self.requests.append(Recorded(method, params, in_batch=True))
            status, body = self._call(method, params, in_batch=True)
            if status != 200:
                errors[name] = body
                continue
            result[name] = body["result"]
            if "total" in body:
                totals[name] = body["total"]
            if "next" in body:
                nexts[name] = body["next"]
        # PHP serialises an empty associative array as a JSON list.
        return {
            "result": result or [],
            "result_error": errors or [],
            "result_total": totals or [],
            "result_next": nexts or [],
            "result_time": [],
        }

    def _resolve(self, node: Any, results: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            return {k: self._resolve(v, results) for k, v in node.items()}
        if isinstance(node, list):
            return [self._resolve(v, results) for v in node]
        if isinstance(node, str) and (macro := _MACRO.match(node)):
            value: Any = results.get(macro.group(1))
            for key in re.findall(r"\[([^\]]*)\]", macro.group(2)):
                if isinstance(value, list) and key.isdigit() and int(key) < len(value):
                    value = value[int(key)]
                elif isinstance(value, dict) and key in value:
                    value = value[key]
                else:
                    return node  # unresolved: stays literal text
            return value
        return node

    def _list(self, rows: list[dict[str, Any]], params: dict[str, Any], wrap: str | None) -> dict[str, Any]:
        conditions = dict(params.get("filter") or {})
        if self.ignore_id_filter:
            conditions.pop(">ID", None)
        rows = [r for r in rows if _matches(r, conditions)]
        for key, direction in reversed(list((params.get("order") or {"ID": "ASC"}).items())):
            rows.sort(key=lambda r, k=key: _sortable(r.get(k)), reverse=str(direction).upper() == "DESC")
        select = params.get("select") or ["*"]
        if "*" not in select:
            rows = [{k: v for k, v in r.items() if k in select or k == "ID"} for r in rows]
        start = int(params.get("start", 0))
        offset = 0 if start < 0 else (start // PAGE) * PAGE  # legacy list methods page, they do not offset
        page = json.loads(json.dumps(rows[offset : offset + PAGE]))
        body: dict[str, Any] = {"result": {wrap: page} if wrap else page}
        if start >= 0:
            body["total"] = len(rows)
            if offset + PAGE < len(rows):
                body["next"] = offset + PAGE
        return body


def _sortable(value: Any) -> Any:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return (0, int(value), "")
    if isinstance(value, str) and value[:4].isdigit():
        return (1, 0, datetime.fromisoformat(value).astimezone(UTC).isoformat())
    return (2, 0, str(value))


def _matches(row: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for raw_key, expected in conditions.items():
        op_match = re.match(r"^(>=|<=|>|<|=|!)?(.+)$", raw_key)
        assert op_match is not None
        op, key = op_match.group(1) or "=", op_match.group(2)
        actual = row.get(key)
        if isinstance(expected, list):
            if (str(actual) in {str(e) for e in expected}) != (op != "!"):
                return False
            continue
        left, right = _comparable(actual), _comparable(expected)
        if type(left) is not type(right):
            right = _comparable("0") if isinstance(left, int) else right
        ok = {
            "=": left == right,
            "!": left != right,
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
        }[op]
        if not ok:
            return False
    return True


def _comparable(value: Any) -> Any:
    text = "" if value is None else str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
