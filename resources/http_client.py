"""Shared HTTP plumbing for API connectors: one pooled session, timeouts, bounded retries, scrubbed errors."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import tenacity

logger = logging.getLogger("mpulse.http")

REDACTED = "***"
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "marketing-pulse"

# Secret-shaped text that can surface in errors even when the exact secret is not known to the caller:
# bearer tokens, a Bitrix24 webhook token in /rest/<user>/<token>/, and token-like query parameters.
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    re.compile(r"(/rest/\d+/)[^/\s?#'\"]+"),
    re.compile(r"(?i)((?:access_token|refresh_token|client_secret|auth|token)=)[^&\s'\"]+"),
)
# urllib3 quotes the request target ("with url: /path?query"); queries may hold filter values.
_QUERY_IN_URL = re.compile(r"(url: [^?\s]*)\?[^\s)]*")


def scrub_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secrets (raw and URL-encoded) and secret-shaped substrings from text.

    Error messages of requests/urllib3 quote the full URL, and a Bitrix24 webhook carries its token in the
    path, so every message that leaves this module goes through here.
    """
    known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for secret in known:
        for variant in {secret, quote(secret, safe=""), quote(secret, safe="/:")}:
            text = text.replace(variant, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class _ScrubLogFilter(logging.Filter):
    """Scrubs registered secrets from urllib3's DEBUG lines, which print request paths verbatim."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: Counter[str] = Counter()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)

    def remove(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.subtract(s for s in secrets if s)
            self._secrets = +self._secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_secrets(message, list(self._secrets))
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_LOG_FILTER = _ScrubLogFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "mpulse.http"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


def email_hash(email: str | None, salt: str) -> str | None:
    """Keyed (HMAC-SHA256) hash of the trimmed, lower-cased email: joinable across sources, not reversible.

    Every connector must use this one function so that hashes from different CRMs match.
    """
    if not email or not email.strip():
        return None
    if not salt:
        raise ValueError("email hashing needs a non-empty salt")
    return hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or HTTP date) into seconds to wait."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ApiError(RuntimeError):
    """An API call failed; the message is already free of secrets and safe to log or show."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry; `slow_statuses` (amoCRM's 403 IP ban) get a longer, separately bounded backoff."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 120.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_codes: frozenset[str] = frozenset()
    slow_statuses: frozenset[int] = frozenset()
    slow_backoff_seconds: float = 60.0
    slow_max_attempts: int = 3


ErrorParser = Callable[[Any], tuple[str | None, str | None]]


def _no_error_details(_body: Any) -> tuple[str | None, str | None]:
    return None, None


class HttpClient:
    """A requests.Session bound to one API: default timeouts, tenacity retries, secret-free errors.

    Retries cover connection errors, timeouts, `policy.retry_statuses` (honouring Retry-After) and
    body-level error codes in `policy.retry_codes`. It also remembers the server clock of its first
    response (`server_time`), which connectors use to cap their incremental cursors.
    """

    def __init__(
        self,
        *,
        name: str,
        secrets: Iterable[str | None] = (),
        policy: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        headers: Mapping[str, str] | None = None,
        error_parser: ErrorParser = _no_error_details,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.policy = policy or RetryPolicy()
        self.timeout = (min(10.0, timeout_seconds), timeout_seconds)
        self.server_time: datetime | None = None
        self._secrets = [s for s in secrets if s]
        self._error_parser = error_parser
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._session.headers.update(dict(headers or {}))
        _LOG_FILTER.add(self._secrets)

    def close(self) -> None:
        self._session.close()
        _LOG_FILTER.remove(self._secrets)

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def scrub(self, text: str) -> str:
        return scrub_secrets(text, self._secrets)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        validate: Callable[[requests.Response], None] | None = None,
    ) -> requests.Response:
        """Send one request with retries; returns a 2xx response or raises ApiError.

        `validate` runs inside each attempt, so it may raise a retryable ApiError for errors that an API
        reports in a 200 body (e.g. a Bitrix24 batch whose sub-command hit the rate limit).
        """
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, ApiError) and e.retryable),
            stop=self._stop,
            wait=self._wait,
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._send_once, method, url, params, json_body, validate)

    def get_json(self, url: str, *, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        """GET and decode JSON; an empty body (HTTP 204) decodes to None."""
        return self.decode_json(self.request("GET", url, params=params))

    def decode_json(self, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                f"{self.name}: response from {self._where(response.url)} is not JSON",
                status=response.status_code,
            ) from None

    def _send_once(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        json_body: Any,
        validate: Callable[[requests.Response], None] | None,
    ) -> requests.Response:
        failure: ApiError | None = None
        try:
            response = self._session.request(method, url, params=params, json=json_body, timeout=self.timeout)
        except requests.RequestException as exc:
            # Built outside the except block below so no chained exception keeps the raw (secret) text.
            transient = isinstance(
                exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
            )
            detail = _QUERY_IN_URL.sub(r"\1", str(exc))
            failure = ApiError(
                self.scrub(
                    f"{self.name}: {method} {self._where(url)} failed: {type(exc).__name__}: {detail}"
                ),
                retryable=transient,
            )
        if failure is not None:
            raise failure
        if self.server_time is None:
            self.server_time = _parse_http_date(response.headers.get("Date"))
        if response.status_code >= 400:
            raise self._http_error(method, response)
        if validate is not None:
            validate(response)
        return response

    def _http_error(self, method: str, response: requests.Response) -> ApiError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:300]
        code, detail = self._error_parser(body) if not isinstance(body, str) else (None, body)
        policy = self.policy
        retryable = status in policy.retry_statuses or status in policy.slow_statuses
        retryable = retryable or (code is not None and code in policy.retry_codes)
        text = f"{self.name}: {method} {self._where(response.url)} -> HTTP {status}"
        if code:
            text += f" {code}"
        if detail:
            text += f": {str(detail)[:300]}"
        return ApiError(
            self.scrub(text),
            status=status,
            code=code,
            retryable=retryable,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )

    def _where(self, url: str) -> str:
        """Host and path only: query strings may carry filters with personal data or tokens."""
        parts = urlsplit(url)
        return self.scrub(f"{parts.netloc}{parts.path}")

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ApiError) and exc.status in self.policy.slow_statuses:
            return state.attempt_number >= self.policy.slow_max_attempts
        return state.attempt_number >= self.policy.max_attempts

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        policy = self.policy
        step = 2 ** (state.attempt_number - 1)
        hinted = exc.retry_after if isinstance(exc, ApiError) and exc.retry_after is not None else 0.0
        if isinstance(exc, ApiError) and exc.status in policy.slow_statuses:
            return max(hinted, policy.slow_backoff_seconds * step)
        return min(max(hinted, policy.backoff_seconds * step), policy.max_backoff_seconds)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning("%s (attempt %d); retrying in %.1fs", self.scrub(str(exc)), state.attempt_number, wait)


def _parse_http_date(value: str | None) -> datetime | None:
    """The server's clock as naive UTC, from an HTTP Date header."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
