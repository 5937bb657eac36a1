"""The official OpenMeter Python client (openmeter 1.0.0b236), unchanged, against a live Tally node."""
import datetime

import pytest
from corehttp.exceptions import HttpResponseError
from openmeter import Client
from openmeter.models import Event, MeterCreate, MeterQueryRequest, MeterUpdate

UTC = datetime.timezone.utc
JAN1 = datetime.datetime(2024, 1, 1, tzinfo=UTC)
FEB1 = datetime.datetime(2024, 2, 1, tzinfo=UTC)


def event(event_id, subject, tokens, model, time="2024-01-01T00:00:00Z"):
    return {"id": event_id, "source": "my-app", "specversion": "1.0", "type": "prompt", "subject": subject,
            "time": time, "data": {"tokens": tokens, "model": model}}


def make_meter(client):
    return client.meters.create(MeterCreate(slug="tokens_total", aggregation="SUM", event_type="prompt",
                                            value_property="$.tokens", group_by={"model": "$.model"}))


def test_meter_lifecycle(node):
    client = Client(endpoint=node)
    created = make_meter(client)
    assert created.slug == "tokens_total"
    assert created.aggregation == "SUM"
    assert client.meters.get("tokens_total").id == created.id
    assert [m.slug for m in client.meters.list(page=1, page_size=10, order="ASC", order_by="key", include_deleted=False)] == ["tokens_total"]
    updated = client.meters.update("tokens_total", MeterUpdate(name="Tokens", group_by={"model": "$.model", "kind": "$.kind"}))
    assert updated.name == "Tokens"
    assert sorted(updated.group_by) == ["kind", "model"]
    client.meters.delete("tokens_total")
    with pytest.raises(HttpResponseError) as error:
        client.meters.get("tokens_total")
    assert error.value.status_code == 404


def test_ingest_and_query(node):
    client = Client(endpoint=node)
    make_meter(client)
    client.events.ingest_event(event("ev-1", "customer-1", 10, "gpt-4"))
    client.events.ingest_events([event("ev-2", "customer-1", 5.5, "gpt-4o", "2024-01-02T00:00:00Z"),
                                 event("ev-2", "customer-1", 5.5, "gpt-4o", "2024-01-02T00:00:00Z"),
                                 event("ev-3", "customer-2", "7", "gpt-4", "2024-01-02T12:00:00Z")])
    client.events.ingest_events_json(Event(id="ev-4", source="my-app", specversion="1.0", type="prompt", subject="customer-2",
                                           time=datetime.datetime(2024, 1, 3, tzinfo=UTC), data={"tokens": 1, "model": "gpt-4o"}))

    result = client.meters.query_json("tokens_total", from_parameter=JAN1, to=FEB1, window_size="DAY",
                                      window_time_zone="UTC", subject=["customer-1", "customer-2"], group_by=["model"])
    rows = sorted((r.window_start.isoformat(), r.subject, r.group_by["model"], r.value) for r in result.data)
    assert rows == [
        ("2024-01-01T00:00:00+00:00", "customer-1", "gpt-4", 10),
        ("2024-01-02T00:00:00+00:00", "customer-1", "gpt-4o", 5.5),
        ("2024-01-02T00:00:00+00:00", "customer-2", "gpt-4", 7),
        ("2024-01-03T00:00:00+00:00", "customer-2", "gpt-4o", 1),
    ]

    total = client.meters.query("tokens_total", MeterQueryRequest(from_property=JAN1, to=FEB1))
    assert [r.value for r in total.data] == [23.5]

    filtered = client.meters.query_json("tokens_total", from_parameter=JAN1, to=FEB1, filter_group_by={"model": "gpt-4o"})
    assert [r.value for r in filtered.data] == [6.5]

    advanced = client.meters.query_json("tokens_total", from_parameter=JAN1, to=FEB1,
                                        advanced_meter_group_by_filters={"model": {"$in": ["gpt-4"]}})
    assert [r.value for r in advanced.data] == [17]

    csv = client.meters.query_csv("tokens_total", from_parameter=JAN1, to=FEB1, group_by=["model"])
    assert csv.splitlines() == [
        "window_start,window_end,subject,model,value",
        "2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,,gpt-4,17",
        "2024-01-01T00:00:00Z,2024-02-01T00:00:00Z,,gpt-4o,6.5",
    ]

    assert client.meters.list_subjects("tokens_total") == ["customer-1", "customer-2"]
    assert sorted(s.key for s in client.subjects.list()) == ["customer-1", "customer-2"]
    listed = client.events.list(from_parameter=JAN1, limit=10)
    assert sorted(e.event.id for e in listed) == ["ev-1", "ev-2", "ev-3", "ev-4"]


def test_invalid_event_is_a_problem(node):
    client = Client(endpoint=node)
    with pytest.raises(HttpResponseError) as error:
        client.events.ingest_event({"id": "x", "source": "s", "specversion": "1.0", "type": "prompt"})
    assert error.value.status_code == 400
