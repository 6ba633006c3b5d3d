"""The clinic's diary: free times come from the seeded opening hours minus bookings; a booking is made
once per idempotency key (its confirmation code derived from the key); a taken time, an unknown
patient and a time the clinic does not offer are refused with typed, non-retryable errors."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.appointments import (
    AppointmentActivities,
    AppointmentBook,
    BookAppointmentInput,
    FindSlotsInput,
    confirmation_code_for,
)

TODAY = date(2026, 3, 10)  # a Tuesday
MONDAY = "2026-03-16"
JANE = "1980-07-04"


@pytest.fixture
def book(tmp_path: Path) -> AppointmentBook:
    return AppointmentBook(tmp_path / "data" / "appointments.sqlite3", today=lambda: TODAY)


def booking(key: str, *, time: str = "09:00", day: str = MONDAY, born: str = JANE) -> BookAppointmentInput:
    return BookAppointmentInput(idempotency_key=key, day=day, time=time, date_of_birth=born, workflow_id=key)


async def test_free_times_are_the_opening_hours_of_that_day_and_the_patient_is_named(book: AppointmentBook) -> None:
    found = await book.find(FindSlotsInput(day=MONDAY, date_of_birth=JANE))
    assert found.patient_found and found.patient_name == "Jane Doe"
    assert found.slots[:3] == ["09:00", "09:30", "10:00"] and found.slots == sorted(found.slots)
    saturday = await book.find(FindSlotsInput(day="2026-03-14"))
    assert saturday.slots[-1] == "11:30" and not saturday.patient_found
    assert (await book.find(FindSlotsInput(day="2026-03-15"))).slots == []  # closed on Sundays
    assert (await book.find(FindSlotsInput(day="2026-03-09"))).slots == []  # the past
    assert not (await book.find(FindSlotsInput(day=MONDAY, date_of_birth="1999-01-01"))).patient_found


async def test_the_same_key_books_once_with_a_code_derived_from_the_key(book: AppointmentBook) -> None:
    first = await book.book(booking("call-a/book_appointment"))
    again = await book.book(booking("call-a/book_appointment", time="10:00"))  # a retry, even with other details
    assert first.created and not again.created
    assert first.confirmation_code == again.confirmation_code == confirmation_code_for("call-a/book_appointment")
    assert first.confirmation_code.startswith("APT-") and len(first.confirmation_code) == 10
    assert (again.day, again.time, again.patient_name) == (MONDAY, "09:00", "Jane Doe")
    found = await book.find(FindSlotsInput(day=MONDAY, date_of_birth=JANE))
    assert found.slots[0] == "09:30"  # 09:00 is taken, 10:00 was never booked


async def test_concurrent_duplicates_book_once(book: AppointmentBook) -> None:
    results = await asyncio.gather(*(book.book(booking("call-b/book_appointment")) for _ in range(5)))
    assert sum(r.created for r in results) == 1
    assert len({r.confirmation_code for r in results}) == 1


async def test_a_taken_time_is_refused_with_a_clear_error(book: AppointmentBook) -> None:
    await book.book(booking("call-a/book_appointment"))
    with pytest.raises(ApplicationError) as refused:
        await book.book(booking("call-b/book_appointment", born="1975-11-23"))
    assert refused.value.type == "SlotTaken" and refused.value.non_retryable
    assert refused.value.message == "09:00 on 2026-03-16 is already taken"
    # The refused key books nothing, so it may book another time afterwards.
    other = await book.book(booking("call-b/book_appointment", time="09:30", born="1975-11-23"))
    assert other.created and other.patient_name == "John Smith"


@pytest.mark.parametrize(
    ("request_", "kind", "message"),
    [
        (booking("k", born="1999-01-01"), "UnknownPatient", "no registered patient was born on 1999-01-01"),
        (booking("k", time="08:00"), "InvalidAppointment", "the clinic has no appointment at 08:00 on 2026-03-16"),
        (booking("k", day="2026-03-15"), "InvalidAppointment", "the clinic has no appointment at 09:00 on 2026-03-15"),
        (booking("k", day="2026-03-09"), "InvalidAppointment", "2026-03-09 is in the past"),
        (booking("k", day="next monday"), "InvalidAppointment", "day 'next monday' is not an ISO date"),
    ],
)
async def test_bookings_the_clinic_cannot_take_are_refused(
    book: AppointmentBook, request_: BookAppointmentInput, kind: str, message: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        await book.book(request_)
    assert (refused.value.type, refused.value.message, refused.value.non_retryable) == (kind, message, True)


async def test_the_activities_run_in_an_activity_environment(book: AppointmentBook) -> None:
    activities = AppointmentActivities(book)
    env = ActivityEnvironment()
    found = await env.run(activities.find_slots, FindSlotsInput(day=MONDAY, date_of_birth=JANE))
    booked = await env.run(activities.book_appointment, booking("call-c/book_appointment", time=found.slots[0]))
    assert booked.created and booked.time == "09:00"
