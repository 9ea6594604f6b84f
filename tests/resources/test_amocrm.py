"""AmocrmResource against a local amoCRM server: paging, stages, deals, deletions, retries, secrets."""

from __future__ import annotations

import hashlib
import hmac
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pydantic
import pytest

from resources.amocrm import AmocrmResource, AmocrmSource, next_cursor
from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS
from resources.http_client import ApiError
from tests.fakes.amocrm_server import FakeAmocrm, Fault


def day(d: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, 5, d, hour, minute)


SOURCE = AmocrmSource.model_validate(
    {
        "currency": "RUB",
        "stages": {
            "mql": [{"pipeline_id": 1, "status_id": 11}, {"pipeline_id": 2, "status_id": 21}],
            "sql": [{"pipeline_id": 1, "status_id": 12}],
            "disqualified": [{"pipeline_id": 1, "status_id": 13}],
        },
    }
)
UTM = {"UTM_SOURCE": "google", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "123"}


def build_account(fake: FakeAmocrm) -> None:
    fake.now = day(10, 12)
    fake.add_lead(
        101, created=day(1), utm=UTM, price=5000, contact_email="Ann@Example.com", source_name="Form"
    )
    fake.move(101, day(2), status_id=11)
    fake.move(101, day(3), status_id=12)
    fake.move(101, day(5), status_id=142)
    fake.add_lead(102, created=day(4), status_id=12)  # created straight as SQL: no status event
    fake.add_lead(103, created=day(1))
    fake.move(103, day(2), status_id=11)
    fake.move(103, day(6), status_id=13)  # disqualified after MQL
    fake.add_lead(104, created=day(3))
    fake.lose(104, day(7), "No budget")
    fake.add_lead(105, created=day(2), pipeline_id=2, status_id=20)
    fake.move(105, day(3), status_id=11)  # status 11 of pipeline 2 is not an MQL status
    fake.add_lead(106, created=day(2))
    fake.delete(106, day(8))
    fake.add_lead(107, created=datetime(2024, 4, 1))
    fake.move(107, datetime(2024, 4, 2), status_id=11)  # before any incremental window below
    fake.touch(107, day(9))
    fake.add_lead(108, created=day(9, 10), price=None)


@pytest.fixture
def fake() -> Iterator[FakeAmocrm]:
    with FakeAmocrm() as server:
        build_account(server)
        yield server


def resource(fake: FakeAmocrm, **overrides: object) -> AmocrmResource:
    settings: dict[str, object] = {
        "access_token": fake.token,
        "base_url": fake.base_url,
        "backoff_seconds": 0.001,
        "max_backoff_seconds": 0.01,
        "ban_backoff_seconds": 0.001,
        "max_attempts": 3,
        "timeout_seconds": 5.0,
    }
    settings.update(overrides)
    return AmocrmResource(**settings)  # type: ignore[arg-type]


def by_id(frame: pd.DataFrame, key: str) -> dict[str, dict[str, object]]:
    return {row[key]: row for row in frame.to_dict("records")}


def lead_pages(fake: FakeAmocrm) -> list[str]:
    return [r.query.get("page", ["1"])[0] for r in fake.requests if r.path == "/api/v4/leads"]


def test_full_sync_maps_lifecycle_deals_utm_and_deletions(fake: FakeAmocrm) -> None:
    batch = resource(fake).sync(SOURCE, None)

    assert tuple(batch.leads.columns) == CRM_LEAD_COLUMNS
    assert tuple(batch.deals.columns) == CRM_DEAL_COLUMNS
    leads = by_id(batch.leads, "lead_id")
    assert sorted(leads) == ["101", "102", "103", "104", "105", "106", "107", "108"]

    won = leads["101"]
    assert (won["created_at"], won["mql_at"], won["sql_at"]) == (day(1), day(2), day(3))
    assert (won["utm_source"], won["utm_medium"], won["utm_campaign"], won["source"]) == (
        "google",
        "cpc",
        "123",
        "Form",
    )
    assert pd.isna(won["disqualified_at"]) and pd.isna(won["email_hash"])

    straight_sql = leads["102"]
    assert straight_sql["sql_at"] == day(4) and pd.isna(straight_sql["mql_at"])

    dq_after_mql = leads["103"]
    assert (dq_after_mql["mql_at"], dq_after_mql["disqualified_at"]) == (day(2), day(6))
    assert pd.isna(dq_after_mql["disqualification_reason"])

    lost = leads["104"]
    assert (lost["disqualified_at"], lost["disqualification_reason"]) == (day(7), "No budget")

    assert pd.isna(leads["105"]["mql_at"]), "statuses are keyed on (pipeline_id, status_id)"
    assert leads["107"]["mql_at"] == datetime(2024, 4, 2)

    deleted = leads["106"]
    assert deleted["is_deleted"] and deleted["updated_at"] == day(8) and pd.isna(deleted["created_at"])
    assert not any(leads[i]["is_deleted"] for i in leads if i != "106")

    deals = by_id(batch.deals, "deal_id")
    assert deals["101"]["won_at"] == day(5)
    assert (deals["101"]["amount"], deals["101"]["currency"], deals["101"]["lead_id"]) == (
        Decimal(5000),
        "RUB",
        "101",
    )
    assert all(pd.isna(deals[i]["won_at"]) for i in deals if i != "101")
    assert deals["106"]["is_deleted"] and pd.isna(deals["108"]["amount"])

    assert batch.cursor == "2024-05-09T10:00:00"
    assert lead_pages(fake) == ["1", "2", "3"], "several pages, `next` links resolved against our base URL"
    first = next(r for r in fake.requests if r.path == "/api/v4/leads")
    assert first.query["order[updated_at]"] == ["desc"] and first.query["limit"] == ["250"]
    assert (
        first.query["with"] == ["contacts,loss_reason,source"]
        and "filter[updated_at][from]" not in first.query
    )


def test_no_personal_data_leaves_the_connector(fake: FakeAmocrm) -> None:
    batch = resource(fake).sync(SOURCE, None)
    text = batch.leads.to_csv() + batch.deals.to_csv()
    assert "@" not in text and "Person" not in text and "+7 900" not in text
    assert not any(r.path == "/api/v4/contacts" for r in fake.requests), "contacts are read only for hashing"


def test_email_hash_is_salted_and_needs_the_salt(fake: FakeAmocrm, monkeypatch: pytest.MonkeyPatch) -> None:
    source = SOURCE.model_copy(update={"hash_emails": True})
    monkeypatch.delenv("MPULSE_EMAIL_SALT", raising=False)
    with pytest.raises(ValueError, match="MPULSE_EMAIL_SALT"):
        resource(fake).sync(source, None)
    assert fake.requests == []

    monkeypatch.setenv("MPULSE_EMAIL_SALT", "pepper")
    leads = by_id(resource(fake).sync(source, None).leads, "lead_id")
    expected = hmac.new(b"pepper", b"ann@example.com", hashlib.sha256).hexdigest()
    assert leads["101"]["email_hash"] == expected
    assert pd.isna(leads["102"]["email_hash"])
    assert any(r.path == "/api/v4/contacts" for r in fake.requests)


def test_incremental_sync_reads_full_history_of_older_leads(fake: FakeAmocrm) -> None:
    batch = resource(fake).sync(SOURCE, "2024-05-08T00:00:00")

    leads = by_id(batch.leads, "lead_id")
    assert sorted(leads) == ["106", "107", "108"]
    assert leads["106"]["is_deleted"]
    assert leads["107"]["mql_at"] == datetime(2024, 4, 2), "MQL happened before the window"
    lookups = [r.query["filter[entity_id][]"] for r in fake.requests if "filter[entity_id][]" in r.query]
    assert lookups == [["107"]], "only leads created before the window need their own history"
    assert batch.cursor == "2024-05-09T10:00:00"


def test_window_uses_overlap_and_ignored_filter_is_checked_client_side(fake: FakeAmocrm) -> None:
    expected = resource(fake).sync(SOURCE, "2024-05-08T00:00:00")
    since = fake.requests[0].query["filter[updated_at][from]"][0]
    assert datetime.fromtimestamp(int(since), UTC).replace(tzinfo=None) == datetime(2024, 5, 7, 23, 50)

    fake.ignore_updated_filter = True
    fake.requests.clear()
    got = resource(fake).sync(SOURCE, "2024-05-08T00:00:00")
    pd.testing.assert_frame_equal(got.leads, expected.leads)
    pd.testing.assert_frame_equal(got.deals, expected.deals)
    assert lead_pages(fake) == ["1", "2"], "stops at the first page older than the window"


def test_rate_limit_and_ban_are_retried(fake: FakeAmocrm) -> None:
    fake.faults += [
        Fault("/api/v4/leads", 429, headers={"Retry-After": "1"}, match=lambda q: q.get("page") == ["2"]),
        Fault("/api/v4/events", 403),
        Fault("/api/v4/leads", 502, match=lambda q: q.get("page") == ["3"]),
    ]
    batch = resource(fake).sync(SOURCE, None)
    assert len(batch.leads) == 8
    assert lead_pages(fake) == ["1", "2", "2", "3", "3"]
    assert all(f.times == 0 for f in fake.faults)


def test_persistent_ban_gives_up_after_bounded_attempts(fake: FakeAmocrm) -> None:
    fake.faults.append(Fault("/api/v4/leads", 403, times=99))
    with pytest.raises(ApiError) as err:
        resource(fake, ban_max_attempts=2).sync(SOURCE, None)
    assert err.value.status == 403
    assert lead_pages(fake) == ["1", "1"]


def test_lead_modified_during_sync_is_read_next_time(fake: FakeAmocrm) -> None:
    def edit_once(server: FakeAmocrm, record: object) -> None:
        server.after_request = None
        server.now = day(10, 12, 1)
        server.move(105, day(10, 12, 1), status_id=21)  # an oldest lead jumps to the front mid-sync

    fake.after_request = edit_once
    first = resource(fake).sync(SOURCE, None)
    assert {"101", "102", "103", "104", "107", "108"} <= set(first.leads["lead_id"]), "no unchanged lead lost"

    second = resource(fake).sync(SOURCE, first.cursor)
    row = by_id(second.leads, "lead_id")["105"]
    assert row["mql_at"] == day(10, 12, 1) and row["updated_at"] == day(10, 12, 1)


def test_rerun_is_identical_and_failed_run_resumes_without_gap(fake: FakeAmocrm) -> None:
    clean = resource(fake).sync(SOURCE, "2024-05-01T00:00:00")
    again = resource(fake).sync(SOURCE, "2024-05-01T00:00:00")
    pd.testing.assert_frame_equal(clean.leads, again.leads)
    pd.testing.assert_frame_equal(clean.deals, again.deals)
    assert clean.cursor == again.cursor

    fake.faults.append(Fault("/api/v4/leads", 500, times=99, match=lambda q: q.get("page") == ["2"]))
    with pytest.raises(ApiError):
        resource(fake).sync(SOURCE, "2024-05-01T00:00:00")
    fake.faults.clear()
    resumed = resource(fake).sync(SOURCE, "2024-05-01T00:00:00")
    pd.testing.assert_frame_equal(resumed.leads, clean.leads)


def test_secrets_stay_out_of_errors_and_logs(fake: FakeAmocrm, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-token-0123456789"
    fake.echo_auth_in_errors = True
    with pytest.raises(ApiError) as err:
        resource(fake, access_token=secret).sync(SOURCE, None)
    assert err.value.status == 401
    shown = str(err.value) + repr(err.value) + "".join(traceback.format_exception(err.value)) + caplog.text
    assert secret not in shown and "Bearer ***" in str(err.value)

    fake.echo_auth_in_errors = False
    fake.faults.append(
        Fault("/api/v4/leads", 429, body={"title": "Too Many", "detail": f"token {fake.token}"})
    )
    resource(fake).sync(SOURCE, None)
    assert fake.token not in caplog.text and "retrying" in caplog.text


def test_unreachable_server_is_a_clean_error() -> None:
    res = AmocrmResource(
        access_token="tok-0123456789",
        base_url="http://127.0.0.1:9",
        max_attempts=2,
        backoff_seconds=0.001,
        timeout_seconds=1.0,
    )
    with pytest.raises(ApiError, match="ConnectionError") as err:
        res.sync(SOURCE, None)
    assert err.value.__context__ is None and err.value.__cause__ is None


def test_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMOCRM_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("AMOCRM_BASE_URL", raising=False)
    assert not AmocrmResource.from_env().is_configured()
    with pytest.raises(ApiError, match="not configured"):
        AmocrmResource().sync(SOURCE, None)
    monkeypatch.setenv("AMOCRM_ACCESS_TOKEN", "t")
    monkeypatch.setenv("AMOCRM_BASE_URL", "https://x.amocrm.ru")
    assert AmocrmResource.from_env().is_configured()

    with pytest.raises(pydantic.ValidationError):
        AmocrmSource.model_validate({})  # currency is required
    with pytest.raises(pydantic.ValidationError):
        AmocrmSource.model_validate({"currency": "RUB", "mql_statuses": []})
    with pytest.raises(pydantic.ValidationError, match="both"):
        AmocrmSource.model_validate(
            {
                "currency": "RUB",
                "stages": {
                    "mql": [{"pipeline_id": 1, "status_id": 5}],
                    "sql": [{"pipeline_id": 1, "status_id": 5}],
                },
            }
        )
    assert SOURCE.utm_field_codes.utm_campaign == "UTM_CAMPAIGN" and SOURCE.overlap_minutes == 10


@pytest.mark.parametrize(
    ("old", "seen", "server", "expected"),
    [
        (None, [], None, None),
        (datetime(2024, 5, 1), [], day(10), "2024-05-01T00:00:00"),
        (None, [day(9), day(3)], day(10), "2024-05-09T09:00:00"),
        (None, [day(11)], day(10), "2024-05-10T09:00:00"),  # an edit made while syncing is read again
        (day(9), [day(8)], None, "2024-05-09T09:00:00"),  # never moves backwards
    ],
)
def test_next_cursor(
    old: datetime | None, seen: list[datetime], server: datetime | None, expected: str | None
) -> None:
    assert next_cursor(old, seen, server) == expected
