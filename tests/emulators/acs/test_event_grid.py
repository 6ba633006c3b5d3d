"""Event Grid delivery of IncomingCall: validation handshake first, documented schema, redelivery."""

from __future__ import annotations

import asyncio

import pytest

from emulators.acs import AcsEmulator, EventGridValidationError

from .conftest import APP_NUMBER, CALLER, StubApp


async def test_validation_handshake_comes_first_then_incoming_call_in_event_grid_schema(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER, caller_display_name="Jo")
    await stub_app.wait_incoming(1)

    validation, notification = stub_app.event_grid[0], stub_app.event_grid[1]
    assert validation.headers["aeg-event-type"] == "SubscriptionValidation"
    (v_event,) = validation.body
    assert v_event["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert set(v_event["data"]) == {"validationCode", "validationUrl"}

    assert notification.headers["aeg-event-type"] == "Notification"
    (event,) = notification.body
    assert set(event) == {"id", "topic", "subject", "data", "eventType", "eventTime", "metadataVersion", "dataVersion"}
    assert event["eventType"] == "Microsoft.Communication.IncomingCall"
    assert event["eventTime"].endswith("Z")
    data = event["data"]
    assert data["from"] == {"kind": "phoneNumber", "rawId": f"4:{CALLER}", "phoneNumber": {"value": CALLER}}
    assert data["to"]["rawId"] == f"4:{APP_NUMBER}"
    assert data["serverCallId"] == call.server_call_id
    assert data["correlationId"] == call.correlation_id
    assert data["callerDisplayName"] == "Jo"
    assert data["incomingCallContext"].count(".") == 2  # opaque, JWT-looking
    assert emulator.call_by_context(data["incomingCallContext"]) is call


async def test_redelivery_posts_the_same_event_id_n_times_and_validates_once(
    emulator: AcsEmulator, stub_app: StubApp
) -> None:
    await emulator.place_call(caller=CALLER, callee=APP_NUMBER, deliveries=3)
    events = await stub_app.wait_incoming(3)
    assert len({e["id"] for e in events}) == 1
    await emulator.place_call(caller="+15550111111", callee=APP_NUMBER)
    await stub_app.wait_incoming(4)
    await asyncio.sleep(0.1)
    validations = [r for r in stub_app.event_grid if r.headers["aeg-event-type"] == "SubscriptionValidation"]
    assert len(validations) == 1
    assert len(stub_app.notifications()) == 4


async def test_failed_validation_refuses_to_place_the_call(emulator: AcsEmulator, stub_app: StubApp) -> None:
    stub_app.validate = False
    with pytest.raises(EventGridValidationError, match="validationResponse"):
        await emulator.place_call(caller=CALLER, callee=APP_NUMBER)
    assert stub_app.notifications() == []
    assert emulator.calls == []


async def test_callback_delivery_is_retried_after_server_errors(emulator: AcsEmulator, stub_app: StubApp) -> None:
    call = await emulator.place_call(caller=CALLER, callee=APP_NUMBER)
    stub_app.callback_failures_left = 2
    call.answered({"callbackUri": stub_app.callback_url})
    emulator._register_connection(call)
    assert call.call_connection_id is not None
    connected = await stub_app.wait_callback("CallConnected", call.call_connection_id)
    sent = await call.wait_for_event("CallConnected", timeout=5)
    assert sent.event["id"] == connected["id"] and sent.delivery is not None
    assert [a.status for a in sent.delivery.attempts] == [503, 503, 200]
