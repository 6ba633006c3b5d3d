"""Turns the call workflow lacks, recovered from the live transcript (DESIGN 2.8).

`recover_turns` reads the turns the dead worker published to Redis
(the live transcript list) that never reached the workflow as signals: a turn the worker finished
is not lost because the process holding its signal died or its signal queue overflowed.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity
from temporalio.converter import value_to_type

from realtime.live import turns_key
from workflows.contracts import RecoveredTurns, RecoverTurnsInput, Turn


class RecoveryActivities:
    def __init__(self, redis_client: Any) -> None:
        self._redis = redis_client

    @activity.defn(name="recover_turns")
    async def recover_turns(self, request: RecoverTurnsInput) -> RecoveredTurns:
        """The published turns whose sequence the workflow lacks, in order, each once. Redis down is
        an error Temporal retries; an unreadable entry is skipped and logged, never fatal."""
        known = set(request.known_sequences)
        raw_entries = await self._redis.lrange(turns_key(request.correlation_id), 0, -1)
        found: dict[int, Turn] = {}
        for raw in raw_entries:
            try:
                message = json.loads(raw)
                turn = value_to_type(Turn, message["turn"])
            except (ValueError, KeyError, TypeError) as exc:
                activity.logger.warning("skipping unreadable live turn of %s: %s", request.correlation_id, exc)
                continue
            if turn.sequence > 0 and turn.sequence not in known:
                found.setdefault(turn.sequence, turn)
        turns = [found[sequence] for sequence in sorted(found)]
        if turns:
            activity.logger.info(
                "recovered %d turn(s) of %s from the live transcript", len(turns), request.correlation_id
            )
        return RecoveredTurns(turns=turns)
