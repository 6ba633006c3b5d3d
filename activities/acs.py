"""ACS call control as Temporal activities, through the real Call Automation SDK.

`AcsActivities` receives its client when the worker is built, so tests hand it one pointed at the
ACS emulator. ACS 4xx answers are business failures (non-retryable, typed); 5xx, 429 and transport
errors are retried by Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from azure.communication.callautomation import (
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    StreamingTransportType,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from switchboard.media_token import issue_media_token
from workflows.contracts import (
    AnswerCallInput,
    AnswerCallResult,
    HangUpCallInput,
    PlaceCallInput,
    PlaceCallResult,
    PlayTextInput,
    TransferCallInput,
    TransferCallResult,
)

RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class AcsEndpoints:
    """Where ACS reaches us for one call: the callback webhook and the media WebSocket."""

    callback_base_url: str
    media_base_url: str
    token_secret: str
    token_ttl_seconds: int = 4 * 3600
    audio_format: str = "pcm16KMono"
    audio_channel_type: str = "mixed"

    def callback_url(self, correlation_id: str) -> str:
        token = issue_media_token(correlation_id, secret=self.token_secret, ttl_seconds=self.token_ttl_seconds)
        return f"{self.callback_base_url.rstrip('/')}/api/acs/callbacks/{quote(correlation_id)}?token={token}"

    def transport_url(self, correlation_id: str, *, agent: str = "") -> str:
        token = issue_media_token(correlation_id, secret=self.token_secret, ttl_seconds=self.token_ttl_seconds)
        url = f"{self.media_base_url.rstrip('/')}/media/{quote(correlation_id)}?token={token}"
        return f"{url}&agent={quote(agent)}" if agent else url


def acs_failure(err: HttpResponseError, *, failure_type: str) -> Exception:
    """ACS 4xx (but 408/429): a typed, non-retryable business failure; anything else is retried."""
    status = err.status_code or 0
    if 400 <= status < 500 and status not in RETRYABLE_STATUS:
        return ApplicationError(f"ACS answered {status}: {err.message}", type=failure_type, non_retryable=True)
    return err


class AcsActivities:
    def __init__(self, client: CallAutomationClient, endpoints: AcsEndpoints, *, human_queue_number: str = "") -> None:
        self._client = client
        self._endpoints = endpoints
        self._human_queue_number = human_queue_number

    def _media_streaming(self, transport_url: str) -> MediaStreamingOptions:
        return MediaStreamingOptions(
            transport_url=transport_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType(self._endpoints.audio_channel_type),
            start_media_streaming=True,
            enable_bidirectional=True,
            audio_format=self._endpoints.audio_format,
            enable_dtmf_tones=True,
        )

    def transfer_number(self, target: str) -> str:
        """A phone number is used as is; a named queue (`claims-agents`) goes to the human queue."""
        target = target.strip()
        if target.startswith("+") and target[1:].isdigit():
            return target
        return self._human_queue_number

    @activity.defn(name="answer_call")
    async def answer_call(self, request: AnswerCallInput) -> AnswerCallResult:
        transport_url = self._endpoints.transport_url(request.correlation_id)
        media = self._media_streaming(transport_url)
        try:
            properties = await self._client.answer_call(
                request.incoming_call_context,
                self._endpoints.callback_url(request.correlation_id),
                operation_context=request.operation_context or request.workflow_id,
                media_streaming=media,
            )
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="AnswerCallFailed") from err
        activity.logger.info("answered %s as connection %s", request.workflow_id, properties.call_connection_id)
        return AnswerCallResult(
            call_connection_id=properties.call_connection_id or "",
            server_call_id=properties.server_call_id or "",
            transport_url=transport_url.split("?", 1)[0],
        )

    @activity.defn(name="hang_up")
    async def hang_up(self, request: HangUpCallInput) -> None:
        connection = self._client.get_call_connection(request.call_connection_id)
        try:
            await connection.hang_up(is_for_everyone=request.for_everyone)
        except ResourceNotFoundError:
            activity.logger.info("call %s already gone; hang-up is done", request.call_connection_id)
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="HangUpFailed") from err

    @activity.defn(name="transfer_call")
    async def transfer_call(self, request: TransferCallInput) -> TransferCallResult:
        """Ask ACS to transfer the caller; the outcome arrives later as CallTransferAccepted/Failed."""
        number = self.transfer_number(request.target)
        if not number:
            raise ApplicationError(
                f"no phone number for transfer target {request.target!r}", type="TransferFailed", non_retryable=True
            )
        connection = self._client.get_call_connection(request.call_connection_id)
        try:
            result = await connection.transfer_call_to_participant(
                PhoneNumberIdentifier(number), operation_context=request.operation_context
            )
        except ResourceNotFoundError as err:
            raise ApplicationError("call is gone", type="CallNotFound", non_retryable=True) from err
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="TransferFailed") from err
        activity.logger.info("transfer of %s to %s requested", request.call_connection_id, number)
        return TransferCallResult(operation_context=result.operation_context or "", target_number=number)

    @activity.defn(name="place_call")
    async def place_call(self, request: PlaceCallInput) -> PlaceCallResult:
        """An outbound call with media streaming to the realtime worker; ACS callbacks reach the
        workflow through the correlation id in the callback URL."""
        media = self._media_streaming(self._endpoints.transport_url(request.correlation_id, agent=request.agent))
        try:
            properties = await self._client.create_call(
                PhoneNumberIdentifier(request.target),
                self._endpoints.callback_url(request.correlation_id),
                source_caller_id_number=(
                    PhoneNumberIdentifier(request.source_caller_id) if request.source_caller_id else None
                ),
                operation_context=request.operation_context or request.workflow_id,
                media_streaming=media,
            )
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="PlaceCallFailed") from err
        activity.logger.info("placed %s as connection %s", request.workflow_id, properties.call_connection_id)
        return PlaceCallResult(
            call_connection_id=properties.call_connection_id or "", server_call_id=properties.server_call_id or ""
        )

    @activity.defn(name="play_text")
    async def play_text(self, request: PlayTextInput) -> None:
        """Speak a line to everyone on the call through ACS itself (its own text-to-speech), for
        when our media worker cannot: PlayCompleted / PlayFailed arrive later with the operation
        context."""
        connection = self._client.get_call_connection(request.call_connection_id)
        source = TextSource(text=request.text, voice_name=request.voice or None)
        try:
            await connection.play_media(source, play_to="all", operation_context=request.operation_context)
        except ResourceNotFoundError as err:
            raise ApplicationError("call is gone", type="CallNotFound", non_retryable=True) from err
        except HttpResponseError as err:
            raise acs_failure(err, failure_type="PlayFailed") from err
