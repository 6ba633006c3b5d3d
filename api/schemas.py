"""Pydantic models for what crosses the HTTP edge: Event Grid and ACS CloudEvents in, call state out."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
RECORDING_FILE_STATUS_UPDATED = "Microsoft.Communication.RecordingFileStatusUpdated"
# `/recording/call/{call-id}/serverCallId/{server-call-id}/recordingId/{recording-id}`
RECORDING_SUBJECT = re.compile(
    r"^/recording/call/(?P<call_id>[^/]+)/serverCallId/(?P<server_call_id>[^/]+)/recordingId/(?P<recording_id>[^/]+)$"
)

# Call Automation callback events we route to the call workflow. Anything else is refused with 400.
ACS_CALLBACK_TYPES = frozenset(
    f"Microsoft.Communication.{name}"
    for name in (
        "CallConnected",
        "CallDisconnected",
        "CallTransferAccepted",
        "CallTransferFailed",
        "ParticipantsUpdated",
        "PlayStarted",
        "PlayCompleted",
        "PlayFailed",
        "PlayCanceled",
        "RecognizeCompleted",
        "RecognizeFailed",
        "RecognizeCanceled",
        "RecordingStateChanged",
        "MediaStreamingStarted",
        "MediaStreamingStopped",
        "MediaStreamingFailed",
        "AnswerFailed",
        "CreateCallFailed",
        "ConnectFailed",
        "CancelAddParticipantSucceeded",
        "CancelAddParticipantFailed",
        "AddParticipantSucceeded",
        "AddParticipantFailed",
        "RemoveParticipantSucceeded",
        "RemoveParticipantFailed",
        "ContinuousDtmfRecognitionToneReceived",
        "SendDtmfTonesCompleted",
        "SendDtmfTonesFailed",
        "HoldFailed",
    )
)


class CommunicationIdentifier(BaseModel):
    model_config = ConfigDict(extra="allow")

    raw_id: str = Field(default="", alias="rawId")
    kind: str = ""
    phone_number: dict[str, Any] | None = Field(default=None, alias="phoneNumber")
    communication_user: dict[str, Any] | None = Field(default=None, alias="communicationUser")

    def address(self) -> str:
        """A phone number when there is one, else the raw id."""
        if self.phone_number and self.phone_number.get("value"):
            return str(self.phone_number["value"])
        return self.raw_id


class EventGridEvent(BaseModel):
    """Event Grid schema (not CloudEvents): what ACS's IncomingCall subscription delivers."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=256)
    event_type: str = Field(alias="eventType", min_length=1)
    subject: str = ""
    topic: str = ""
    event_time: str = Field(default="", alias="eventTime")
    data: dict[str, Any]
    data_version: str = Field(default="", alias="dataVersion")


class SubscriptionValidationData(BaseModel):
    model_config = ConfigDict(extra="allow")

    validation_code: str = Field(alias="validationCode", min_length=1, max_length=512)
    validation_url: str | None = Field(default=None, alias="validationUrl")


class IncomingCallData(BaseModel):
    model_config = ConfigDict(extra="allow")

    to: CommunicationIdentifier
    from_: CommunicationIdentifier = Field(alias="from")
    server_call_id: str = Field(default="", alias="serverCallId")
    caller_display_name: str = Field(default="", alias="callerDisplayName")
    incoming_call_context: str = Field(alias="incomingCallContext", min_length=1)
    correlation_id: str = Field(alias="correlationId", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")


class ResultInformation(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: int = 0
    sub_code: int = Field(default=0, alias="subCode")
    message: str = ""


class AcsCallbackData(BaseModel):
    model_config = ConfigDict(extra="allow")

    call_connection_id: str = Field(default="", alias="callConnectionId")
    server_call_id: str = Field(default="", alias="serverCallId")
    correlation_id: str = Field(default="", alias="correlationId")
    operation_context: str | None = Field(default="", alias="operationContext")
    result_information: ResultInformation | None = Field(default=None, alias="resultInformation")


class AcsCloudEvent(BaseModel):
    """One ACS Call Automation callback, CloudEvents 1.0 structured mode."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=256)
    source: str = ""
    type: str = Field(min_length=1)
    subject: str = ""
    time: str = ""
    specversion: str = "1.0"
    data: AcsCallbackData


class CallbackAck(BaseModel):
    accepted: int
    workflow_id: str


HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://[^\s]+$", max_length=2048)]


class RecordingChunk(BaseModel):
    model_config = ConfigDict(extra="allow")

    document_id: str = Field(default="", alias="documentId")
    index: int = 0
    end_reason: str = Field(default="", alias="endReason")
    content_location: HttpsUrl = Field(alias="contentLocation")
    metadata_location: HttpsUrl | None = Field(default=None, alias="metadataLocation")
    delete_location: HttpsUrl | None = Field(default=None, alias="deleteLocation")


class RecordingStorageInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    recording_chunks: list[RecordingChunk] = Field(alias="recordingChunks", min_length=1, max_length=64)


class RecordingFileStatusData(BaseModel):
    """`Microsoft.Communication.RecordingFileStatusUpdated` data: where ACS put the recording."""

    model_config = ConfigDict(extra="allow")

    recording_storage_info: RecordingStorageInfo = Field(alias="recordingStorageInfo")
    recording_start_time: str = Field(default="", alias="recordingStartTime")
    recording_duration_ms: int = Field(default=0, alias="recordingDurationMs", ge=0)
    session_end_reason: str = Field(default="", alias="sessionEndReason")


class IncomingCallAck(BaseModel):
    workflow_ids: list[str]
