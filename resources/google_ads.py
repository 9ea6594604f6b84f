"""Google Ads connector: daily campaign spend, clicks and conversions per customer, via GAQL SearchStream.

google-ads, google-auth, grpc and tenacity belong to the optional `connectors` extra and are heavy to import
(the v26 service modules take seconds), so they are imported inside the methods that need them. A
file-only deployment can import this module and see `is_configured() == False`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from resources.ad_rows import AD_ROW_COLUMNS, AccountFailure, AdFetchResult

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

# google-auth's own default token endpoint, used unless GOOGLE_ADS_TOKEN_URI overrides it (proxies, tests).
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
ADWORDS_SCOPE = "https://www.googleapis.com/auth/adwords"

# Resource field -> environment variable (shared/spec/interface.md).
ENV_VARS: dict[str, str] = {
    "developer_token": "GOOGLE_ADS_DEVELOPER_TOKEN",
    "client_id": "GOOGLE_ADS_CLIENT_ID",
    "client_secret": "GOOGLE_ADS_CLIENT_SECRET",
    "refresh_token": "GOOGLE_ADS_REFRESH_TOKEN",
    "json_key_file_path": "GOOGLE_ADS_JSON_KEY_FILE_PATH",
    "impersonated_email": "GOOGLE_ADS_IMPERSONATED_EMAIL",
    "login_customer_id": "GOOGLE_ADS_LOGIN_CUSTOMER_ID",
    "endpoint": "GOOGLE_ADS_ENDPOINT",
    "token_uri": "GOOGLE_ADS_TOKEN_URI",
}
SECRET_FIELDS: tuple[str, ...] = ("developer_token", "client_secret", "refresh_token")

_RETRYABLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"})
# Quota errors that waiting a little does not cure (access revoked, 24 h budget of expensive queries spent).
_HOPELESS_QUOTA_ERRORS = frozenset({"ACCESS_PROHIBITED", "EXCESSIVE_LONG_TERM_QUERY_RESOURCE_CONSUMPTION"})
_BACKOFF_BASE_SECONDS = 1.0
_CUSTOMER_ID_RE = re.compile(r"^\d{10}$")
_MIN_REDACT_LEN = 4  # never "redact" one-letter placeholder values all over a message

_GAQL = """
SELECT customer.currency_code, campaign.id, campaign.name, campaign.status, segments.date,
       metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions
FROM campaign
WHERE segments.date BETWEEN '{start}' AND '{end}'
""".strip()


class GoogleAdsFetchError(RuntimeError):
    """A failure that would hit every account alike (bad query, refused credentials): not retried.

    The message names the status, the Google Ads error codes and messages, and the request id; it never
    contains secrets.
    """

    def __init__(
        self,
        message: str,
        *,
        account_id: str | None = None,
        status: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.account_id = account_id
        self.status = status
        self.request_id = request_id


@dataclass(frozen=True)
class _ApiError:
    """What matters about one failed call, independent of which layer raised it."""

    status: str  # gRPC status name, e.g. "RESOURCE_EXHAUSTED"
    codes: tuple[str, ...]  # e.g. ("quota_error.RESOURCE_TEMPORARILY_EXHAUSTED",)
    messages: tuple[str, ...]
    request_id: str | None
    retry_delay: float | None  # seconds the server asked us to wait, if it said

    @property
    def is_query_error(self) -> bool:
        return any(c.startswith("query_error.") for c in self.codes)

    @property
    def retryable(self) -> bool:
        if self.status not in _RETRYABLE_STATUSES:
            return False
        return not any(c.removeprefix("quota_error.") in _HOPELESS_QUOTA_ERRORS for c in self.codes)

    def describe(self) -> str:
        parts = [self.status]
        details = [f"{c}: {m}" for c, m in zip(self.codes, self.messages, strict=False)]
        details += list(self.messages[len(self.codes) :])
        if details:
            parts.append("; ".join(details))
        text = " ".join(parts)
        return f"{text} (request_id {self.request_id})" if self.request_id else text


class _GiveUp(Exception):
    """Internal: a retryable error whose server-requested delay exceeds what we are willing to wait."""

    def __init__(self, error: _ApiError, delay: float) -> None:
        super().__init__(error.describe())
        self.error = error
        self.delay = delay


class GoogleAdsResource(dg.ConfigurableResource):
    """Reads campaign x day performance for one or more Google Ads customers.

    Credentials are either OAuth (client_id + client_secret + refresh_token) or a service account key file
    (json_key_file_path, optionally impersonating a user). Build it with `GoogleAdsResource.from_env()` in
    Definitions: dg.EnvVar of an unset variable makes the whole run's config invalid, while "secrets absent"
    must simply switch the connector off.
    """

    developer_token: str | None = Field(default=None, description="GOOGLE_ADS_DEVELOPER_TOKEN (secret)")
    client_id: str | None = Field(default=None, description="OAuth client id (GOOGLE_ADS_CLIENT_ID)")
    client_secret: str | None = Field(default=None, description="GOOGLE_ADS_CLIENT_SECRET (secret)")
    refresh_token: str | None = Field(default=None, description="GOOGLE_ADS_REFRESH_TOKEN (secret)")
    json_key_file_path: str | None = Field(
        default=None, description="Service-account key file instead of OAuth"
    )
    impersonated_email: str | None = Field(default=None, description="User the service account acts as")
    login_customer_id: str | None = Field(
        default=None, description="Manager (MCC) customer id, 10 digits; dashes are stripped"
    )
    endpoint: str | None = Field(default=None, description="host:port overriding googleads.googleapis.com")
    token_uri: str | None = Field(default=None, description="OAuth token endpoint override")
    api_version: str = Field(default="v26", description="Google Ads API version of the google-ads package")
    max_attempts: int = Field(default=5, ge=1, description="Attempts per customer for transient errors")
    max_retry_delay_seconds: float = Field(
        default=120, ge=0, description="Longest single wait; a server asking for more is not retried"
    )
    timeout_seconds: float = Field(default=300, gt=0, description="Deadline of one SearchStream call")

    # Tests replace this to record waits instead of sleeping; not config, so not a field.
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GoogleAdsResource:
        """A resource whose set GOOGLE_ADS_* variables are passed as dg.EnvVar (values stay out of the UI)."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {
            name: dg.EnvVar(var) for name, var in ENV_VARS.items() if (env.get(var) or "").strip()
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr_args__(self) -> Any:
        # pydantic's repr would print secrets, e.g. when a resource lands in a log line or a traceback.
        for name, value in super().__repr_args__():
            yield name, ("***" if name in SECRET_FIELDS and value else value)

    # -- public API --------------------------------------------------------------------------------------
    def is_configured(self) -> bool:
        """True when a developer token plus OAuth or service-account credentials are present."""
        oauth = all(_present(v) for v in (self.client_id, self.client_secret, self.refresh_token))
        return _present(self.developer_token) and (oauth or _present(self.json_key_file_path))

    def fetch_campaign_days(self, customer_ids: Sequence[str], start: dt.date, end: dt.date) -> AdFetchResult:
        """Campaign x day rows for each customer in [start, end] (account time zone and currency).

        A customer that fails (no access, retries exhausted) becomes an AccountFailure and does not hide the
        others' rows. Errors that would fail for every customer (bad query, refused credentials) raise
        GoogleAdsFetchError at once.
        """
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        if not self.is_configured():
            raise GoogleAdsFetchError("Google Ads is not configured (developer token and credentials needed)")
        accounts = list(dict.fromkeys(_customer_id(c) for c in customer_ids))
        if not accounts:
            return AdFetchResult(rows=AdFetchResult.empty_rows())
        login_customer_id = _login_customer_id(self.login_customer_id)
        _require_connector_packages()

        credentials = self._credentials()
        self._refresh(credentials)
        service = self._service(credentials, login_customer_id)
        query = _GAQL.format(start=start.isoformat(), end=end.isoformat())
        fetched_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        log = dg.get_dagster_logger(__name__)

        records: list[tuple[Any, ...]] = []
        failures: list[AccountFailure] = []
        try:
            for account in accounts:
                try:
                    rows = self._with_retry(
                        account, lambda a=account: self._stream(service, a, query, fetched_at)
                    )
                except _GiveUp as give_up:
                    message = self._redact(
                        f"Google Ads customer {account}: server asked to retry in {give_up.delay:g}s, more "
                        f"than max_retry_delay_seconds={self.max_retry_delay_seconds:g}: "
                        f"{give_up.error.describe()}"
                    )
                    log.warning(message)
                    failures.append(AccountFailure(account, message))
                    continue
                except Exception as exc:
                    error = _api_error(exc, self.api_version)
                    if error is None:
                        raise
                    message = self._redact(f"Google Ads customer {account}: {error.describe()}")
                    if error.is_query_error:
                        raise GoogleAdsFetchError(
                            message, account_id=account, status=error.status, request_id=error.request_id
                        ) from None
                    if error.retryable:
                        message = f"{message} (gave up after {self.max_attempts} attempts)"
                    log.warning(message)
                    failures.append(AccountFailure(account, message))
                    continue
                log.info(f"Google Ads customer {account}: {len(rows)} campaign-day rows {start}..{end}")
                records.extend(rows)
        finally:
            service.transport.close()

        if records:
            frame = pd.DataFrame.from_records(records, columns=list(AD_ROW_COLUMNS))
            frame = frame.sort_values(["account_id", "date", "campaign_id"], kind="stable", ignore_index=True)
        else:
            frame = AdFetchResult.empty_rows()
        return AdFetchResult(rows=frame, failures=tuple(failures))

    # -- internals ---------------------------------------------------------------------------------------
    def _credentials(self) -> Credentials:
        """OAuth user credentials (or a service account), built here so the token endpoint is configurable.

        GoogleAdsClient's own loaders always refresh against accounts.google.com at construction.
        """
        token_uri = self.token_uri.strip() if _present(self.token_uri) else None
        if _present(self.client_id) and _present(self.client_secret) and _present(self.refresh_token):
            from google.oauth2.credentials import Credentials as UserCredentials

            return UserCredentials(
                token=None,
                refresh_token=self.refresh_token,
                client_id=self.client_id,
                client_secret=self.client_secret,
                token_uri=token_uri or DEFAULT_TOKEN_URI,
                scopes=[ADWORDS_SCOPE],
            )
        from google.oauth2 import service_account

        assert self.json_key_file_path is not None  # is_configured() checked it
        creds = service_account.Credentials.from_service_account_file(
            self.json_key_file_path,
            scopes=[ADWORDS_SCOPE],
            subject=self.impersonated_email if _present(self.impersonated_email) else None,
        )
        return creds.with_token_uri(token_uri) if token_uri else creds

    def _refresh(self, credentials: Credentials) -> None:
        """Get the access token up front, so refused credentials fail fast and clearly.

        Left to gRPC's metadata plugin, a refresh failure would surface per call as a generic UNAVAILABLE
        and be retried for every customer.
        """
        import google.auth.exceptions
        import google.auth.transport.requests
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=lambda state: self._backoff(state.attempt_number),
            retry=tenacity.retry_if_exception(_retryable_refresh_error),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            retrying(credentials.refresh, google.auth.transport.requests.Request())
        except google.auth.exceptions.GoogleAuthError as exc:
            endpoint = getattr(credentials, "token_uri", None) or getattr(credentials, "_token_uri", "?")
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            raise GoogleAdsFetchError(
                f"Could not get a Google Ads access token from {endpoint}: {detail}"
            ) from None

    def _service(self, credentials: Credentials, login_customer_id: str | None) -> Any:
        from google.ads.googleads.client import GoogleAdsClient

        client = GoogleAdsClient(
            credentials=credentials,
            developer_token=self.developer_token,
            login_customer_id=login_customer_id,
            endpoint=self.endpoint.strip() if _present(self.endpoint) else None,
            use_proto_plus=True,
            version=self.api_version,
        )
        return client.get_service("GoogleAdsService")

    def _stream(
        self, service: Any, account: str, query: str, fetched_at: dt.datetime
    ) -> list[tuple[Any, ...]]:
        """All batches of one customer's stream; a stream broken midway is retried whole (rows discarded)."""
        rows: list[tuple[Any, ...]] = []
        for batch in service.search_stream(customer_id=account, query=query, timeout=self.timeout_seconds):
            for row in batch.results:
                rows.append(
                    (
                        dt.date.fromisoformat(row.segments.date),
                        account,
                        str(row.campaign.id),
                        row.campaign.name or None,
                        row.campaign.status.name or None,
                        row.customer.currency_code,
                        Decimal(row.metrics.cost_micros).scaleb(-6),  # exact, 6 decimal places
                        int(row.metrics.impressions),
                        int(row.metrics.clicks),
                        float(row.metrics.conversions),
                        self.api_version,
                        fetched_at,
                    )
                )
        return rows

    def _with_retry(self, account: str, fn: Callable[[], list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        """Run fn, retrying transient API errors with backoff + jitter or the delay the server asked for."""
        import tenacity

        log = dg.get_dagster_logger(__name__)

        def should_retry(exc: BaseException) -> bool:
            error = _api_error(exc, self.api_version)
            if error is None or not error.retryable:
                return False
            if error.retry_delay is not None and error.retry_delay > self.max_retry_delay_seconds:
                raise _GiveUp(error, error.retry_delay)
            return True

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            error = _api_error(exc, self.api_version) if exc else None
            if error is not None and error.retry_delay is not None:
                # Never earlier than asked; a little jitter so parallel runs don't return in lockstep.
                jitter = random.uniform(0, min(1.0, 0.1 * error.retry_delay))
                return min(error.retry_delay + jitter, self.max_retry_delay_seconds)
            return self._backoff(state.attempt_number)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            error = _api_error(exc, self.api_version) if exc else None
            what = error.describe() if error else type(exc).__name__
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                self._redact(
                    f"Google Ads customer {account}: attempt {state.attempt_number}/{self.max_attempts} "
                    f"failed ({what}); retrying in {delay:.1f}s"
                )
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(should_retry),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter in [half, full] of 1s, 2s, 4s ... capped by max_retry_delay."""
        ceiling = min(self.max_retry_delay_seconds, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _redact(self, text: str) -> str:
        for name in SECRET_FIELDS:
            secret = getattr(self, name)
            if isinstance(secret, str) and len(secret) >= _MIN_REDACT_LEN:
                text = text.replace(secret, "***")
        return text


def _require_connector_packages() -> None:
    """A configured connector without its packages should say how to fix it, not raise a bare ImportError."""
    try:
        import google.ads.googleads.client  # noqa: F401
        import tenacity  # noqa: F401
    except ImportError as exc:
        raise GoogleAdsFetchError(
            f"Google Ads is configured but {exc.name} is not installed; "
            "install the connectors extra: pip install 'marketing-pulse[connectors]'"
        ) from exc


def _present(value: str | None) -> bool:
    return bool(value and value.strip())


def _customer_id(raw: str) -> str:
    digits = str(raw).strip().replace("-", "")
    if not _CUSTOMER_ID_RE.match(digits):
        raise ValueError(f"Google Ads customer id must be 10 digits (dashes allowed), got {raw!r}")
    return digits


def _login_customer_id(raw: str | None) -> str | None:
    return _customer_id(raw) if _present(raw) else None


def _retryable_refresh_error(exc: BaseException) -> bool:
    """Token endpoint unreachable: transient. google-auth already retries 5xx/429 itself (with real sleeps),
    so a RefreshError (including a refused grant) is final here.
    """
    import google.auth.exceptions

    return isinstance(exc, google.auth.exceptions.TransportError)


def _api_error(exc: BaseException | None, api_version: str) -> _ApiError | None:
    """Normalise the three shapes a failed call takes; None when exc is not an API error at all.

    - GoogleAdsException: the library parsed the GoogleAdsFailure trailer (most non-transient errors).
    - google.api_core GoogleAPICallError: INTERNAL / RESOURCE_EXHAUSTED are never wrapped by the library
      (and errors without a failure trailer aren't either); api_core converts the grpc.RpcError. The failure
      details, incl. quota retry_delay, are still in the trailing metadata of the original call.
    - a bare grpc.RpcError, should a layer let one through.
    """
    if exc is None:
        return None
    import grpc
    from google.ads.googleads.errors import GoogleAdsException
    from google.api_core import exceptions as core_exceptions

    if isinstance(exc, GoogleAdsException):
        code = exc.error.code() if hasattr(exc.error, "code") else None
        return _from_failure(getattr(code, "name", "UNKNOWN"), exc.failure, exc.request_id, [])
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        call = exc.response if isinstance(exc.response, grpc.RpcError) else exc.__cause__
        metadata = _trailing_metadata(call)
        status = exc.grpc_status_code.name if exc.grpc_status_code is not None else f"HTTP_{exc.code}"
        failure = _failure_from_metadata(metadata, api_version)
        extra = [] if failure is not None else [exc.message]
        return _from_failure(status, failure, metadata.get("request-id"), extra, exc.details)
    if isinstance(exc, grpc.RpcError):
        metadata = _trailing_metadata(exc)
        code = exc.code() if hasattr(exc, "code") else None
        failure = _failure_from_metadata(metadata, api_version)
        details = exc.details() if hasattr(exc, "details") else str(exc)
        return _from_failure(
            getattr(code, "name", "UNKNOWN"),
            failure,
            metadata.get("request-id"),
            [] if failure is not None else [details or ""],
        )
    return None


def _trailing_metadata(call: Any) -> dict[str, Any]:
    try:
        return {k: v for k, v in (call.trailing_metadata() or ())}
    except Exception:  # not a call, or a call that never completed
        return {}


def _failure_from_metadata(metadata: Mapping[str, Any], api_version: str) -> Any:
    raw = metadata.get(f"google.ads.googleads.{api_version}.errors.googleadsfailure-bin")
    if raw is None:
        return None
    from importlib import import_module

    errors_module = import_module(f"google.ads.googleads.{api_version}.errors.types.errors")
    try:
        return errors_module.GoogleAdsFailure.deserialize(raw)
    except Exception:  # a malformed trailer must not mask the original error
        return None


def _from_failure(
    status: str, failure: Any, request_id: str | None, extra_messages: list[str], details: Any = ()
) -> _ApiError:
    codes: list[str] = []
    messages: list[str] = []
    retry_delay: float | None = None
    for err in getattr(failure, "errors", None) or ():
        codes.append(_error_code_name(err.error_code))
        messages.append(err.message)
        quota = err.details.quota_error_details if "details" in err else None
        if quota is not None and "retry_delay" in quota:
            retry_delay = max(retry_delay or 0.0, _seconds(quota.retry_delay))
    for detail in details or ():  # google.rpc.RetryInfo, if a proxy sent the standard form instead
        if type(detail).__name__ == "RetryInfo" and retry_delay is None:
            retry_delay = _seconds(detail.retry_delay)
    messages.extend(m for m in extra_messages if m)
    return _ApiError(status, tuple(codes), tuple(messages), request_id or None, retry_delay)


def _error_code_name(error_code: Any) -> str:
    """ "quota_error.RESOURCE_TEMPORARILY_EXHAUSTED" from the ErrorCode oneof."""
    pb = type(error_code).pb(error_code)
    which = pb.WhichOneof("error_code")
    if which is None:
        return "unknown_error"
    value = getattr(error_code, which)
    return f"{which}.{getattr(value, 'name', value)}"


def _seconds(duration: Any) -> float:
    """proto-plus marshals Duration to timedelta; a raw protobuf Duration has seconds + nanos."""
    if isinstance(duration, dt.timedelta):
        return duration.total_seconds()
    return float(duration.seconds) + duration.nanos / 1e9
