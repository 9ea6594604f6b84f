"""Bitrix24Resource against a local Bitrix24 server: keyset batches, history, deals, limits, secrets."""

from __future__ import annotations

import hashlib
import hmac
import logging
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pydantic
import pytest

from resources.bitrix24 import Bitrix24Resource, Bitrix24Source
from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS
from resources.http_client import ApiError
from tests.fakes.bitrix24_server import FakeBitrix24, Fault, Recorded

FILLER = 150  # three full pages of 50
SOURCE = Bitrix24Source()
UTM = {"UTM_SOURCE": "google", "UTM_MEDIUM": "cpc", "UTM_CAMPAIGN": "spring"}


def day(d: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2024, 5, d, hour, minute)


def build_portal(fake: FakeBitrix24) -> None:
    fake.now = day(10, 12)
    for i in range(1, FILLER + 1):
        fake.add_lead(i, created=datetime(2024, 4, 1) + timedelta(minutes=i))
    for i in range(1, 11):  # 70 history entries for the first 50 leads: the history needs a second page
        fake.move(i, datetime(2024, 4, 2, 9, i), "IN_PROCESS")
        fake.move(i, datetime(2024, 4, 2, 10, i), "NEW")  # back again, so no current-status fallback applies
    fake.add_lead(151, created=day(1), utm=UTM, source="ADVERTISING", email_address="Bob@Example.com")
    fake.move(151, day(2), "IN_PROCESS")
    fake.move(151, day(3), "PROCESSED")
    fake.move(151, day(4), "CONVERTED", "S")
    fake.add_lead(152, created=day(4), status="PROCESSED")  # created straight as SQL
    fake.add_lead(153, created=day(1))
    fake.move(153, day(2), "IN_PROCESS")
    fake.move(153, day(6), "JUNK", "F")  # disqualified after MQL
    fake.add_lead(154, created=day(1), status="IN_PROCESS", with_history=False)
    fake.leads[154]["MOVED_TIME"] = "2024-05-03T12:00:00+03:00"
    fake.touch(154, day(8))
    fake.add_lead(155, created=day(2))
    fake.move(155, day(7), "1", "F")  # a custom failure status
    fake.add_deal(
        1, lead_id=151, amount="1500.00", currency="RUB", semantic="S", closed=day(5), modified=day(5)
    )
    fake.add_deal(
        2, lead_id=152, amount="990.50", currency="EUR", semantic="S", closed=day(7), modified=day(7)
    )
    fake.add_deal(
        3, lead_id=None, amount="100.00", currency="RUB", semantic="P", closed=None, modified=day(3)
    )


@pytest.fixture
def fake() -> Iterator[FakeBitrix24]:
    with FakeBitrix24() as server:
        build_portal(server)
        yield server


def resource(fake: FakeBitrix24, **overrides: object) -> Bitrix24Resource:
    settings: dict[str, object] = {
        "webhook_url": fake.webhook_url,
        "backoff_seconds": 0.001,
        "max_backoff_seconds": 0.01,
        "max_attempts": 3,
        "timeout_seconds": 5.0,
        "pages_per_batch": 2,
    }
    settings.update(overrides)
    return Bitrix24Resource(**settings)  # type: ignore[arg-type]


def by_id(frame: pd.DataFrame, key: str) -> dict[str, dict[str, object]]:
    return {row[key]: row for row in frame.to_dict("records")}


def test_full_sync_maps_lifecycle_deals_and_currency(fake: FakeBitrix24) -> None:
    batch = resource(fake).sync(SOURCE, None)

    assert tuple(batch.leads.columns) == CRM_LEAD_COLUMNS and tuple(batch.deals.columns) == CRM_DEAL_COLUMNS
    leads = by_id(batch.leads, "lead_id")
    assert len(leads) == FILLER + 5 and len(batch.leads) == FILLER + 5, (
        "every page read once, garbage ignored"
    )

    converted = leads["151"]  # times arrive as +03:00 and come out as naive UTC
    assert (converted["created_at"], converted["mql_at"], converted["sql_at"]) == (day(1), day(2), day(3))
    assert (converted["utm_source"], converted["utm_medium"], converted["utm_campaign"]) == (
        "google",
        "cpc",
        "spring",
    )
    assert converted["source"] == "ADVERTISING" and pd.isna(converted["disqualified_at"])

    straight_sql = leads["152"]
    assert straight_sql["sql_at"] == day(4) and pd.isna(straight_sql["mql_at"])

    junk = leads["153"]
    assert (junk["mql_at"], junk["disqualified_at"], junk["disqualification_reason"]) == (
        day(2),
        day(6),
        "JUNK",
    )

    no_history = leads["154"]
    assert no_history["mql_at"] == day(3), "falls back to MOVED_TIME"

    custom_failure = leads["155"]
    assert (custom_failure["disqualified_at"], custom_failure["disqualification_reason"]) == (day(7), "1")
    assert [leads[str(i)]["mql_at"] for i in (1, 10)] == [
        datetime(2024, 4, 2, 9, 1),
        datetime(2024, 4, 2, 9, 10),
    ]
    assert all(pd.isna(leads[str(i)]["mql_at"]) for i in range(11, FILLER + 1))
    assert not batch.leads["is_deleted"].any()

    deals = by_id(batch.deals, "deal_id")
    assert (deals["1"]["won_at"], deals["1"]["amount"], deals["1"]["currency"]) == (
        day(5),
        Decimal("1500.00"),
        "RUB",
    )
    assert (deals["2"]["won_at"], deals["2"]["amount"], deals["2"]["currency"]) == (
        day(7),
        Decimal("990.50"),
        "EUR",
    )
    assert deals["2"]["lead_id"] == "152"
    assert pd.isna(deals["3"]["won_at"]) and pd.isna(deals["3"]["lead_id"])

    assert batch.cursor == "2024-05-08T09:00:00"


def test_lists_are_keyset_paged_in_batches(fake: FakeBitrix24) -> None:
    resource(fake).sync(SOURCE, None)

    direct = [r for r in fake.requests if not r.in_batch]
    assert [r.method for r in direct].count("crm.lead.list") == 1
    first = direct[0].params
    assert first["order"] == {"ID": "ASC"} and first["start"] == -1 and first["filter"] == {">ID": 0}
    assert not {"EMAIL", "PHONE", "NAME", "TITLE"} & set(first["select"]), "no personal fields requested"

    chained = [r.params["filter"][">ID"] for r in fake.requests if r.in_batch and r.method == "crm.lead.list"]
    assert chained == ["50", "100", "150", "$result[p0][49][ID]"], "chained pages; unresolved tail ignored"
    history = [r for r in fake.requests if r.method == "crm.stagehistory.list"]
    assert all(r.in_batch and len(r.params["filter"]["OWNER_ID"]) <= 50 for r in history)
    assert sum(r.method == "batch" for r in direct) < len(history) + 2, "batch saves requests"


def test_incremental_sync_filters_by_modification_with_overlap(fake: FakeBitrix24) -> None:
    batch = resource(fake).sync(SOURCE, "2024-05-05T00:00:00")

    assert sorted(batch.leads["lead_id"]) == ["153", "154", "155"]
    assert sorted(batch.deals["deal_id"]) == ["1", "2"]
    lead_call = next(r for r in fake.requests if r.method == "crm.lead.list")
    assert lead_call.params["filter"][">=DATE_MODIFY"] == "2024-05-04T23:50:00+00:00"
    owners = {
        o
        for r in fake.requests
        if r.method == "crm.stagehistory.list"
        for o in r.params["filter"]["OWNER_ID"]
    }
    assert owners == {"153", "154", "155"}
    assert by_id(batch.leads, "lead_id")["153"]["mql_at"] == day(2), "history older than the window is read"


def test_rate_limits_are_retried(fake: FakeBitrix24) -> None:
    clean = resource(fake).sync(SOURCE, None)
    fake.requests.clear()
    fake.faults += [
        Fault("batch", 503, "QUERY_LIMIT_EXCEEDED"),
        Fault("crm.deal.list", 429, "OPERATION_TIME_LIMIT"),
        Fault("crm.stagehistory.list", 503, "QUERY_LIMIT_EXCEEDED", in_batch=True),
    ]
    batch = resource(fake).sync(SOURCE, None)

    pd.testing.assert_frame_equal(batch.leads, clean.leads)
    pd.testing.assert_frame_equal(batch.deals, clean.deals)
    assert all(f.times == 0 for f in fake.faults)
    assert fake.methods(in_batch=False).count("crm.deal.list") == 2


def test_record_modified_during_sync_is_read_next_time(fake: FakeBitrix24) -> None:
    def edit_once(server: FakeBitrix24, record: Recorded) -> None:
        if record.method != "crm.lead.list":
            return
        server.after_request = None
        server.touch(2, day(10, 12, 0) + timedelta(seconds=30))  # on the page just read
        server.now = day(10, 12, 30)  # a long sync
        server.move(152, day(10, 12, 30), "JUNK", "F")  # on a page not read yet

    fake.after_request = edit_once
    first = resource(fake).sync(SOURCE, None)
    assert len(first.leads) == FILLER + 5
    assert by_id(first.leads, "lead_id")["152"]["disqualified_at"] == day(10, 12, 30)
    assert first.cursor == "2024-05-10T12:00:00", "capped at the server clock when the sync started"

    second = resource(fake).sync(SOURCE, first.cursor)
    assert by_id(second.leads, "lead_id")["2"]["updated_at"] == day(10, 12, 0) + timedelta(seconds=30)


def test_ignored_keyset_filter_fails_instead_of_looping(fake: FakeBitrix24) -> None:
    fake.ignore_id_filter = True
    with pytest.raises(ApiError, match="ignored the >ID filter"):
        resource(fake).sync(SOURCE, None)


def test_rerun_is_identical_and_failed_run_resumes_without_gap(fake: FakeBitrix24) -> None:
    clean = resource(fake).sync(SOURCE, "2024-04-01T00:00:00")
    again = resource(fake).sync(SOURCE, "2024-04-01T00:00:00")
    pd.testing.assert_frame_equal(clean.leads, again.leads)
    pd.testing.assert_frame_equal(clean.deals, again.deals)
    assert clean.cursor == again.cursor

    fake.faults.append(Fault("batch", 500, "INTERNAL_SERVER_ERROR", times=99))
    with pytest.raises(ApiError) as err:
        resource(fake).sync(SOURCE, "2024-04-01T00:00:00")
    assert err.value.status == 500 and fake.methods(in_batch=False).count("batch") >= 3
    fake.faults.clear()
    resumed = resource(fake).sync(SOURCE, "2024-04-01T00:00:00")
    pd.testing.assert_frame_equal(resumed.leads, clean.leads)
    pd.testing.assert_frame_equal(resumed.deals, clean.deals)


def test_email_hash_only_when_configured(fake: FakeBitrix24, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = resource(fake).sync(SOURCE, "2024-05-01T00:00:00")
    assert plain.leads["email_hash"].isna().all()
    assert "@" not in plain.leads.to_csv() and "Person" not in plain.leads.to_csv()

    monkeypatch.setenv("SALT_FOR_TEST", "pepper")
    source = Bitrix24Source(hash_emails=True, email_salt_env="SALT_FOR_TEST")
    leads = by_id(resource(fake).sync(source, "2024-05-01T00:00:00").leads, "lead_id")
    assert leads["151"]["email_hash"] == hmac.new(b"pepper", b"bob@example.com", hashlib.sha256).hexdigest()
    assert pd.isna(leads["152"]["email_hash"])
    assert "@" not in pd.DataFrame(leads.values()).to_csv()

    monkeypatch.delenv("SALT_FOR_TEST")
    with pytest.raises(ValueError, match="SALT_FOR_TEST"):
        resource(fake).sync(source, None)


def test_webhook_token_never_leaks(fake: FakeBitrix24, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.echo_path_in_errors = True
    wrong = fake.webhook_url.replace(fake.token, "leakedtoken0123456789")
    with pytest.raises(ApiError) as err:
        resource(fake, webhook_url=wrong).sync(SOURCE, None)
    assert err.value.status == 401 and err.value.code == "INVALID_CREDENTIALS"
    shown = str(err.value) + repr(err.value) + "".join(traceback.format_exception(err.value))
    assert "leakedtoken0123456789" not in shown + caplog.text and "/rest/1/***" in shown

    fake.faults.append(Fault("batch", 503, "QUERY_LIMIT_EXCEEDED"))
    resource(fake).sync(SOURCE, None)
    assert "retrying" in caplog.text and "/rest/1/" in caplog.text, "urllib3 debug lines were captured"
    assert fake.token not in caplog.text

    closed = f"http://127.0.0.1:9/rest/1/{fake.token}/"
    with pytest.raises(ApiError, match="ConnectionError") as err:
        resource(fake, webhook_url=closed, max_attempts=2).sync(SOURCE, None)
    shown = str(err.value) + "".join(traceback.format_exception(err.value))
    assert fake.token not in shown and err.value.__context__ is None


def test_list_lead_ids_supports_deletion_reconciliation(fake: FakeBitrix24) -> None:
    ids = resource(fake).list_lead_ids()
    assert len(ids) == FILLER + 5
    del fake.leads[77]
    assert ids - resource(fake).list_lead_ids() == {"77"}


def test_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BITRIX24_WEBHOOK_URL", raising=False)
    assert not Bitrix24Resource.from_env().is_configured()
    with pytest.raises(ApiError, match="not configured"):
        Bitrix24Resource().sync(SOURCE, None)
    monkeypatch.setenv("BITRIX24_WEBHOOK_URL", "https://x.bitrix24.ru/rest/1/abc/")
    assert Bitrix24Resource.from_env().is_configured()

    assert (SOURCE.mql_statuses, SOURCE.sql_statuses, SOURCE.disqualified_statuses) == (
        ["IN_PROCESS"],
        ["PROCESSED"],
        ["JUNK"],
    )
    with pytest.raises(pydantic.ValidationError, match="both"):
        Bitrix24Source(mql_statuses=["X"], sql_statuses=["X"])
    with pytest.raises(pydantic.ValidationError):
        Bitrix24Source.model_validate({"mql_status": ["X"]})
