"""Features, entitlements, grants, values and resets through the official OpenMeter Python client, unchanged."""
import datetime

import pytest
from corehttp.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from corehttp.rest import HttpRequest
from openmeter import Client
from openmeter.models import (CustomerCreate, CustomerReplaceUpdate, CustomerUsageAttribution,
                              EntitlementBooleanCreateInputs, EntitlementGrantCreateInputV2,
                              EntitlementMeteredV2CreateInputs, FeatureCreateInputs, MeterCreate,
                              RecurringPeriodCreateInput, ResetEntitlementUsageInput, SubjectUpsert)

UTC = datetime.timezone.utc


def setup(client):
    client.meters.create(MeterCreate(slug="tokens_total", aggregation="SUM", event_type="prompt",
                                     value_property="$.tokens"))
    return client.features.create(FeatureCreateInputs(key="tokens", name="Tokens", meter_slug="tokens_total"))


def start_of_metering():
    now = datetime.datetime.now(UTC).replace(second=0, microsecond=0)
    return now - datetime.timedelta(days=2)


def ingest(client, event_id, subject, tokens, time):
    client.events.ingest_events([{"id": event_id, "source": "compat", "specversion": "1.0", "type": "prompt",
                                  "subject": subject, "time": time.isoformat().replace("+00:00", "Z"),
                                  "data": {"tokens": tokens}}])


def test_features(node):
    client = Client(endpoint=node)
    feature = setup(client)
    assert feature.key == "tokens"
    assert client.features.get("tokens").id == feature.id
    assert [f["key"] for f in client.features.list()] == ["tokens"]
    with pytest.raises(ResourceExistsError):
        client.features.create(FeatureCreateInputs(key="tokens", name="Again"))
    client.features.delete(feature.id)
    with pytest.raises(ResourceNotFoundError):
        client.features.get("tokens")


def test_v2_entitlement_grants_value_and_reset(single_node):
    client = Client(endpoint=single_node)
    setup(client)
    start = start_of_metering()
    created = client.customer_entitlements_v2.post("acme", EntitlementMeteredV2CreateInputs(
        type="metered", feature_key="tokens", measure_usage_from=start,
        usage_period=RecurringPeriodCreateInput(interval="MONTH", anchor=start)))
    assert created["type"] == "metered"
    grant = client.customer_entitlement_v2.create_customer_entitlement_grant(
        "acme", "tokens", EntitlementGrantCreateInputV2(amount=100, effective_at=start))
    assert grant.amount == 100
    assert grant.max_rollover_amount == 100
    ingest(client, "1", "acme", 30, start + datetime.timedelta(hours=1))
    ingest(client, "2", "acme", 12.5, start + datetime.timedelta(hours=2))
    value = client.customer_entitlement_v2.get_customer_entitlement_value("acme", "tokens")
    assert (value.has_access, value.balance, value.usage, value.overage) == (True, 57.5, 42.5, 0)
    assert value.total_available_grant_amount == 100
    v1 = client.customer_entitlement.get_customer_entitlement_value("acme", "tokens")
    assert v1.balance == 57.5
    assert client.customer_entitlement.get_customer_entitlement_value("acme", "nothing").has_access is False
    grants = client.customer_entitlement_v2.get_grants("acme", "tokens")
    assert [g.id for g in grants.items_property] == [grant.id]
    assert [g.id for g in client.grants.list(subject=["acme"])] == [grant.id]
    assert [e["id"] for e in client.entitlements.list(subject=["acme"])] == [created["id"]]

    history = client.customer_entitlement_v2.get_customer_entitlement_history("acme", "tokens", window_size="DAY")
    assert sum(window["usage"] for window in history["windowedHistory"]) == 42.5
    assert [segment["usage"] for segment in history["burndownHistory"]] == [42.5]

    client.customer_entitlement_v2.reset_customer_entitlement("acme", "tokens", ResetEntitlementUsageInput())
    after = client.customer_entitlement_v2.get_customer_entitlement_value("acme", "tokens")
    assert (after.balance, after.usage, after.overage) == (57.5, 0, 0)
    with pytest.raises(HttpResponseError) as error:
        client.customer_entitlement_v2.reset_customer_entitlement("acme", "tokens", ResetEntitlementUsageInput())
    assert error.value.status_code == 400

    client.grants.delete(grant.id)
    assert client.customer_entitlement_v2.get_customer_entitlement_value("acme", "tokens").has_access is False


def test_customers_and_subject_upsert(single_node):
    client = Client(endpoint=single_node)
    setup(client)
    start = start_of_metering()
    customer = client.customers.create(CustomerCreate(
        name="Acme", key="acme", usage_attribution=CustomerUsageAttribution(subject_keys=["acme-web", "acme-api"])))
    assert (customer.key, customer.usage_attribution.subject_keys) == ("acme", ["acme-web", "acme-api"])
    assert client.customers.get(customer.id).name == "Acme"
    with pytest.raises(ResourceExistsError):
        client.customers.create(CustomerCreate(name="Again", key="acme"))
    client.customer_entitlements_v2.post("acme", EntitlementMeteredV2CreateInputs(
        type="metered", feature_key="tokens", measure_usage_from=start,
        usage_period=RecurringPeriodCreateInput(interval="MONTH", anchor=start)))
    client.customer_entitlement_v2.create_customer_entitlement_grant(
        "acme", "tokens", EntitlementGrantCreateInputV2(amount=100, effective_at=start))
    ingest(client, "1", "acme-web", 30, start + datetime.timedelta(hours=1))
    ingest(client, "2", "acme-api", 20, start + datetime.timedelta(hours=1))
    value = client.customer_entitlement_v2.get_customer_entitlement_value(customer.id, "tokens")
    assert (value.balance, value.usage) == (50, 50)
    updated = client.customers.update("acme", CustomerReplaceUpdate(
        name="Acme Inc", key="acme", usage_attribution=CustomerUsageAttribution(subject_keys=["acme-web"])))
    assert updated.name == "Acme Inc"
    assert client.customer_entitlement_v2.get_customer_entitlement_value("acme", "tokens").usage == 30
    access = client.customer.get_customer_access("acme")
    assert (access.entitlements["tokens"].has_access, access.entitlements["tokens"].balance) == (True, 70)
    page = client.customers.list(page_size=10)
    assert (page.total_count, [c.key for c in page.items_property]) == (1, ["acme"])
    subjects = client.subjects.upsert([SubjectUpsert(key="solo", display_name="Solo")])
    assert [s.key for s in subjects] == ["solo"]
    assert client.customers.get("solo").name == "Solo"
    client.customers.delete("solo")
    with pytest.raises(ResourceNotFoundError):
        client.customers.get("solo")
    with pytest.raises(HttpResponseError) as held:
        client.customers.delete("acme")
    assert held.value.status_code == 409


def test_enforcement_refuses_usage_without_access(node):
    client = Client(endpoint=node)
    client.meters.create(MeterCreate(slug="tokens_total", aggregation="SUM", event_type="prompt",
                                     value_property="$.tokens"))
    created = client.send_request(HttpRequest("POST", "/api/v1/features", json={
        "key": "tokens", "name": "Tokens", "meterSlug": "tokens_total", "enforcement": "reject"}))
    assert created.status_code == 201
    start = start_of_metering()
    client.customer_entitlements_v2.post("acme", EntitlementMeteredV2CreateInputs(
        type="metered", feature_key="tokens", measure_usage_from=start, issue_after_reset=10,
        usage_period=RecurringPeriodCreateInput(interval="MONTH", anchor=start)))
    now = datetime.datetime.now(UTC)
    ingest(client, "1", "acme", 10, now)
    with pytest.raises(HttpResponseError) as refused:
        ingest(client, "2", "acme", 1, now)
    assert refused.value.status_code == 403
    value = client.customer_entitlement_v2.get_customer_entitlement_value("acme", "tokens")
    assert (value.has_access, value.balance, value.usage) == (False, 0, 10)


def test_v1_subject_routes_through_raw_requests(node):
    client = Client(endpoint=node)
    setup(client)
    client.features.create(FeatureCreateInputs(key="sso", name="SSO"))
    created = client.send_request(HttpRequest("POST", "/api/v1/subjects/acme/entitlements",
                                              json={"type": "boolean", "featureKey": "sso"}))
    assert created.status_code == 201
    value = client.send_request(HttpRequest("GET", "/api/v1/subjects/acme/entitlements/sso/value"))
    assert value.json() == {"hasAccess": True}
    again = client.send_request(HttpRequest("POST", "/api/v1/subjects/acme/entitlements",
                                            json={"type": "boolean", "featureKey": "sso"}))
    assert again.status_code == 409
    assert again.json()["extensions"]["conflictingEntityId"] == created.json()["id"]
    overridden = client.customer_entitlements_v2.override("acme", "sso", EntitlementBooleanCreateInputs(
        type="boolean", feature_key="sso"))
    assert overridden["id"] != created.json()["id"]


def test_notification_channels_rules_and_events(single_node):
    from openmeter.models import (NotificationChannelWebhookCreateRequest,
                                  NotificationRuleBalanceThresholdCreateRequest,
                                  NotificationRuleBalanceThresholdValue)
    client = Client(endpoint=single_node)
    setup(client)
    channel = client.notification_channels.create(NotificationChannelWebhookCreateRequest(
        type="WEBHOOK", name="ops", url="http://127.0.0.1:9/hook"))
    assert channel["signingSecret"].startswith("whsec_")
    rule = client.notification_rules.create(NotificationRuleBalanceThresholdCreateRequest(
        type="entitlements.balance.threshold", name="80%", channels=[channel["id"]], features=["tokens"],
        thresholds=[NotificationRuleBalanceThresholdValue(type="PERCENT", value=80)]))
    assert rule["thresholds"] == [{"type": "PERCENT", "value": 80}]
    assert [r["id"] for r in client.notification_rules.list().items_property] == [rule["id"]]
    event = client.notification_rules.test(rule["id"])
    assert event.type == "entitlements.balance.threshold"
    listed = client.notification_events.list()
    assert [e.id for e in listed.items_property] == [event.id]
    assert client.notification_events.get(event.id).annotations == {"notification.rule.test": "true"}
    with pytest.raises(HttpResponseError) as error:
        client.notification_channels.delete(channel["id"])
    assert error.value.status_code == 400
