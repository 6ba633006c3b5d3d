"""The deployment's call-handling policy, handed to each call workflow at its start (workflow code
never reads settings): what to do when the media worker dies, and whether ACS records the call."""

from __future__ import annotations

from temporalio import activity

from workflows.contracts import CallPolicy


class CallPolicyActivities:
    def __init__(self, policy: CallPolicy) -> None:
        self._policy = policy

    @activity.defn(name="call_policy")
    async def call_policy(self) -> CallPolicy:
        return self._policy
