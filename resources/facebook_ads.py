"""Meta (Facebook) Marketing API connector: daily campaign spend, delivery and lead actions per ad account.

Talks to the Graph API through the official facebook_business SDK (imported lazily, so importing this
module stays cheap for Dagster's code server). Long ranges use async report runs; ranges Meta cannot
compute are halved until they fit; throttling honours Meta's own "time to regain access".
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, quote_plus

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

from resources.ad_rows import AD_ROW_COLUMNS, AccountFailure, AdFetchResult
from resources.errors import ConfigError, InputError, MpulseError, SourceError

if TYPE_CHECKING:
    from facebook_business.adobjects.adreportrun import AdReportRun
    from facebook_business.api import Cursor, FacebookAdsApi
    from tenacity import RetryCallState

T = TypeVar("T")

DEFAULT_LEAD_ACTION_TYPES: tuple[str, ...] = (
    "lead",
    "onsite_conversion.lead_grouped",
    "offsite_conversion.fb_pixel_lead",
)
INSIGHTS_FIELDS: tuple[str, ...] = (
    "campaign_id",
    "campaign_name",
    "spend",
    "impressions",
    "clicks",
    "actions",
    "account_currency",
    "date_start",
    "date_stop",
)
# Graph throttling: 4 app, 17 user, 32 pages, 613 ad account, 80000-80014 business use case (BUC).
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# "Please reduce the amount of data": retrying the same range cannot help, a smaller one can.
INSIGHTS_TIMEOUTS = frozenset({(100, 1504018), (2, 1504038)})
# Graph codes 1 (API Unknown) and 2 (API Service) are documented as "temporary, wait and retry".
TRANSIENT_CODES = frozenset({1, 2})
JOB_COMPLETED = "Job Completed"
JOB_FAILED = frozenset({"Job Failed", "Job Skipped"})
RATE_LIMIT_FALLBACK_SECONDS = 60.0  # first wait when Meta gives no estimate; throttling lasts minutes

_SECRET_PARAM = re.compile(r"((?:access_token|appsecret_proof)=)[^&\s'\"]+")


class FacebookGraphError(SourceError):
    """A Graph API call failed for good (not retryable, or retries exhausted); the message is token-free."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status


class _RangeTooLarge(Exception):
    """Meta could not compute this date range (job failed, timed out, insights timeout): split it."""


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove access tokens (raw, URL-encoded, or as a query value) from text headed for logs or errors."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
    return _SECRET_PARAM.sub(r"\1***", text)


class _RedactQueryTokens(logging.Filter):
    """urllib3 logs full request URLs at DEBUG, and Graph URLs carry access_token; redact it there."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "access_token=" in message or "appsecret_proof=" in message:
            record.msg, record.args = _scrub(message, ()), None
        return True


def _install_log_redaction() -> None:
    """Idempotently attach the redaction filter to the loggers that print request URLs."""
    for name in ("urllib3.connectionpool", "requests.packages.urllib3.connectionpool"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactQueryTokens) for f in target.filters):
            target.addFilter(_RedactQueryTokens())


def normalize_account_id(account_id: str | int) -> str:
    """'act_123' or '123' -> '123' (the shared row shape stores digits only)."""
    value = str(account_id).strip().removeprefix("act_")
    if not value.isdigit():
        raise ConfigError(f"{account_id!r} is not a Meta ad account id like act_1234567890")
    return value


def _split(since: date, until: date) -> tuple[tuple[date, date], tuple[date, date]]:
    mid = since + timedelta(days=(until - since).days // 2)
    return (since, mid), (mid + timedelta(days=1), until)


def _regain_access_seconds(headers: Any) -> float | None:
    """Largest estimated_time_to_regain_access (minutes) in x-business-use-case-usage, as seconds."""
    raw = headers.get("x-business-use-case-usage") if headers is not None else None
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in entries
            if isinstance(entry, dict)
        ]
    except (TypeError, ValueError, AttributeError):
        return None
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def _graph_error_fields(exc: Any) -> tuple[int | None, int | None, str | None]:
    """(code, subcode, fbtrace_id) of a FacebookRequestError; the trace id may only be in a header."""
    body = exc.body()
    error = body.get("error") if isinstance(body, dict) else None
    trace = error.get("fbtrace_id") if isinstance(error, dict) else None
    headers = exc.http_headers()
    if not trace and headers is not None:
        trace = headers.get("x-fb-trace-id")
    return exc.api_error_code(), exc.api_error_subcode(), trace


def _is_rate_limit(exc: BaseException) -> bool:
    from facebook_business.exceptions import FacebookRequestError

    return isinstance(exc, FacebookRequestError) and (
        exc.api_error_code() in RATE_LIMIT_CODES or exc.http_status() == 429
    )


def _is_range_too_large(exc: BaseException) -> bool:
    from facebook_business.exceptions import FacebookRequestError

    if not isinstance(exc, FacebookRequestError):
        return False
    if (exc.api_error_code(), exc.api_error_subcode()) in INSIGHTS_TIMEOUTS:
        return True
    message = (exc.api_error_message() or "").lower()
    return exc.api_error_code() == 1 and "reduce the amount of data" in message


def _is_transient(exc: BaseException) -> bool:
    import requests
    from facebook_business.exceptions import FacebookRequestError

    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    ):
        return True
    if not isinstance(exc, FacebookRequestError) or _is_range_too_large(exc):
        return False
    status = exc.http_status() or 0
    body = exc.body()
    unavailable = isinstance(body, str) and "Service Unavailable" in body
    return (
        bool(exc.api_transient_error())
        or status >= 500
        or exc.api_error_code() in TRANSIENT_CODES
        or unavailable
    )


def _should_retry(exc: BaseException) -> bool:
    return _is_rate_limit(exc) or _is_transient(exc)


def _as_decimal(value: Any, name: str, where: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise InputError(f"{where}: {name} {value!r} is not a number")
    return number


def _as_int(value: Any, name: str, where: str) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise InputError(f"{where}: {name} {value!r} is not a whole number")
    return int(text)


def lead_count(actions: Any, lead_action_types: Sequence[str], where: str = "insights row") -> float:
    """Value of the FIRST configured lead action type present; never a sum ('lead' includes the others)."""
    by_type: dict[str, Any] = {}
    for action in actions or ():
        if isinstance(action, dict) and "action_type" in action:
            by_type.setdefault(str(action["action_type"]), action.get("value"))
    for action_type in lead_action_types:
        if action_type in by_type:
            return float(_as_decimal(by_type[action_type], f"actions[{action_type}]", where))
    return 0.0


def parse_insights_row(
    raw: Any, account_id: str, lead_action_types: Sequence[str], api_version: str, fetched_at: datetime
) -> dict[str, Any]:
    """One Graph campaign-day row -> the shared ad row; exact types, clear errors for broken payloads."""
    data = raw.export_all_data() if hasattr(raw, "export_all_data") else raw
    where = f"Meta insights for act_{account_id}"
    if not isinstance(data, dict):
        raise InputError(f"{where}: malformed row {str(data)[:200]!r}")
    for required in ("campaign_id", "date_start", "account_currency"):
        if not data.get(required):
            raise InputError(f"{where}: row lacks {required}: {json.dumps(data, default=str)[:300]}")
    where = f"{where}, campaign {data['campaign_id']} on {data['date_start']}"
    try:
        day = date.fromisoformat(str(data["date_start"]))
    except ValueError:
        raise InputError(f"{where}: date_start is not a YYYY-MM-DD date") from None
    if data.get("date_stop") not in (None, data["date_start"]):
        raise InputError(f"{where}: row spans {data['date_start']}..{data['date_stop']}, expected one day")
    return {
        "date": day,
        "account_id": account_id,
        "campaign_id": str(data["campaign_id"]),
        "campaign_name": data.get("campaign_name"),
        "campaign_status": None,  # insights carry no status; the campaigns edge would cost another call
        "currency": str(data["account_currency"]).upper(),
        # Graph omits metrics it has nothing for; absent means zero, present must parse exactly.
        "spend": _as_decimal(data.get("spend", "0"), "spend", where),
        "impressions": _as_int(data.get("impressions", "0"), "impressions", where),
        "clicks": _as_int(data.get("clicks", "0"), "clicks", where),
        "platform_leads": lead_count(data.get("actions"), lead_action_types, where),
        "api_version": api_version,
        "fetched_at": fetched_at,
    }


class FacebookAdsResource(dg.ConfigurableResource):
    """Daily campaign insights from the Meta Marketing API for a set of ad accounts."""

    access_token: str | None = None
    graph_url: str | None = None
    api_version: str = "v26.0"
    async_threshold_days: int = 7
    job_timeout_seconds: float = 600
    poll_interval_seconds: float = 5
    max_attempts: int = 6
    max_backoff_seconds: float = 300
    page_limit: int = 500
    request_timeout_seconds: float = 300

    # Injectable for tests: waits are recorded instead of slept, and the job deadline follows them.
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _clock: Callable[[], float] = PrivateAttr(default=time.monotonic)

    def is_configured(self) -> bool:
        """Whether a token is set; without one the connector is off (interface.md)."""
        return bool(self.access_token and self.access_token.strip())

    def fetch_campaign_days(
        self,
        ad_account_ids: Sequence[str],
        start: date,
        end: date,
        lead_action_types: Sequence[str] = DEFAULT_LEAD_ACTION_TYPES,
    ) -> AdFetchResult:
        """Campaign-day rows for [start, end] per account; an account that fails is reported, not fatal."""
        if not self.is_configured():
            raise ConfigError("FACEBOOK_ACCESS_TOKEN is not set, so the Meta Ads connector is off")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        account_ids = list(dict.fromkeys(normalize_account_id(a) for a in ad_account_ids))
        lead_types = tuple(lead_action_types)
        fetched_at = datetime.now(UTC).replace(tzinfo=None)
        log = dg.get_dagster_logger("facebook_ads")
        _install_log_redaction()

        api = self._new_api()
        rows: list[dict[str, Any]] = []
        failures: list[AccountFailure] = []
        try:
            for account_id in account_ids:
                try:
                    raw = self._fetch_range(api, account_id, start, end)
                    parsed = [
                        parse_insights_row(r, account_id, lead_types, self.api_version, fetched_at)
                        for r in raw
                    ]
                except Exception as exc:  # one account's failure must not hide the others' rows
                    text = str(exc) if isinstance(exc, MpulseError) else f"{type(exc).__name__}: {exc}"
                    message = self._scrub(text)
                    log.warning("Meta Ads act_%s failed: %s", account_id, message)
                    failures.append(AccountFailure(account_id=account_id, message=message))
                else:
                    log.info(
                        "Meta Ads act_%s: %d campaign-day rows %s..%s", account_id, len(parsed), start, end
                    )
                    rows.extend(parsed)
        finally:
            api._session.requests.close()

        frame = pd.DataFrame(rows, columns=list(AD_ROW_COLUMNS)) if rows else AdFetchResult.empty_rows()
        return AdFetchResult(rows=frame, failures=tuple(failures))

    # ---- Graph plumbing --------------------------------------------------------------------------

    def _new_api(self) -> FacebookAdsApi:
        """A private API object: FacebookAdsApi.init would also replace the process-wide default API
        and could hook the crash reporter, so build what init builds without those side effects."""
        from facebook_business.api import FacebookAdsApi
        from facebook_business.session import FacebookSession

        session = FacebookSession(access_token=self.access_token, timeout=self.request_timeout_seconds)
        api = FacebookAdsApi(session, api_version=self.api_version)
        if self.graph_url:
            session.GRAPH = self.graph_url.rstrip("/")
            # The SDK pins Meta's CA bundle; a proxy or test server needs the normal trust store
            # (requests still honours REQUESTS_CA_BUNDLE).
            session.requests.verify = True
        return api

    def _scrub(self, text: str) -> str:
        return _scrub(text, (self.access_token,))

    def _wait_seconds(self, state: RetryCallState) -> float:
        """Meta's estimate when throttled, else exponential; never longer than max_backoff_seconds."""
        exc = state.outcome.exception() if state.outcome else None
        attempt = max(1, state.attempt_number)
        if exc is not None and _is_rate_limit(exc):
            estimate = _regain_access_seconds(exc.http_headers())  # type: ignore[attr-defined]
            wait = estimate if estimate is not None else RATE_LIMIT_FALLBACK_SECONDS * 2 ** (attempt - 1)
        else:
            wait = 2.0 ** (attempt - 1)
        return min(wait, self.max_backoff_seconds)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one Graph request with retries; failures leave as token-free errors without chained context."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt

        log = dg.get_dagster_logger("facebook_ads")

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            kind = "rate limited" if exc is not None and _is_rate_limit(exc) else "transient error"
            log.warning(
                "Meta Graph %s on %s (attempt %d/%d): %s; retrying in %.0f s",
                kind,
                what,
                state.attempt_number,
                self.max_attempts,
                self._describe(exc)[0] if exc is not None else "",
                wait,
            )

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.max_attempts)),
            retry=retry_if_exception(_should_retry),
            wait=self._wait_seconds,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        failure: Exception
        try:
            return retrying(fn)
        except Exception as exc:
            if _is_range_too_large(exc):
                failure = _RangeTooLarge(self._describe(exc)[0])
            else:
                message, fields = self._describe(exc)
                attempts = retrying.statistics.get("attempt_number", 1)
                suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                failure = FacebookGraphError(f"Meta Graph API error on {what}: {message}{suffix}", **fields)
        raise failure  # raised outside the except block so no token-bearing exception rides along

    def _describe(self, exc: BaseException) -> tuple[str, dict[str, Any]]:
        """A readable, token-free description and the structured Graph fields of an exception."""
        from facebook_business.exceptions import FacebookRequestError

        if isinstance(exc, FacebookRequestError):
            code, subcode, trace = _graph_error_fields(exc)
            text = exc.api_error_message() or str(exc.body())[:300] or exc.get_message()
            details = f"code {code}, subcode {subcode}, type {exc.api_error_type()}, HTTP {exc.http_status()}"
            message = f"{text} ({details}, fbtrace_id {trace})"
            fields = {"code": code, "subcode": subcode, "fbtrace_id": trace, "http_status": exc.http_status()}
            return self._scrub(message), fields
        import requests

        if isinstance(exc, requests.RequestException):
            return self._scrub(f"{type(exc).__name__}: {exc}"), {}
        # The SDK fails with TypeError/KeyError/... on bodies that are not the JSON it expects.
        return self._scrub(f"malformed response ({type(exc).__name__}: {exc})"), {}

    def _insights_params(self, since: date, until: date) -> dict[str, Any]:
        return {
            "level": "campaign",
            "time_increment": 1,
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
        }

    def _drain(self, what: str, cursor: Cursor) -> list[Any]:
        """Every row behind an SDK cursor; each further page is its own retried request."""
        out: list[Any] = []
        while True:
            while len(cursor):
                out.append(next(cursor))
            if not self._call(what, cursor.load_next_page):
                return out

    def _fetch_range(self, api: FacebookAdsApi, account_id: str, since: date, until: date) -> list[Any]:
        """Rows for the range, halving it (down to single days) whenever Meta cannot compute it whole."""
        days = (until - since).days + 1
        try:
            if days > self.async_threshold_days:
                return self._fetch_async(api, account_id, since, until)
            return self._fetch_sync(api, account_id, since, until)
        except _RangeTooLarge as exc:
            reason = str(exc)
        span = f"act_{account_id} {since}..{until}"
        if days == 1:
            raise FacebookGraphError(f"Meta could not compute insights for {span}: {reason}")
        dg.get_dagster_logger("facebook_ads").info(
            "Meta insights for %s: %s; splitting the range", span, reason
        )
        first, second = _split(since, until)
        return self._fetch_range(api, account_id, *first) + self._fetch_range(api, account_id, *second)

    def _fetch_sync(self, api: FacebookAdsApi, account_id: str, since: date, until: date) -> list[Any]:
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(f"act_{account_id}", api=api)
        params = {**self._insights_params(since, until), "limit": self.page_limit}
        what = f"insights of act_{account_id} {since}..{until}"
        cursor = self._call(
            what, lambda: account.get_insights(fields=list(INSIGHTS_FIELDS), params=dict(params))
        )
        return self._drain(what, cursor)

    def _fetch_async(self, api: FacebookAdsApi, account_id: str, since: date, until: date) -> list[Any]:
        from facebook_business.adobjects.adaccount import AdAccount

        account = AdAccount(f"act_{account_id}", api=api)
        what = f"async insights of act_{account_id} {since}..{until}"
        job: AdReportRun = self._call(
            what,
            lambda: account.get_insights(
                fields=list(INSIGHTS_FIELDS), params=self._insights_params(since, until), is_async=True
            ),
        )
        self._wait_for_job(what, job)
        cursor = self._call(what, lambda: job.get_result(params={"limit": self.page_limit}))
        return self._drain(what, cursor)

    def _wait_for_job(self, what: str, job: AdReportRun) -> None:
        """Poll the report run until it completes; a failed or overdue job means the range must shrink."""
        from facebook_business.adobjects.adreportrun import AdReportRun

        deadline = self._clock() + self.job_timeout_seconds
        while True:
            self._call(what, job.api_get)
            status = job.get(AdReportRun.Field.async_status)
            percent = job.get(AdReportRun.Field.async_percent_completion)
            if status == JOB_COMPLETED and percent in (None, 100):
                return
            if status in JOB_FAILED:
                detail = job.get(AdReportRun.Field.error_message) or job.get(AdReportRun.Field.error_user_msg)
                raise _RangeTooLarge(
                    f"report run {job.get_id()} ended with '{status}'" + (f": {detail}" if detail else "")
                )
            if self._clock() >= deadline:
                waited = f"{self.job_timeout_seconds:.0f} s"
                raise _RangeTooLarge(
                    f"report run {job.get_id()} still '{status}' ({percent}%) after {waited}"
                )
            self._sleep(self.poll_interval_seconds)
