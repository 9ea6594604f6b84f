"""Loopback fakes of the Google Ads API (gRPC over TLS) and of Google's OAuth token endpoint (HTTPS).

They let tests drive the unmodified `GoogleAdsClient` through its real secure channel, interceptors, error
mapping and google-auth token refresh, instead of mocking the client. Both bind 127.0.0.1 on a free port.

Trust, found by experiment with grpcio 1.85 (see tests/resources/test_google_ads.py for the fixture design):
gRPC reads `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` (and the file it names) ONCE PER PROCESS, at the first TLS
handshake of any secure channel; creating channels or credentials objects does not trigger it, insecure
channels don't either, and later changes of the variable or of the file are ignored. So every gRPC fake in a
test process must be served with one certificate that was exported before the first secure connection.
`requests` (the OAuth refresh path) reads `REQUESTS_CA_BUNDLE` per request, so that one can be set per test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl

import grpc
from google.ads.googleads.v26.enums.types.campaign_status import CampaignStatusEnum
from google.ads.googleads.v26.errors.types.authentication_error import AuthenticationErrorEnum
from google.ads.googleads.v26.errors.types.authorization_error import AuthorizationErrorEnum
from google.ads.googleads.v26.errors.types.errors import (
    ErrorCode,
    ErrorDetails,
    GoogleAdsError,
    GoogleAdsFailure,
    QuotaErrorDetails,
)
from google.ads.googleads.v26.errors.types.internal_error import InternalErrorEnum
from google.ads.googleads.v26.errors.types.query_error import QueryErrorEnum
from google.ads.googleads.v26.errors.types.quota_error import QuotaErrorEnum
from google.ads.googleads.v26.services.types.google_ads_service import (
    GoogleAdsRow,
    SearchGoogleAdsRequest,
    SearchGoogleAdsResponse,
    SearchGoogleAdsStreamRequest,
    SearchGoogleAdsStreamResponse,
)
from google.protobuf import duration_pb2

SERVICE_NAME = "google.ads.googleads.v26.services.GoogleAdsService"
FAILURE_METADATA_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"

# Fields the fake can serve; a query selecting anything else gets QueryError.UNRECOGNIZED_FIELD, as a real
# server does for a misspelt or removed field.
KNOWN_FIELDS: frozenset[str] = frozenset(
    {
        "customer.id",
        "customer.currency_code",
        "customer.time_zone",
        "campaign.id",
        "campaign.name",
        "campaign.status",
        "segments.date",
        "metrics.cost_micros",
        "metrics.impressions",
        "metrics.clicks",
        "metrics.conversions",
    }
)

_QUERY_RE = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)(?P<rest>.*)$", re.I | re.S)
_BETWEEN_RE = re.compile(
    r"segments\.date\s+BETWEEN\s+'(\d{4}-\d{2}-\d{2})'\s+AND\s+'(\d{4}-\d{2}-\d{2})'", re.I
)


@dataclass(frozen=True)
class CampaignDay:
    """One canned campaign x day row, in the account's currency (micros) and time zone."""

    campaign_id: int
    day: dt.date
    cost_micros: int
    impressions: int = 0
    clicks: int = 0
    conversions: float = 0.0
    campaign_name: str = ""
    status: str = "ENABLED"


@dataclass
class FakeCustomer:
    """A customer (ad account) the fake knows: its currency and its campaign-day rows."""

    currency_code: str
    rows: list[CampaignDay] = field(default_factory=list)
    time_zone: str = "Europe/Berlin"


FaultKind = Literal["quota", "unavailable", "internal", "auth", "bad_query", "slow"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for one call.

    quota: RESOURCE_EXHAUSTED + QuotaError with `retry_delay_seconds`; unavailable: bare UNAVAILABLE (no
    GoogleAdsFailure, like a proxy/transport hiccup); internal: INTERNAL + InternalError; auth:
    UNAUTHENTICATED + AuthenticationError `code`; bad_query: INVALID_ARGUMENT + QueryError `code`; slow:
    answer normally after `delay_seconds` (lets a client deadline expire). `after_batches` > 0 streams that
    many batches first, i.e. the stream breaks midway.
    """

    kind: FaultKind
    retry_delay_seconds: float | None = None
    delay_seconds: float = 0.0
    after_batches: int = 0
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ReceivedCall:
    """What the fake saw of one call, for assertions on headers and retry timing."""

    method: str
    customer_id: str
    query: str
    metadata: dict[str, str]
    request_id: str
    received_at: float  # time.monotonic()


class _Abort(Exception):
    """Internal: carries an error the handler turns into status + trailers."""

    def __init__(self, code: grpc.StatusCode, details: str, failure: GoogleAdsFailure | None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.failure = failure


def _failure(error_code: ErrorCode, message: str, details: ErrorDetails | None = None) -> GoogleAdsFailure:
    error = GoogleAdsError(error_code=error_code, message=message)
    if details is not None:
        error.details = details
    return GoogleAdsFailure(errors=[error])


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


class FakeGoogleAdsServer:
    """A TLS gRPC server implementing GoogleAdsService.SearchStream and .Search over canned rows.

    Use as a context manager; `endpoint` ("localhost:PORT") is what GOOGLE_ADS_ENDPOINT would hold.
    """

    def __init__(
        self,
        cert_path: str | Path,
        key_path: str | Path,
        *,
        customers: dict[str, FakeCustomer] | None = None,
        batch_size: int = 2,
        required_access_token: str | None = None,
    ) -> None:
        self._cert = Path(cert_path).read_bytes()
        self._key = Path(key_path).read_bytes()
        self.customers: dict[str, FakeCustomer] = dict(customers or {})
        self.batch_size = batch_size
        # When set, calls without "authorization: Bearer <token>" fail like an expired OAuth token would.
        self.required_access_token = required_access_token
        self.unknown_fields: set[str] = set()
        self.calls: list[ReceivedCall] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._server: grpc.Server | None = None
        self.port: int = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> FakeGoogleAdsServer:
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "SearchStream": grpc.unary_stream_rpc_method_handler(
                    self._search_stream,
                    request_deserializer=SearchGoogleAdsStreamRequest.deserialize,
                    response_serializer=SearchGoogleAdsStreamResponse.serialize,
                ),
                "Search": grpc.unary_unary_rpc_method_handler(
                    self._search,
                    request_deserializer=SearchGoogleAdsRequest.deserialize,
                    response_serializer=SearchGoogleAdsResponse.serialize,
                ),
            },
        )
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers((handler,))
        self.port = server.add_secure_port(
            "127.0.0.1:0", grpc.ssl_server_credentials([(self._key, self._cert)])
        )
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def __enter__(self) -> FakeGoogleAdsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """host:port with the name on the certificate, as the client must connect to verify it."""
        return f"localhost:{self.port}"

    # -- test controls -----------------------------------------------------------------------------------
    def add_customer(self, customer_id: str, currency_code: str, rows: Iterable[CampaignDay]) -> None:
        self.customers[customer_id] = FakeCustomer(currency_code=currency_code, rows=list(rows))

    def inject(self, customer_id: str, fault: Fault, times: int = 1) -> None:
        """Make the next `times` calls for `customer_id` misbehave (queued in order)."""
        with self._lock:
            self._faults[customer_id].extend([fault] * times)

    def calls_for(self, customer_id: str) -> list[ReceivedCall]:
        with self._lock:
            return [c for c in self.calls if c.customer_id == customer_id]

    # -- handlers ----------------------------------------------------------------------------------------
    def _search_stream(
        self, request: SearchGoogleAdsStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[SearchGoogleAdsStreamResponse]:
        request_id = self._record("SearchStream", request.customer_id, request.query, context)
        try:
            fault = self._next_fault(request.customer_id)
            rows = self._answer(request.customer_id, request.query, context, fault)
            batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)] or [[]]
            for index, batch in enumerate(batches):
                if fault is not None and fault.after_batches and index == fault.after_batches:
                    raise self._fault_error(fault)
                yield SearchGoogleAdsStreamResponse(results=batch, request_id=request_id)
        except _Abort as err:
            self._abort(context, err, request_id)

    def _search(
        self, request: SearchGoogleAdsRequest, context: grpc.ServicerContext
    ) -> SearchGoogleAdsResponse:
        request_id = self._record("Search", request.customer_id, request.query, context)
        try:
            fault = self._next_fault(request.customer_id)
            rows = self._answer(request.customer_id, request.query, context, fault)
        except _Abort as err:
            self._abort(context, err, request_id)
        offset = int(request.page_token or 0)
        end = offset + self.batch_size
        return SearchGoogleAdsResponse(
            results=rows[offset:end],
            next_page_token=str(end) if end < len(rows) else "",
            total_results_count=len(rows),
        )

    def _record(self, method: str, customer_id: str, query: str, context: grpc.ServicerContext) -> str:
        request_id = f"fake-req-{next(self._request_ids)}"
        metadata = {k: v if isinstance(v, str) else v.decode() for k, v in context.invocation_metadata()}
        call = ReceivedCall(method, customer_id, query, metadata, request_id, time.monotonic())
        with self._lock:
            self.calls.append(call)
        return request_id

    def _next_fault(self, customer_id: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(customer_id)
            return queue.popleft() if queue else None

    def _answer(
        self, customer_id: str, query: str, context: grpc.ServicerContext, fault: Fault | None
    ) -> list[GoogleAdsRow]:
        """Validate the call like the real API would, apply a pre-answer fault, return the matching rows."""
        if self.required_access_token is not None:
            sent = dict(context.invocation_metadata()).get("authorization")
            if sent != f"Bearer {self.required_access_token}":
                raise _Abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "Request had invalid authentication credentials.",
                    _failure(
                        ErrorCode(
                            authentication_error=AuthenticationErrorEnum.AuthenticationError.OAUTH_TOKEN_INVALID
                        ),
                        "Oauth token is invalid.",
                    ),
                )
        if fault is not None and fault.kind == "slow":
            deadline = time.monotonic() + fault.delay_seconds
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.01)
        elif fault is not None and not fault.after_batches:
            raise self._fault_error(fault)
        fields, date_range = self._parse(query)
        customer = self.customers.get(customer_id)
        if customer is None:
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "The caller does not have permission",
                _failure(
                    ErrorCode(
                        authorization_error=AuthorizationErrorEnum.AuthorizationError.USER_PERMISSION_DENIED
                    ),
                    "User doesn't have permission to access customer.",
                ),
            )
        wanted = [r for r in customer.rows if date_range is None or date_range[0] <= r.day <= date_range[1]]
        return [self._row(customer_id, customer, r, fields) for r in wanted]

    def _parse(self, query: str) -> tuple[list[str], tuple[dt.date, dt.date] | None]:
        match = _QUERY_RE.match(query)
        if match is None:
            raise self._query_error("UNEXPECTED_END_OF_QUERY", "Error in query: unexpected end of query.")
        fields = [f.strip() for f in match["fields"].split(",")]
        for name in fields:
            if name not in KNOWN_FIELDS or name in self.unknown_fields:
                raise self._query_error("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.")
        if match["resource"].lower() != "campaign":
            raise self._query_error(
                "INVALID_RESOURCE_NAME_IN_FROM_CLAUSE", "Invalid resource in FROM clause."
            )
        between = _BETWEEN_RE.search(match["rest"])
        date_range = (
            (dt.date.fromisoformat(between[1]), dt.date.fromisoformat(between[2])) if between else None
        )
        return fields, date_range

    @staticmethod
    def _row(customer_id: str, customer: FakeCustomer, r: CampaignDay, fields: list[str]) -> GoogleAdsRow:
        """Only the selected fields are filled in, as in the real API, so an unselected field reads empty."""
        row = GoogleAdsRow()
        setters: dict[str, Any] = {
            "customer.id": lambda: setattr(row.customer, "id", int(customer_id)),
            "customer.currency_code": lambda: setattr(row.customer, "currency_code", customer.currency_code),
            "customer.time_zone": lambda: setattr(row.customer, "time_zone", customer.time_zone),
            "campaign.id": lambda: setattr(row.campaign, "id", r.campaign_id),
            "campaign.name": lambda: setattr(row.campaign, "name", r.campaign_name),
            "campaign.status": lambda: setattr(
                row.campaign, "status", CampaignStatusEnum.CampaignStatus[r.status]
            ),
            "segments.date": lambda: setattr(row.segments, "date", r.day.isoformat()),
            "metrics.cost_micros": lambda: setattr(row.metrics, "cost_micros", r.cost_micros),
            "metrics.impressions": lambda: setattr(row.metrics, "impressions", r.impressions),
            "metrics.clicks": lambda: setattr(row.metrics, "clicks", r.clicks),
            "metrics.conversions": lambda: setattr(row.metrics, "conversions", r.conversions),
        }
        for name in fields:
            setters[name]()
        return row

    @staticmethod
    def _query_error(code: str, message: str) -> _Abort:
        return _Abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            "Request contains an invalid argument.",
            _failure(ErrorCode(query_error=QueryErrorEnum.QueryError[code]), message),
        )

    @classmethod
    def _fault_error(cls, fault: Fault) -> _Abort:
        if fault.kind == "quota":
            delay = fault.retry_delay_seconds if fault.retry_delay_seconds is not None else 30.0
            details = ErrorDetails(
                quota_error_details=QuotaErrorDetails(
                    rate_scope=QuotaErrorDetails.QuotaRateScope.ACCOUNT,
                    rate_name="Requests per service per method",
                    retry_delay=_duration(delay),
                )
            )
            return _Abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "Resource has been exhausted (e.g. check quota).",
                _failure(
                    ErrorCode(quota_error=QuotaErrorEnum.QuotaError.RESOURCE_TEMPORARILY_EXHAUSTED),
                    fault.message or f"Too many requests. Retry in {delay:g} seconds.",
                    details,
                ),
            )
        if fault.kind == "unavailable":
            return _Abort(
                grpc.StatusCode.UNAVAILABLE, fault.message or "The service is currently unavailable.", None
            )
        if fault.kind == "internal":
            return _Abort(
                grpc.StatusCode.INTERNAL,
                "Internal error encountered.",
                _failure(
                    ErrorCode(internal_error=InternalErrorEnum.InternalError.INTERNAL_ERROR),
                    fault.message or "An internal error has occurred.",
                ),
            )
        if fault.kind == "auth":
            code = AuthenticationErrorEnum.AuthenticationError[fault.code or "CUSTOMER_NOT_FOUND"]
            return _Abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "Request is missing required authentication credential.",
                _failure(
                    ErrorCode(authentication_error=code),
                    fault.message or "No customer found for the provided customer id.",
                ),
            )
        if fault.kind == "bad_query":
            return cls._query_error(
                fault.code or "UNRECOGNIZED_FIELD", fault.message or "Unrecognized field in the query."
            )
        raise ValueError(f"fault kind {fault.kind!r} does not abort")

    @staticmethod
    def _abort(context: grpc.ServicerContext, err: _Abort, request_id: str) -> None:
        trailers: list[tuple[str, str | bytes]] = [("request-id", request_id)]
        if err.failure is not None:
            trailers.append((FAILURE_METADATA_KEY, GoogleAdsFailure.serialize(err.failure)))
        context.set_trailing_metadata(tuple(trailers))
        context.abort(err.code, err.details)


def check_grpc_trusts(endpoint: str, timeout: float = 5.0) -> None:
    """Fail clearly if this process's gRPC does not trust the fake's certificate.

    gRPC caches its default roots at the first TLS handshake in the process, so a test that ran a secure
    channel before GRPC_DEFAULT_SSL_ROOTS_FILE_PATH was exported would otherwise surface much later as an
    UNAVAILABLE "Tls handshake failed" that the connector retries.
    """
    with grpc.secure_channel(endpoint, grpc.ssl_channel_credentials()) as channel:
        probe = channel.unary_unary("/fake.Probe/Ping")
        try:
            probe(b"", timeout=timeout)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:  # TLS worked, the method just doesn't exist
                return
            raise RuntimeError(
                f"gRPC in this process does not trust the fake server's certificate ({err.code()}: "
                f"{err.details()}). GRPC_DEFAULT_SSL_ROOTS_FILE_PATH is read once per process at the first "
                "TLS handshake; export it before any secure gRPC connection (session-scoped fixture) or run "
                "these tests in their own process."
            ) from err


# ---------------------------------------------------------------------------------------------------------
# OAuth token endpoint
# ---------------------------------------------------------------------------------------------------------


class _TLSThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], ctx: ssl.SSLContext):
        super().__init__(address, handler)
        self._ctx = ctx

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        # Handshake lazily in the handler thread, so one stalled client cannot block accept().
        return self._ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class FakeOAuthServer:
    """HTTPS `POST /token` answering refresh-token and JWT-bearer grants, recording each form body.

    `token_uri` is what GOOGLE_ADS_TOKEN_URI would hold. Set `error` to e.g.
    `(400, {"error": "invalid_grant", "error_description": "Bad Request"})` to refuse grants.
    """

    def __init__(
        self,
        cert_path: str | Path,
        key_path: str | Path,
        *,
        access_token: str = "fake-access-token",
        expires_in: int = 3600,
    ) -> None:
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(cert_path), str(key_path))
        self.access_token = access_token
        self.expires_in = expires_in
        self.error: tuple[int, dict[str, str]] | None = None
        self.requests: list[dict[str, str]] = []
        self._httpd: _TLSThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeOAuthServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                owner.requests.append(form)
                if self.path.split("?")[0] != "/token":
                    self._reply(404, {"error": "not_found"})
                elif owner.error is not None:
                    self._reply(*owner.error)
                elif form.get("grant_type") not in (
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer",
                ):
                    self._reply(400, {"error": "unsupported_grant_type"})
                else:
                    self._reply(
                        200,
                        {
                            "access_token": owner.access_token,
                            "expires_in": owner.expires_in,
                            "token_type": "Bearer",
                        },
                    )

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self._httpd = _TLSThreadingHTTPServer(("127.0.0.1", 0), Handler, self._ctx)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-oauth", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOAuthServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def token_uri(self) -> str:
        assert self._httpd is not None, "start() first"
        return f"https://localhost:{self._httpd.server_address[1]}/token"
