"""The Temporal worker process: runs `CallWorkflow` and the activities it orders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from temporalio.client import Client
from temporalio.worker import Worker

from activities.acs import AcsActivities, AcsEndpoints
from activities.agents import AgentActivities
from activities.appointments import AppointmentActivities, AppointmentBook
from activities.archival import ArchiveActivities
from activities.call_policy import CallPolicyActivities
from activities.claims import ClaimsActivities
from activities.follow_up import FollowUpActivities
from activities.policies import PolicyActivities, PolicyRegister
from activities.recording import RecordingActivities
from activities.recovery import RecoveryActivities
from activities.storage import build_archive, build_blob_store
from activities.summary import CallSummarizer, ChatSummarizer, OutcomeSummarizer, SummaryActivities
from agents import Scenario, load_scenario
from switchboard.logging import configure_logging
from switchboard.settings import Settings, get_settings
from workers.health import serve_health
from workflows.call import CallWorkflow
from workflows.claim_follow_up import ClaimFollowUpWorkflow
from workflows.contracts import CallPolicy, FollowUpPolicy, RecoveryPolicy

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


def call_policy(settings: Settings) -> CallPolicy:
    realtime = settings.realtime
    return CallPolicy(
        recovery=RecoveryPolicy(
            action=realtime.recovery_action,
            transfer_target=realtime.recovery_transfer_target,
            heartbeat_timeout_seconds=realtime.watchdog_heartbeat_timeout_seconds,
            confirm_seconds=realtime.watchdog_confirm_seconds,
            callback_delay_seconds=realtime.recovery_callback_delay_seconds,
            callback_caller_id=settings.claims.outbound_caller_id,
            voice=settings.speech.azure_voice,
        ),
        server_recording=settings.acs.server_recording,
        recording_file_timeout_seconds=settings.acs.recording_file_timeout_seconds,
    )


def summary_activities(settings: Settings, scenario: Scenario) -> SummaryActivities:
    """The summariser follows the brain: the chat model (per agent summary route) or the offline one."""
    summarizer: CallSummarizer = OutcomeSummarizer()
    if settings.llm.brain == "openai":
        from realtime.engines.openai_brain import client_from_settings

        summarizer = ChatSummarizer(client_from_settings(settings.llm))
    routes = {name: agent.models["summary"] for name, agent in scenario.agents.items() if "summary" in agent.models}
    return SummaryActivities(summarizer, summary_models=routes, default_model=settings.llm.model)


def call_automation_client(settings: Settings) -> CallAutomationClient:
    # Built from endpoint + key, not a connection string: from a connection string the SDK forces https.
    credential = AzureKeyCredential(settings.acs.access_key.get_secret_value())
    if settings.acs.recording_storage_redirect:
        # Local runs: the emulator serves the recording files the SDK will only fetch from ACS's host.
        from emulators.acs import DEFAULT_STORAGE_URL, StorageRedirectTransport

        transport = StorageRedirectTransport(
            storage_url=DEFAULT_STORAGE_URL, target=settings.acs.recording_storage_redirect
        )
        return CallAutomationClient(settings.acs.endpoint, credential, transport=transport)
    return CallAutomationClient(settings.acs.endpoint, credential)


@asynccontextmanager
async def call_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A running worker for the call task queue, with its ACS client closed on exit."""
    # Agents' configuration is checked before anything starts: a bad file names itself and its field.
    scenario = load_scenario(settings.agents.config_dir, scenario=settings.agents.scenario)
    redis_client = aioredis.from_url(settings.redis.url, socket_connect_timeout=1, socket_timeout=2)
    async with (
        call_automation_client(settings) as acs,
        build_archive(settings) as archive,
        build_blob_store(settings) as blobs,
        redis_client,
    ):
        acs_activities = AcsActivities(acs, acs_endpoints(settings), human_queue_number=settings.acs.human_queue_number)
        archive_activities = ArchiveActivities(archive, redact_pii=settings.archive.redact_pii)
        claims = ClaimsActivities(archive, follow_up=follow_up_policy(settings))
        follow_up = FollowUpActivities(archive)
        agent_activities = AgentActivities(scenario)
        policies = PolicyActivities(PolicyRegister(settings.data_dir / "policies.sqlite3"))
        appointments = AppointmentActivities(AppointmentBook(settings.data_dir / "appointments.sqlite3"))
        recovery = RecoveryActivities(redis_client)
        policy = CallPolicyActivities(call_policy(settings))
        recording = RecordingActivities(acs, blobs)
        summaries = summary_activities(settings, scenario)
        worker = Worker(
            client,
            task_queue=settings.temporal.task_queue,
            workflows=WORKFLOWS,
            activities=[
                acs_activities.answer_call,
                acs_activities.hang_up,
                acs_activities.transfer_call,
                acs_activities.place_call,
                acs_activities.play_text,
                archive_activities.archive_call,
                claims.file_claim,
                follow_up.record_claim_event,
                agent_activities.agent_scenario,
                policies.verify_identity,
                appointments.find_slots,
                appointments.book_appointment,
                recovery.recover_turns,
                policy.call_policy,
                recording.start_recording,
                recording.store_recording,
                summaries.summarize_call,
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
