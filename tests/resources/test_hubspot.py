"""HubspotResource against a local HTTP HubSpot, through the real hubspot-api-client."""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic
import pytest

from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS, CrmBatch
from resources.errors import ConfigError
from resources.hubspot import HubspotError, HubspotResource, HubspotSource, format_cursor
from tests.fakes.hubspot_server import FakeHubspot, iso

T0 = datetime(2026, 3, 2, 9, 0)
CONTACTS_SEARCH = "/crm/v3/objects/contacts/search"
DEALS_SEARCH = "/crm/v3/objects/deals/search"
PERSONAL = ("Ann@Example.com", "ann@example.com", "Ann", "Lee", "+1 555 0100")


@pytest.fixture
def fake() -> Iterator[FakeHubspot]:
    with FakeHubspot() as server:
        yield server


@pytest.fixture
def portal(fake: FakeHubspot) -> FakeHubspot:
    """A small portal with every lifecycle case the mapping must handle."""
    person = {"email": PERSONAL[0], "firstname": "Ann", "lastname": "Lee", "phone": PERSONAL[4]}
    fake.add_contact(
        "101",
        created=T0,
        lifecyclestage="marketingqualifiedlead",
        hs_lifecyclestage_marketingqualifiedlead_date=iso(T0 + timedelta(hours=1)),
        hs_analytics_source="PAID_SOCIAL",
        utm_source="facebook",
        utm_medium="cpc",
        utm_campaign="120200000001",
        **person,
    )
    fake.modify("contacts", "101", T0 + timedelta(hours=1))
    # created straight as SQL: HubSpot has no MQL date for it
    fake.add_contact(
        "102",
        created=T0 + timedelta(hours=2),
        lifecyclestage="salesqualifiedlead",
        hs_lifecyclestage_salesqualifiedlead_date=iso(T0 + timedelta(hours=2)),
        hs_analytics_source="ORGANIC_SEARCH",
    )
    # MQL, disqualified 2 days later, then edited again: lastmodifieddate moves on, the disqualification not
    fake.add_contact(
        "103",
        created=T0 + timedelta(hours=3),
        lifecyclestage="marketingqualifiedlead",
        hs_lifecyclestage_marketingqualifiedlead_date=iso(T0 + timedelta(hours=4)),
        hs_lead_status="OPEN",
    )
    fake.modify(
        "contacts", "103", T0 + timedelta(days=2), hs_lead_status="UNQUALIFIED", disq_reason="No budget"
    )
    fake.modify("contacts", "103", T0 + timedelta(days=5), utm_medium="email")
    fake.add_contact("104", created=T0 + timedelta(hours=5), hs_analytics_source="DIRECT_TRAFFIC")
    fake.archive("contacts", "104", T0 + timedelta(days=3))
    for n in range(5):
        fake.add_contact(
            str(110 + n), created=T0 + timedelta(days=1, minutes=n), hs_analytics_source="REFERRALS"
        )
    fake.add_deal(
        "901",
        created=T0 + timedelta(days=1),
        modified=T0 + timedelta(days=4),
        contacts=["103", "101"],
        amount="1500.50",
        deal_currency_code="EUR",
        dealstage="closedwon",
        pipeline="default",
        closedate=iso(T0 + timedelta(days=4)),
    )
    fake.add_deal(
        "902",
        created=T0 + timedelta(days=1),
        amount="99",
        deal_currency_code="usd",
        dealstage="appointmentscheduled",
    )
    fake.add_deal(
        "903", created=T0 + timedelta(days=1), amount="10", dealstage="closedwon", closedate=iso(T0)
    )
    fake.archive("deals", "903", T0 + timedelta(days=3, hours=1))
    return fake


def resource(fake: FakeHubspot, **kw: object) -> HubspotResource:
    settings = {"page_size": 2, "max_attempts": 3, "search_interval_seconds": 0.0, **kw}
    return HubspotResource(access_token=fake.token, base_url=fake.url, **settings)


def source(**kw: object) -> HubspotSource:
    return HubspotSource(disqualification_reason_property="disq_reason", **kw)


def leads_by_id(batch: CrmBatch) -> dict[str, dict]:
    return {r["lead_id"]: r for r in batch.leads.to_dict("records")}


def test_sync_maps_lifecycle_deals_and_deletions(portal: FakeHubspot) -> None:
    batch = resource(portal).sync(source(), None)

    assert tuple(batch.leads.columns) == CRM_LEAD_COLUMNS
    assert tuple(batch.deals.columns) == CRM_DEAL_COLUMNS
    assert len(portal.requests_to(CONTACTS_SEARCH)) >= 4  # page_size 2 over 8 live contacts
    leads = leads_by_id(batch)
    assert sorted(leads) == ["101", "102", "103", "104", "110", "111", "112", "113", "114"]
    ann = leads["101"]
    assert ann["created_at"] == T0 and ann["mql_at"] == T0 + timedelta(hours=1)
    assert (ann["source"], ann["utm_source"], ann["utm_medium"], ann["utm_campaign"]) == (
        "PAID_SOCIAL",
        "facebook",
        "cpc",
        "120200000001",
    )
    assert pd.isna(ann["sql_at"]) and pd.isna(ann["disqualified_at"]) and ann["email_hash"] is None
    skipped = leads["102"]  # passed through as HubSpot has it; staging counts it as MQL at sql_at
    assert pd.isna(skipped["mql_at"]) and skipped["sql_at"] == T0 + timedelta(hours=2)
    dq = leads["103"]
    assert dq["mql_at"] == T0 + timedelta(hours=4)
    assert dq["disqualified_at"] == T0 + timedelta(days=2)  # from the status history, not lastmodifieddate
    assert dq["disqualification_reason"] == "No budget"
    assert dq["updated_at"] == T0 + timedelta(days=5)
    assert leads["104"]["is_deleted"] and leads["104"]["updated_at"] == T0 + timedelta(days=3)
    assert not any(r["is_deleted"] for k, r in leads.items() if k != "104")

    deals = {r["deal_id"]: r for r in batch.deals.to_dict("records")}
    won = deals["901"]
    assert (won["lead_id"], won["amount"], won["currency"]) == ("101", Decimal("1500.50"), "EUR")  # lowest id
    assert won["won_at"] == T0 + timedelta(days=4) and not won["is_deleted"]
    assert (
        deals["902"]["lead_id"] is None
        and pd.isna(deals["902"]["won_at"])
        and deals["902"]["currency"] == "USD"
    )
    assert deals["903"]["is_deleted"]
    assert batch.cursor == format_cursor(T0 + timedelta(days=5))
    assert batch.leads["updated_at"].dtype == "datetime64[us]" and batch.leads["is_deleted"].dtype == bool


def test_deal_contact_association_is_requested_in_batch(portal: FakeHubspot) -> None:
    resource(portal, page_size=100).sync(source(), None)

    (assoc,) = portal.requests_to("/crm/v4/associations/deals/contacts/batch/read")
    assert sorted(i["id"] for i in assoc.body["inputs"]) == ["901", "902"]
    (history,) = portal.requests_to("/crm/v3/objects/contacts/batch/read")
    assert history.body["inputs"] == [{"id": "103"}] and history.body["propertiesWithHistory"] == [
        "hs_lead_status"
    ]


def test_no_personal_data_unless_hashing(portal: FakeHubspot, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = resource(portal).sync(source(), None)
    assert not _contains(plain, PERSONAL)
    for req in portal.requests_to(CONTACTS_SEARCH):
        assert not {"email", "firstname", "lastname", "phone"} & set(req.body["properties"])

    monkeypatch.delenv("MPULSE_EMAIL_SALT", raising=False)
    before = len(portal.requests)
    with pytest.raises(ConfigError, match="MPULSE_EMAIL_SALT"):
        resource(portal).sync(source(hash_emails=True), None)
    assert len(portal.requests) == before  # refused before calling HubSpot

    monkeypatch.setenv("MPULSE_EMAIL_SALT", "s4lt")
    hashed = resource(portal).sync(source(hash_emails=True), None)
    assert (
        leads_by_id(hashed)["101"]["email_hash"]
        == hmac.new(b"s4lt", b"ann@example.com", hashlib.sha256).hexdigest()
    )
    assert leads_by_id(hashed)["102"]["email_hash"] is None
    assert not _contains(hashed, PERSONAL)


def test_rate_limit_then_success(portal: FakeHubspot) -> None:
    portal.fail_next(CONTACTS_SEARCH, 429, retry_after="1")
    portal.fail_next(DEALS_SEARCH, 429, retry_after="0")
    started = time.monotonic()

    batch = resource(portal, page_size=100).sync(source(), None)

    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert len(portal.requests_to(CONTACTS_SEARCH)) == 2 and len(portal.requests_to(DEALS_SEARCH)) == 2
    assert len(batch.leads) == 9 and len(batch.deals) == 3


def test_final_failure_is_clear_and_never_shows_the_token(
    portal: FakeHubspot, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    portal.fail_next(DEALS_SEARCH, 503, retry_after=None, times=5, message="Service unavailable, try later")

    with pytest.raises(HubspotError) as info:
        resource(portal, max_attempts=2).sync(source(), None)

    text = str(info.value)
    assert "hs_lastmodifieddate search" in text and "HTTP 503" in text and "Service unavailable" in text
    assert len(portal.requests_to(DEALS_SEARCH)) == 2
    captured = capfd.readouterr()
    everything = [
        text,
        "".join(traceback.format_exception(info.value)),
        caplog.text,
        captured.out,
        captured.err,
    ]
    assert all(portal.token not in part for part in everything)


def test_unreachable_host_is_reported_after_the_attempts(caplog: pytest.LogCaptureFixture) -> None:
    with FakeHubspot() as gone:
        url = gone.url  # a port that was just free; nothing listens once the server is closed
    down = HubspotResource(access_token="pat-na1-secret", base_url=url, max_attempts=2)

    with pytest.raises(HubspotError, match="failed after 2 attempts") as info:
        down.sync(source(), None)

    assert "pat-na1-secret" not in "".join(traceback.format_exception(info.value)) + caplog.text


def test_searches_are_paced(portal: FakeHubspot) -> None:
    started = time.monotonic()
    resource(portal, page_size=100, search_interval_seconds=0.2).sync(source(), None)
    searches = len(portal.requests_to(CONTACTS_SEARCH)) + len(portal.requests_to(DEALS_SEARCH))
    assert searches == 2 and time.monotonic() - started >= 0.2  # contacts search, pause, deals search


def test_works_as_a_dagster_resource(portal: FakeHubspot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", portal.token)
    monkeypatch.setenv("HUBSPOT_BASE_URL", portal.url)

    @dg.asset
    def hubspot_leads(hubspot: HubspotResource) -> dg.MaterializeResult:
        batch = hubspot.sync(source(), None)
        return dg.MaterializeResult(metadata={"leads": len(batch.leads), "cursor": batch.cursor})

    hubspot = HubspotResource(
        access_token=dg.EnvVar("HUBSPOT_ACCESS_TOKEN"), base_url=dg.EnvVar("HUBSPOT_BASE_URL")
    )
    result = dg.materialize([hubspot_leads], resources={"hubspot": hubspot})

    (event,) = result.asset_materializations_for_node("hubspot_leads")
    assert event.metadata["leads"].value == 9


def test_bad_token_is_reported_without_echoing_it(
    portal: FakeHubspot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = HubspotResource(access_token="pat-na1-wrong-secret", base_url=portal.url, max_attempts=1)

    with pytest.raises(HubspotError, match="HTTP 401") as info:
        wrong.sync(source(), None)

    assert "pat-na1-wrong-secret" not in "".join(traceback.format_exception(info.value)) + caplog.text


def test_more_than_ten_thousand_contacts_each_returned_once(fake: FakeHubspot) -> None:
    fake.add_bulk_contacts(
        10_050, first_id=1, start=T0, step=timedelta(seconds=1), hs_analytics_source="OFFLINE"
    )

    batch = resource(fake, page_size=200).sync(source(), None)

    ids = batch.leads["lead_id"]
    assert len(ids) == 10_050 and ids.is_unique
    assert batch.cursor == format_cursor(T0 + timedelta(seconds=10_049))
    searches = fake.requests_to(CONTACTS_SEARCH)
    assert all(int(r.body.get("after") or 0) + r.body["limit"] <= 10_000 for r in searches)
    assert len(searches) < 60  # one request per page, plus the restart overlap


def test_many_contacts_sharing_one_timestamp(fake: FakeHubspot) -> None:
    fake.add_bulk_contacts(3, first_id=1, start=T0, step=timedelta(seconds=1))
    fake.add_bulk_contacts(450, first_id=1000, start=T0 + timedelta(minutes=1), step=timedelta(0))
    fake.add_bulk_contacts(3, first_id=5000, start=T0 + timedelta(minutes=2), step=timedelta(seconds=1))

    batch = resource(fake, page_size=200).sync(source(), None)

    assert len(batch.leads) == 456 and batch.leads["lead_id"].is_unique
    tie_sorts = [
        r for r in fake.requests_to(CONTACTS_SEARCH) if r.body["sorts"][0]["propertyName"] == "hs_object_id"
    ]
    assert tie_sorts  # walked the tie by id rather than by offset


def test_record_modified_during_sync_is_returned_once_with_latest_values(portal: FakeHubspot) -> None:
    edited_at = T0 + timedelta(days=6)

    def edit_between_pages(request: object) -> None:
        if len(portal.requests_to(CONTACTS_SEARCH)) == 2:
            portal.modify("contacts", "101", edited_at, utm_campaign="spring-sale")

    portal.on_request(edit_between_pages)
    batch = resource(portal).sync(source(), None)

    leads = batch.leads[batch.leads["lead_id"] == "101"]
    assert len(leads) == 1
    assert leads.iloc[0]["utm_campaign"] == "spring-sale" and leads.iloc[0]["updated_at"] == edited_at
    assert len(batch.leads) == 9  # nothing skipped around the moved record
    assert batch.cursor == format_cursor(edited_at)


def test_rerun_from_cursor_returns_only_the_overlap_and_is_repeatable(portal: FakeHubspot) -> None:
    hubspot = resource(portal)
    first = hubspot.sync(source(), None)
    second = hubspot.sync(source(), first.cursor)
    again = hubspot.sync(source(), first.cursor)

    # the cursor is 103's last edit (T0+5d); only it lies inside the 10-minute overlap
    assert list(second.leads["lead_id"]) == ["103"] and second.deals.empty
    assert second.cursor == first.cursor
    pd.testing.assert_frame_equal(second.leads, again.leads)
    pd.testing.assert_frame_equal(second.deals, again.deals)

    portal.modify(
        "deals", "902", T0 + timedelta(days=7), dealstage="closedwon", closedate=iso(T0 + timedelta(days=7))
    )
    portal.archive("contacts", "110", T0 + timedelta(days=7))
    third = hubspot.sync(source(), second.cursor)
    assert list(third.deals["deal_id"]) == ["902"] and third.deals.iloc[0]["won_at"] == T0 + timedelta(days=7)
    assert set(third.leads["lead_id"]) == {"103", "110"} and leads_by_id(third)["110"]["is_deleted"]
    assert third.cursor == format_cursor(T0 + timedelta(days=7))


def test_failed_run_resumed_from_old_cursor_leaves_no_gap(portal: FakeHubspot) -> None:
    hubspot = resource(portal, max_attempts=1)
    first = hubspot.sync(source(), None)
    portal.modify("contacts", "112", T0 + timedelta(days=8), utm_source="google")
    portal.fail_next(DEALS_SEARCH, 500, retry_after=None, message="boom")

    with pytest.raises(HubspotError, match="HTTP 500"):
        hubspot.sync(source(), first.cursor)
    resumed = hubspot.sync(source(), first.cursor)

    assert leads_by_id(resumed)["112"]["utm_source"] == "google"


def test_empty_portal_keeps_the_cursor(fake: FakeHubspot) -> None:
    empty = resource(fake).sync(source(), None)
    assert empty.cursor is None and empty.leads.empty and tuple(empty.deals.columns) == CRM_DEAL_COLUMNS
    assert resource(fake).sync(source(), "2026-03-01T00:00:00+03:00").cursor == "2026-02-28T21:00:00.000Z"


def test_source_config_is_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        HubspotSource(mql_stage="x", unknown=1)
    with pytest.raises(pydantic.ValidationError):
        HubspotSource(utm_properties={"utm_content": "x"})
    custom = HubspotSource(mql_stage="1234", utm_properties={"utm_source": "src"})
    assert (
        "hs_lifecyclestage_1234_date" in custom.contact_properties() and "src" in custom.contact_properties()
    )
    assert "email" not in custom.contact_properties()


def test_is_configured() -> None:
    assert not HubspotResource().is_configured()
    assert not HubspotResource(access_token=" ").is_configured()
    assert HubspotResource(access_token="pat-x").is_configured()
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN"):
        HubspotResource().sync(HubspotSource(), None)


def test_module_does_not_import_the_sdk() -> None:
    code = (
        "import sys, resources.hubspot; assert 'hubspot' not in sys.modules and 'urllib3' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def _contains(batch: CrmBatch, needles: tuple[str, ...]) -> bool:
    text = batch.leads.to_csv() + batch.deals.to_csv()
    return any(n in text for n in needles)


def test_fake_refuses_to_page_past_ten_thousand_like_hubspot(fake: FakeHubspot) -> None:
    import hubspot
    from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

    api = hubspot.Client.create(access_token=fake.token, host=fake.url).crm.contacts.search_api
    with pytest.raises(ApiException) as info:
        api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=200, after="9900"))
    assert info.value.status == 400
