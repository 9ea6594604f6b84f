"""A local Meta Graph API (v26.0) speaking the insights endpoints the facebook_business SDK calls.

Tests drive the real SDK against it over real HTTP, so URL building, parameter encoding, paging cursors,
async report runs and error parsing are exercised exactly as in production. Every request is recorded
and faults can be injected per account.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API_VERSION = "v26.0"
DEFAULT_PAGE_LIMIT = 25  # Graph's own default when the client sends no limit

Response = tuple[int, Any, dict[str, str]]  # status, JSON body (or raw str), extra headers


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # query string (GET) or form body (POST), first value per key

    @property
    def account_id(self) -> str | None:
        """Digits of the ad account in an /act_<id>/ path, else None."""
        parts = self.path.strip("/").split("/")
        return parts[1].removeprefix("act_") if len(parts) > 1 and parts[1].startswith("act_") else None

    def time_range(self) -> tuple[date, date] | None:
        raw = self.params.get("time_range")
        if raw is None:
            return None
        tr = json.loads(raw)
        return date.fromisoformat(tr["since"]), date.fromisoformat(tr["until"])


@dataclass
class Fault:
    """An injected response for requests matching `match`; `times=None` means every time."""

    match: Callable[[RecordedRequest], bool]
    response: Response
    times: int | None = 1

    def take(self, request: RecordedRequest) -> Response | None:
        if self.times == 0 or not self.match(request):
            return None
        if self.times is not None:
            self.times -= 1
        return self.response


@dataclass
class Job:
    id: str
    account_id: str
    since: date
    until: date
    polls: int = 0


@dataclass
class FakeAccount:
    currency: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # Graph-shaped campaign-day rows


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    status: int = 400,
    error_type: str = "OAuthException",
    is_transient: bool = False,
    fbtrace_id: str = "AbCdTrace123",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A Graph error body as Meta sends it."""
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "is_transient": is_transient,
        "fbtrace_id": fbtrace_id,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}, {"x-fb-trace-id": fbtrace_id, **(headers or {})}


def buc_header(account_id: str, minutes: int, call_count: int = 100) -> dict[str, str]:
    """x-business-use-case-usage as sent with ads_insights throttling."""
    usage = {
        account_id: [
            {
                "type": "ads_insights",
                "call_count": call_count,
                "total_cputime": 20,
                "total_time": 30,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"x-business-use-case-usage": json.dumps(usage)}


def campaign_day(
    day: date,
    campaign_id: str,
    *,
    spend: str,
    impressions: int,
    clicks: int,
    currency: str,
    campaign_name: str | None = None,
    actions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One insights row (level=campaign, time_increment=1) with numbers as strings, like Graph."""
    row: dict[str, Any] = {
        "campaign_id": campaign_id,
        "campaign_name": campaign_name or f"Campaign {campaign_id}",
        "spend": spend,
        "impressions": str(impressions),
        "clicks": str(clicks),
        "account_currency": currency,
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
    }
    if actions:
        row["actions"] = [{"action_type": k, "value": v} for k, v in actions.items()]
    return row


class FakeGraphApi:
    """Graph API on 127.0.0.1:<free port> in a daemon thread; use as a context manager."""

    def __init__(self, access_token: str = "test-token") -> None:
        self.access_token = access_token
        self.accounts: dict[str, FakeAccount] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, Job] = {}
        # Behaviour knobs.
        self.async_fail_longer_than_days: int | None = None  # 'Job Failed' for longer ranges
        self.async_stall_longer_than_days: int | None = None  # 'Job Running' forever for longer ranges
        self.sync_timeout_longer_than_days: int | None = None  # code 100/1504018 for longer ranges
        self.job_running_polls = 1  # polls answered 'Job Running' before 'Job Completed'
        self._lock = threading.Lock()
        self._job_ids = itertools.count(900001)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- data and faults -------------------------------------------------------------------------

    def add_account(self, account_id: str, currency: str, rows: Sequence[dict[str, Any]] = ()) -> None:
        self.accounts[account_id] = FakeAccount(currency=currency, rows=list(rows))

    def add_fault(
        self, match: Callable[[RecordedRequest], bool], response: Response, times: int | None = 1
    ) -> Fault:
        fault = Fault(match=match, response=response, times=times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(self, account_id: str, minutes: int | None, times: int = 1) -> Fault:
        """Code 17 / 2446079 on the account's insights, with the BUC header when minutes is given."""
        headers = buc_header(account_id, minutes) if minutes is not None else {}
        response = graph_error(
            17,
            "(#17) User request limit reached",
            subcode=2446079,
            is_transient=True,
            fbtrace_id="RateTrace17",
            headers=headers,
        )
        return self.add_fault(_insights_of(account_id), response, times)

    def server_error(self, account_id: str, times: int | None = 1) -> Fault:
        """HTTP 500 with Graph's transient 'unexpected error' body."""
        response = graph_error(
            2,
            "An unexpected error has occurred. Please retry your request later.",
            status=500,
            is_transient=True,
            fbtrace_id="Trace500",
        )
        return self.add_fault(_insights_of(account_id), response, times)

    def deny(self, account_id: str, code: int = 200) -> Fault:
        """A permanent permission error (200 = permissions, 10 = application permission) for an account."""
        message = (
            "(#200) Ad account owner has NOT grant ads_management or ads_read permission"
            if code == 200
            else "(#10) Application does not have permission for this action"
        )
        response = graph_error(code, message, status=403, fbtrace_id="DenyTrace200")
        return self.add_fault(_insights_of(account_id), response, times=None)

    def malformed_page(self, account_id: str, kind: str = "truncated", page: int = 2) -> Fault:
        """Answer the account's page number `page` (1-based) with a broken body."""
        if kind == "truncated":
            body: Any = '{"data": [{"campaign_id": "1", "spend": "1'  # cut mid-transfer
        elif kind == "bad_row":
            row = campaign_day(date(2024, 5, 1), "1", spend="1", impressions=1, clicks=1, currency="EUR")
            body = {"data": [{**row, "spend": "twelve"}]}
        else:
            raise ValueError(kind)

        def match(request: RecordedRequest) -> bool:
            is_page = "after" in request.params if page > 1 else "after" not in request.params
            return _insights_of(account_id)(request) and is_page

        return self.add_fault(match, (200, body, {}))

    # ---- server lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGraphApi:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-graph-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGraphApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers for assertions ------------------------------------------------------------------

    def requests_for(self, account_id: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.account_id == account_id and (method is None or r.method == method)
        ]

    # ---- request handling ------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, str]) -> Response:
        request = RecordedRequest(method=method, path=path, params=params)
        with self._lock:
            self.requests.append(request)
            token = params.get("access_token")
            if token != self.access_token:
                return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=400)
            for fault in self.faults:
                response = fault.take(request)
                if response is not None:
                    return response
            return self._route(request)

    def _route(self, request: RecordedRequest) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != API_VERSION:
            return graph_error(2500, "Unknown path components", status=400)
        node, edge = parts[1], (parts[2] if len(parts) > 2 else "")
        if node.startswith("act_") and edge == "insights":
            account_id = node.removeprefix("act_")
            if account_id not in self.accounts:
                return graph_error(
                    100, f"(#100) Unsupported get request. Object with ID '{node}' does not exist"
                )
            if request.method == "POST":
                return self._create_job(account_id, request)
            return self._sync_insights(account_id, request)
        if node in self.jobs and request.method == "GET":
            job = self.jobs[node]
            return self._job_results(job, request) if edge == "insights" else self._job_status(job)
        return graph_error(100, f"(#100) Unsupported {request.method.lower()} request: {request.path}")

    def _rows(self, account_id: str, since: date, until: date) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self.accounts[account_id].rows
            if since.isoformat() <= r["date_start"] <= until.isoformat()
        ]
        return sorted(rows, key=lambda r: (r["date_start"], r["campaign_id"]))

    def _page(
        self, rows: list[dict[str, Any]], request: RecordedRequest, fields: Sequence[str] | None
    ) -> Response:
        limit = int(request.params.get("limit", DEFAULT_PAGE_LIMIT))
        offset = int(request.params["after"].removeprefix("cur-")) if "after" in request.params else 0
        chunk = rows[offset : offset + limit]
        if fields:
            chunk = [{k: v for k, v in r.items() if k in fields} for r in chunk]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {"cursors": {"before": f"cur-{offset}", "after": f"cur-{offset + len(chunk)}"}}
            if offset + len(chunk) < len(rows):
                body["paging"]["next"] = f"{self.url}{request.path}?after=cur-{offset + len(chunk)}"
        return 200, body, {}

    def _sync_insights(self, account_id: str, request: RecordedRequest) -> Response:
        since, until = request.time_range() or (date.today(), date.today())
        days = (until - since).days + 1
        if self.sync_timeout_longer_than_days is not None and days > self.sync_timeout_longer_than_days:
            return graph_error(
                100,
                "Please reduce the amount of data you're asking for, then retry your request",
                subcode=1504018,
                status=500,
                fbtrace_id="TimeoutTrace",
            )
        fields = request.params.get("fields", "").split(",") if request.params.get("fields") else None
        return self._page(self._rows(account_id, since, until), request, fields)

    def _create_job(self, account_id: str, request: RecordedRequest) -> Response:
        since, until = request.time_range() or (date.today(), date.today())
        job = Job(id=str(next(self._job_ids)), account_id=account_id, since=since, until=until)
        self.jobs[job.id] = job
        return 200, {"report_run_id": job.id}, {}

    def _job_state(self, job: Job) -> tuple[str, int]:
        days = (job.until - job.since).days + 1
        if self.async_fail_longer_than_days is not None and days > self.async_fail_longer_than_days:
            return "Job Failed", 0
        if self.async_stall_longer_than_days is not None and days > self.async_stall_longer_than_days:
            return "Job Running", 50
        if job.polls <= self.job_running_polls:
            return "Job Running", min(99, 40 * job.polls)
        return "Job Completed", 100

    def _job_status(self, job: Job) -> Response:
        job.polls += 1
        status, percent = self._job_state(job)
        body = {
            "id": job.id,
            "account_id": job.account_id,
            "async_status": status,
            "async_percent_completion": percent,
            "date_start": job.since.isoformat(),
            "date_stop": job.until.isoformat(),
        }
        return 200, body, {}

    def _job_results(self, job: Job, request: RecordedRequest) -> Response:
        if self._job_state(job)[0] != "Job Completed":
            return graph_error(100, "(#100) The report is not ready yet", status=400)
        return self._page(self._rows(job.account_id, job.since, job.until), request, None)


def _insights_of(account_id: str) -> Callable[[RecordedRequest], bool]:
    """Matches the account's insights edge (sync GET and async POST)."""
    return lambda request: request.account_id == account_id and request.path.rstrip("/").endswith("/insights")


def _handler_for(api: FakeGraphApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes; avoid 40 ms stalls

        def log_message(self, format: str, *args: Any) -> None:  # keep test output (and tokens) quiet
            pass

        def _params(self, raw: str) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def _reply(self, response: Response) -> None:
            status, body, headers = response
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            self._reply(api.handle("GET", url.path, self._params(url.query)))

        def do_POST(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = {**self._params(url.query), **self._params(body)}
            self._reply(api.handle("POST", url.path, params))

    return Handler


def iter_days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)
