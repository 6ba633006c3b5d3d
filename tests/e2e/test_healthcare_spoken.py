"""A spoken call to the clinic on the embedded engines, in the healthcare scenario: the appointments
agent greets, takes the date of birth and the day, offers the first free time from the diary
(`find_slots`), books it on "yes" through the durable `book_appointment` tool exactly once, reads the
time and the confirmation code back and says goodbye."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.client import Client

from realtime.engines.scripted_appointments import say_day, say_time
from switchboard.cli import _answer
from switchboard.settings import Settings
from tests.stack import LocalStack, local_stack
from workflows.contracts import CallStatus

pytestmark = pytest.mark.e2e

BOOKING_CALL: list[dict[str, Any]] = [
    *_answer("july fourth nineteen eighty"),
    *_answer("next monday"),
    *_answer("yes"),
    {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
    {"hang_up": True},
]


@pytest.fixture
async def stack(settings: Settings, temporal_client: Client, redis_port: int) -> AsyncIterator[LocalStack]:
    settings.redis.url = f"redis://127.0.0.1:{redis_port}/0"
    settings.agents.scenario = "healthcare"  # the realtime worker greets with its entry agent: appointments
    async with local_stack(settings, temporal_client) as running:
        yield running


def bookings(settings: Settings) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(settings.data_dir / "appointments.sqlite3") as conn:
        rows = conn.execute("SELECT workflow_id, day, time, confirmation_code FROM bookings").fetchall()
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


async def test_a_spoken_call_books_one_appointment_and_reads_the_code_back(stack: LocalStack) -> None:
    today = date.today()
    monday = today + timedelta(days=(0 - today.weekday()) % 7 or 7)
    call = await stack.emulator.place_call(caller="+15551230601", callee="+15550009999", script=BOOKING_CALL)
    state = await asyncio.wait_for(stack.handle(call.call_id).result(), 240)
    said = [t.agent_text for t in state.turns]

    assert state.status == CallStatus.COMPLETED, [(t.caller_text, t.agent_text) for t in state.turns]
    assert {t.agent for t in state.turns} == {"appointments"} and not state.handoffs
    assert "date of birth" in said[0]
    assert "July 4, 1980" in said[1] and "Which day" in said[1]
    offer = f"The first free time on {say_day(monday)} is {say_time('09:00')}. Shall I book it?"
    assert offer in said[2], said
    # Exactly one booking, recorded by the workflow with the slot and the code it read back.
    assert [(t.name, t.ok) for t in state.tool_calls] == [("find_slots", True), ("book_appointment", True)], said
    booked = state.tool_calls[1]
    assert booked.arguments == {"date_of_birth": "1980-07-04", "day": monday.isoformat(), "time": "09:00"}
    assert booked.result["created"] is True and booked.idempotency_key == f"{state.workflow_id}/book_appointment"
    code = str(booked.result["confirmation_code"])
    assert bookings(stack.settings) == [(state.workflow_id, monday.isoformat(), "09:00", code)]
    spoken_code = " ".join(ch for ch in code if ch.isalnum())
    goodbye = said[3]
    assert f"You're booked for {say_time('09:00')} on {say_day(monday)}" in goodbye, said
    assert spoken_code in goodbye and goodbye.rstrip().endswith("goodbye."), said
    assert len(state.turns) == 4 and [t.sequence for t in state.turns] == [1, 2, 3, 4]
