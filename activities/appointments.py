"""The clinic's diary, as activities: finding free appointment times and booking one exactly once.

A small SQLite store in the data dir, created and seeded on first use: the clinic's weekly opening
times (`CLINIC_HOURS`) and its registered patients (`DEMO_PATIENTS`), so a fresh stack can take a
booking call. A booking is keyed by the idempotency key the workflow gives (its own id and the tool),
and its confirmation code is derived from that key: a retried activity or a duplicated update finds
the booking it already made instead of making another. A time somebody else holds is refused
(`SlotTaken`), as is an unknown patient (`UnknownPatient`) or a time the clinic does not offer
(`InvalidAppointment`); none of them is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

# Opening times by weekday (Monday is 0): 30-minute appointments; closed on Sundays.
_WEEKDAY_TIMES = ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "14:00", "14:30", "15:00", "15:30", "16:00")
CLINIC_HOURS: tuple[tuple[int, str], ...] = (
    *((weekday, time) for weekday in range(5) for time in _WEEKDAY_TIMES),
    *((5, time) for time in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30")),
)
DEMO_PATIENTS: tuple[tuple[str, str, str], ...] = (
    # (patient id, name, date of birth)
    ("PT1001", "Jane Doe", "1980-07-04"),
    ("PT1002", "John Smith", "1975-11-23"),
    ("PT1003", "Maria Garcia", "1992-02-14"),
)

INVALID = "InvalidAppointment"
UNKNOWN_PATIENT = "UnknownPatient"
SLOT_TAKEN = "SlotTaken"


@dataclass
class FindSlotsInput:
    day: str  # ISO date
    date_of_birth: str = ""  # ISO date; names the patient
    workflow_id: str = ""


@dataclass
class FindSlotsResult:
    day: str
    slots: list[str] = field(default_factory=list)  # free times that day, "HH:MM", earliest first
    patient_found: bool = False
    patient_name: str = ""


@dataclass
class BookAppointmentInput:
    idempotency_key: str
    day: str  # ISO date
    time: str  # "HH:MM"
    date_of_birth: str  # ISO date
    workflow_id: str = ""
    caller: str = ""


@dataclass
class BookAppointmentResult:
    confirmation_code: str
    day: str
    time: str
    patient_name: str = ""
    created: bool = True


def confirmation_code_for(idempotency_key: str) -> str:
    """`APT-` and six digits: short enough to read back to a caller, stable for the same key."""
    digest = int(hashlib.sha256(idempotency_key.encode()).hexdigest(), 16)
    return f"APT-{digest % 10**6:06d}"


def _refused(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def _iso_date(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise _refused(f"{what} {value!r} is not an ISO date", INVALID) from err


class AppointmentBook:
    """The clinic's opening times, patients and bookings in SQLite, created and seeded on first use.
    `today` gives the date before which nothing is offered or booked."""

    def __init__(self, path: str | Path, *, today: Callable[[], date] = date.today) -> None:
        self._path = Path(path)
        self._today = today
        self._seeded = False

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        if not self._seeded:
            conn.executescript(
                "BEGIN;"
                "CREATE TABLE IF NOT EXISTS clinic_hours (weekday INTEGER NOT NULL, time TEXT NOT NULL,"
                " PRIMARY KEY (weekday, time));"
                "CREATE TABLE IF NOT EXISTS patients (patient_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
                " date_of_birth TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS bookings (idempotency_key TEXT PRIMARY KEY,"
                " confirmation_code TEXT NOT NULL, patient_id TEXT NOT NULL, day TEXT NOT NULL, time TEXT NOT NULL,"
                " workflow_id TEXT NOT NULL, caller TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (day, time));"
                "COMMIT;"
            )
            with conn:
                conn.executemany("INSERT OR IGNORE INTO clinic_hours VALUES (?, ?)", CLINIC_HOURS)
                conn.executemany("INSERT OR IGNORE INTO patients VALUES (?, ?, ?)", DEMO_PATIENTS)
            self._seeded = True
        return conn

    @staticmethod
    def _patient(conn: sqlite3.Connection, date_of_birth: str) -> tuple[str, str] | None:
        """The one patient born on `date_of_birth` (id, name); None when there is none, or several."""
        query = "SELECT patient_id, name FROM patients WHERE date_of_birth = ?"
        rows = conn.execute(query, (date_of_birth,)).fetchall()
        return (str(rows[0][0]), str(rows[0][1])) if len(rows) == 1 else None

    def _find(self, request: FindSlotsInput) -> FindSlotsResult:
        day = _iso_date(request.day, "day")
        conn = self._connect()
        try:
            patient = self._patient(conn, request.date_of_birth) if request.date_of_birth else None
            slots: list[str] = []
            if day >= self._today():
                rows = conn.execute(
                    "SELECT time FROM clinic_hours WHERE weekday = ? AND time NOT IN"
                    " (SELECT time FROM bookings WHERE day = ?) ORDER BY time",
                    (day.weekday(), day.isoformat()),
                ).fetchall()
                slots = [str(row[0]) for row in rows]
        finally:
            conn.close()
        return FindSlotsResult(
            day=day.isoformat(),
            slots=slots,
            patient_found=patient is not None,
            patient_name=patient[1] if patient else "",
        )

    def _book(self, request: BookAppointmentInput) -> BookAppointmentResult:
        day = _iso_date(request.day, "day")
        born = _iso_date(request.date_of_birth, "date of birth").isoformat()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time: check and insert as one step
            try:
                result = self._book_locked(conn, request, day, born)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
        return result

    def _book_locked(
        self, conn: sqlite3.Connection, request: BookAppointmentInput, day: date, born: str
    ) -> BookAppointmentResult:
        existing = conn.execute(
            "SELECT b.confirmation_code, b.day, b.time, p.name FROM bookings b"
            " JOIN patients p ON p.patient_id = b.patient_id WHERE b.idempotency_key = ?",
            (request.idempotency_key,),
        ).fetchone()
        if existing is not None:
            code, booked_day, booked_time, name = (str(v) for v in existing)
            return BookAppointmentResult(code, booked_day, booked_time, patient_name=name, created=False)
        if day < self._today():
            raise _refused(f"{day.isoformat()} is in the past", INVALID)
        offered = conn.execute(
            "SELECT 1 FROM clinic_hours WHERE weekday = ? AND time = ?", (day.weekday(), request.time)
        ).fetchone()
        if offered is None:
            raise _refused(f"the clinic has no appointment at {request.time} on {day.isoformat()}", INVALID)
        patient = self._patient(conn, born)
        if patient is None:
            raise _refused(f"no registered patient was born on {born}", UNKNOWN_PATIENT)
        code = confirmation_code_for(request.idempotency_key)
        try:
            conn.execute(
                "INSERT INTO bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.idempotency_key,
                    code,
                    patient[0],
                    day.isoformat(),
                    request.time,
                    request.workflow_id,
                    request.caller,
                    datetime.now(UTC).isoformat(),
                ),
            )
        except sqlite3.IntegrityError as err:  # UNIQUE (day, time): another booking holds it
            raise _refused(f"{request.time} on {day.isoformat()} is already taken", SLOT_TAKEN) from err
        return BookAppointmentResult(code, day.isoformat(), request.time, patient_name=patient[1])

    async def find(self, request: FindSlotsInput) -> FindSlotsResult:
        return await asyncio.to_thread(self._find, request)

    async def book(self, request: BookAppointmentInput) -> BookAppointmentResult:
        return await asyncio.to_thread(self._book, request)


class AppointmentActivities:
    def __init__(self, book: AppointmentBook) -> None:
        self._book = book

    @activity.defn(name="find_slots")
    async def find_slots(self, request: FindSlotsInput) -> FindSlotsResult:
        """Read-only: the free times on a day, and whether the date of birth names a patient."""
        return await self._book.find(request)

    @activity.defn(name="book_appointment")
    async def book_appointment(self, request: BookAppointmentInput) -> BookAppointmentResult:
        result = await self._book.book(request)
        activity.logger.info(
            "appointment %s %s for %s (%s)",
            result.confirmation_code,
            "booked" if result.created else "already booked",
            request.workflow_id,
            request.idempotency_key,
        )
        return result
