"""The Temporal worker process: runs `CallWorkflow` and the activities it orders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from temporalio.client import Client
from temporalio.worker import Worker

from activities.acs import AcsActivities, AcsEndpoints
from activities.agents import AgentActivities
from activities.archival import ArchiveActivities
from activities.claims import ClaimsActivities
from activities.follow_up import FollowUpActivities
from activities.policies import PolicyActivities, PolicyRegister
from activities.storage import build_archive
from agents import load_scenario
from switchboard.logging import configure_logging
from switchboard.settings import Settings, get_settings
from workers.health import serve_health
from workflows.call import CallWorkflow
from workflows.claim_follow_up import ClaimFollowUpWorkflow
from workflows.contracts import FollowUpPolicy

logger = logging.getLogger(__name__)

WORKFLOWS = [CallWorkflow, ClaimFollowUpWorkflow]


def acs_endpoints(settings: Settings) -> AcsEndpoints:
    return AcsEndpoints(
        callback_base_url=settings.acs.callback_base_url,
        media_base_url=settings.acs.media_base_url,
        token_secret=settings.acs.media_token_secret.get_secret_value(),
        token_ttl_seconds=settings.acs.media_token_ttl_seconds,
        audio_format=settings.acs.audio_format,
        audio_channel_type=settings.acs.audio_channel_type,
    )


def follow_up_policy(settings: Settings) -> FollowUpPolicy:
    claims = settings.claims
    return FollowUpPolicy(
        reminder_intervals_seconds=list(claims.reminder_intervals_seconds),
        escalate_after_reminders=claims.escalate_after_reminders,
        outbound_agent=claims.follow_up_agent,
        outbound_caller_id=claims.outbound_caller_id,
        continue_as_new_after_events=claims.continue_as_new_after_events,
    )


def call_automation_client(settings: Settings) -> CallAutomationClient:
    # Built from endpoint + key, not a connection string: from a connection string the SDK forces https.
    return CallAutomationClient(settings.acs.endpoint, AzureKeyCredential(settings.acs.access_key.get_secret_value()))


@asynccontextmanager
async def call_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A running worker for the call task queue, with its ACS client closed on exit."""
    # Agents' configuration is checked before anything starts: a bad file names itself and its field.
    scenario = load_scenario(settings.agents.config_dir)
    async with call_automation_client(settings) as acs, build_archive(settings) as archive:
        acs_activities = AcsActivities(acs, acs_endpoints(settings), human_queue_number=settings.acs.human_queue_number)
        archive_activities = ArchiveActivities(archive, redact_pii=settings.archive.redact_pii)
        claims = ClaimsActivities(archive, follow_up=follow_up_policy(settings))
        follow_up = FollowUpActivities(archive)
        agent_activities = AgentActivities(scenario)
        policies = PolicyActivities(PolicyRegister(settings.data_dir / "policies.sqlite3"))
        worker = Worker(
            client,
            task_queue=settings.temporal.task_queue,
            workflows=WORKFLOWS,
            activities=[
                acs_activities.answer_call,
                acs_activities.hang_up,
                acs_activities.transfer_call,
                acs_activities.place_call,
                archive_activities.archive_call,
                claims.file_claim,
                follow_up.record_claim_event,
                agent_activities.agent_scenario,
                policies.verify_identity,
            ],
        )
        async with worker:
            yield worker


async def run(settings: Settings) -> None:
    client = await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace)
    async with call_worker(client, settings):
        server = await serve_health(
            "127.0.0.1",
            settings.temporal.worker_health_port,
            lambda: {"status": "ok", "task_queue": settings.temporal.task_queue},
        )
        logger.info("temporal worker polling %s", settings.temporal.task_queue)
        async with server:
            await asyncio.Event().wait()


def main() -> None:
    configure_logging()
    try:
        asyncio.run(run(get_settings()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
