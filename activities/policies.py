"""The policy register, as an activity: verifying a caller's identity (policy number + postcode).

Read-only and idempotent. The register is a small SQLite table seeded with demo policies the first
time it is used (`DEMO_POLICIES`), so a fresh stack can take an authenticated call.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity

from realtime.engines.grammars import normalize_digits

DEMO_POLICIES: tuple[tuple[str, str, str], ...] = (
    # (policy number, holder, postcode)
    ("PA123456", "Jane Doe", "62704"),
    ("PB654321", "John Smith", "10001"),
    ("PC111222", "Maria Garcia", "94110"),
)


@dataclass
class VerifyIdentityInput:
    policy_number: str
    postcode: str
    workflow_id: str = ""


@dataclass
class VerifyIdentityResult:
    verified: bool
    policy_number: str = ""
    holder_name: str = ""
    reason: str = ""


def _clean(value: str) -> str:
    return normalize_digits(value) if not value.replace(" ", "").isalnum() else value.replace(" ", "").upper()


class PolicyRegister:
    """The demo policies in SQLite (`policies` table), created and seeded on first use."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._seeded = False

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=30)
        if not self._seeded:
            with conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS policies "
                    "(policy_number TEXT PRIMARY KEY, holder_name TEXT NOT NULL, postcode TEXT NOT NULL)"
                )
                conn.executemany("INSERT OR IGNORE INTO policies VALUES (?, ?, ?)", DEMO_POLICIES)
            self._seeded = True
        return conn

    def _lookup(self, policy_number: str) -> tuple[str, str, str] | None:
        """The policy, by its number; failing that, the one policy with the same digits (spoken
        letters are often misheard: "p a" comes out as "b a"; the postcode is the second factor)."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT policy_number, holder_name, postcode FROM policies WHERE policy_number = ?", (policy_number,)
            ).fetchall()
            digits = policy_number[-6:]
            if not rows and len(digits) == 6 and digits.isdigit():
                rows = conn.execute(
                    "SELECT policy_number, holder_name, postcode FROM policies WHERE substr(policy_number, 3) = ?",
                    (digits,),
                ).fetchall()
        finally:
            conn.close()
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if len(rows) == 1 else None

    async def verify(self, policy_number: str, postcode: str) -> VerifyIdentityResult:
        policy, code = _clean(policy_number), _clean(postcode)
        found = await asyncio.to_thread(self._lookup, policy)
        if found is None:
            return VerifyIdentityResult(verified=False, policy_number=policy, reason="unknown policy")
        number, holder, expected = found
        if code != expected:
            return VerifyIdentityResult(verified=False, policy_number=policy, reason="postcode does not match")
        return VerifyIdentityResult(verified=True, policy_number=number, holder_name=holder)


class PolicyActivities:
    def __init__(self, register: PolicyRegister) -> None:
        self._register = register

    @activity.defn(name="verify_identity")
    async def verify_identity(self, request: VerifyIdentityInput) -> VerifyIdentityResult:
        result = await self._register.verify(request.policy_number, request.postcode)
        activity.logger.info(
            "identity check for %s on %s: %s", request.workflow_id, result.policy_number, result.verified
        )
        return result
