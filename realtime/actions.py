"""What the media session asks of the call workflow: the "ask the workflow" actions.

The realtime worker decides and speaks on its own; hanging up, transferring, handing off to another
agent and durable tools are the workflow's to decide (Temporal updates). The session is given a
`CallActions` per call (built by an `ActionsFactory` from the call's workflow id), so tests inject a
fake and the worker injects the Temporal implementation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from workflows.contracts import (
    HandoffDecision,
    HandoffRequest,
    HangUpRequest,
    HangUpResult,
    ToolCall,
    ToolResult,
    TransferRequest,
    TransferResult,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionResult:
    accepted: bool
    detail: str = ""


class CallActions(Protocol):
    async def hang_up(self, *, reason: str) -> ActionResult: ...

    async def transfer(self, *, target: str, reason: str) -> ActionResult: ...

    async def handoff(self, *, target_agent: str, reason: str) -> ActionResult: ...

    async def run_tool(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]: ...


ActionsFactory = Callable[[str], CallActions]
"""Builds one call's actions from its workflow id."""


class ActionsToolRunner:
    """A `ToolRunner` (engine interface) that runs every tool through the workflow."""

    def __init__(self, actions: CallActions) -> None:
        self._actions = actions

    async def run(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        return await self._actions.run_tool(name, arguments)


class RefusingCallActions:
    """Actions for a worker not connected to any workflow: everything is refused (and logged)."""

    def __init__(self, workflow_id: str = "") -> None:
        self.workflow_id = workflow_id

    async def hang_up(self, *, reason: str) -> ActionResult:
        logger.warning(
            "call %s: hang-up (%s) requested but no workflow actions are configured", self.workflow_id, reason
        )
        return ActionResult(accepted=False, detail="no workflow actions configured")

    async def transfer(self, *, target: str, reason: str) -> ActionResult:
        return ActionResult(accepted=False, detail="no workflow actions configured")

    async def handoff(self, *, target_agent: str, reason: str) -> ActionResult:
        return ActionResult(accepted=False, detail="no workflow actions configured")

    async def run_tool(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"error": "tools are not available"}


def _reason(err: BaseException) -> str:
    """A rejected update's reason is its cause (the validator's message), not "Workflow update failed"."""
    return str(getattr(err, "cause", None) or err) or type(err).__name__


UpdateCaller = Callable[[str, str, Any, type], Awaitable[Any]]
"""`(workflow_id, update_name, payload, result_type) -> result`: a Temporal client's `execute_update`."""


class WorkflowCallActions:
    """Actions as Temporal updates on the call workflow: `hang_up`, `request_transfer`,
    `request_handoff` (validated against the agents' scenario graph) and `run_tool` (durable tools
    such as `file_claim`)."""

    def __init__(self, workflow_id: str, execute_update: UpdateCaller) -> None:
        self.workflow_id = workflow_id
        self._execute_update = execute_update

    async def hang_up(self, *, reason: str) -> ActionResult:
        try:
            result: HangUpResult = await self._execute_update(
                self.workflow_id, "hang_up", HangUpRequest(reason=reason, requested_by="agent"), HangUpResult
            )
        except Exception as err:  # rejected by the validator (already ended) or unreachable
            logger.warning("call %s: hang-up refused: %s", self.workflow_id, err)
            return ActionResult(accepted=False, detail=str(err))
        return ActionResult(accepted=result.accepted, detail=result.status)

    async def transfer(self, *, target: str, reason: str) -> ActionResult:
        try:
            result: TransferResult = await self._execute_update(
                self.workflow_id,
                "request_transfer",
                TransferRequest(target=target, reason=reason, requested_by="agent"),
                TransferResult,
            )
        except Exception as err:  # rejected by the validator (not connected, ended, one in flight)
            logger.warning("call %s: transfer refused: %s", self.workflow_id, _reason(err))
            return ActionResult(accepted=False, detail=_reason(err))
        return ActionResult(accepted=result.accepted, detail=result.reason or result.status)

    async def handoff(self, *, target_agent: str, reason: str) -> ActionResult:
        try:
            result: HandoffDecision = await self._execute_update(
                self.workflow_id,
                "request_handoff",
                HandoffRequest(target_agent=target_agent, reason=reason, requested_by="agent"),
                HandoffDecision,
            )
        except Exception as err:  # refused by the validator (not in the scenario graph, call ended)
            logger.warning("call %s: handoff to %s refused: %s", self.workflow_id, target_agent, _reason(err))
            return ActionResult(accepted=False, detail=_reason(err))
        return ActionResult(accepted=result.accepted, detail=result.agent)

    async def run_tool(self, name: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            result: ToolResult = await self._execute_update(
                self.workflow_id, "run_tool", ToolCall(name=name, arguments=dict(arguments)), ToolResult
            )
        except Exception as err:  # a rejected update (validator) or an unreachable workflow
            logger.warning("call %s: tool %s failed: %s", self.workflow_id, name, err)
            return {"error": str(err) or type(err).__name__}
        return result.result if result.ok else {"error": result.error}
