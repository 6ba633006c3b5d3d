"""ACS emulator: plays Azure Communication Services locally for tests, benchmarks and `make demo`.

What it plays
-------------
- **Call Automation REST**, as azure-communication-callautomation 1.6 sends it, with HMAC-SHA256
  request signing checked (signature, ``x-ms-content-sha256`` against the body, ``x-ms-date`` within
  15 minutes; else 401 ``{"error": {"code", "message"}}``) and ``Repeatability-Request-ID`` honoured
  (a repeat returns the first result and does nothing). Operations and statuses:

  ========================================================  ======  ===============================
  request                                                   status  body
  ========================================================  ======  ===============================
  POST   /calling/callConnections            (create call)  201     call connection properties
  POST   /calling/callConnections:answer                    200     call connection properties
  POST   /calling/callConnections:reject / :redirect        204
  GET    /calling/callConnections/{id}                      200     call connection properties
  DELETE /calling/callConnections/{id}       (hang up)      204
  POST   /calling/callConnections/{id}:terminate            204
  POST   /calling/callConnections/{id}:transferToParticipant 202    {"operationContext": ...}
  POST   /calling/callConnections/{id}:play                 202
  POST   /calling/callConnections/{id}:cancelAllMediaOperations 202
  POST   /calling/callConnections/{id}:startMediaStreaming  202
  POST   /calling/callConnections/{id}:stopMediaStreaming   202
  GET    /calling/callConnections/{id}/participants         200     {"value": [...]}
  POST   /calling/recordings                                200     {"recordingId", "recordingState", "recordingKind"}
  GET    /calling/recordings/{id}                           200     same
  DELETE /calling/recordings/{id}       (stop; idempotent)  204
  POST   /calling/recordings/{id}:pause / :resume           202     (400 once the recording ended)
  GET    /v1/objects/{documentId}/content/audio             200     the WAV (206 for a ``Range``; 416)
  GET    /v1/objects/{documentId}/content/acsmetadata       200     recording metadata JSON
  DELETE /v1/objects/{documentId}                           200     content and metadata gone (then 404)
  ========================================================  ======  ===============================

  Recordings: ``recordingContentType`` audio, ``recordingChannelType`` mixed and ``recordingFormatType``
  wav only (unset means these; anything else, or ``externalStorage``, is a 400); ``pauseOnStart`` works.
  The ``/v1/objects`` routes are the recording storage ACS publishes: signed like the rest, except that
  the SDK signs the ACS resource's host (also sent as ``x-ms-host``, required) while the request goes
  to ``options.recording_storage_url`` (``https://emulator-storage.asm.skype.com``: the SDK refuses
  other hosts, and plain http); no api-version. Build the SDK client with
  ``transport=emu.storage_transport()`` so those requests reach the emulator.

  Unknown (or ended) call connection: 404 in the same error shape. Every request is recorded as a
  `RecordedRequest` in `emu.requests` (method, path, body, perf_counter and wall-clock receive times,
  status, whether it was a repeat).
- **Callbacks** to the app's ``callbackUri``: a JSON array holding one CloudEvent 1.0
  (``Content-Type: application/json``; ``id``, ``source`` and ``subject`` =
  ``calling/callConnections/{id}``, ``type`` = ``Microsoft.Communication.<Name>``, ``time``,
  ``specversion``, ``datacontenttype``, ``data`` with ``callConnectionId``, ``serverCallId``,
  ``correlationId``, ``operationContext`` and ``resultInformation`` ``{code, subCode, message}``).
  Sent: CallConnected + ParticipantsUpdated after answer; MediaStreamingStarted / MediaStreamingFailed;
  CallDisconnected after hang-up, terminate, caller hang-up or transfer; CallTransferAccepted (then
  CallDisconnected) or CallTransferFailed for targets in ``failing_targets``; PlayStarted then
  PlayCompleted after an estimate of the prompt's length (175 words/min; files
  ``play_file_seconds``), PlayFailed for an empty source list, PlayCanceled on
  cancelAllMediaOperations; RecordingStateChanged (active on start/resume; inactive on pause, stop and
  when the call ends while recording); CreateCallFailed for failing outbound targets.
  Per call, in order; failed deliveries are retried with exponential backoff and never crash anything.
- **Event Grid**: once per webhook URL the SubscriptionValidationEvent handshake
  (``aeg-event-type: SubscriptionValidation``; the webhook must answer 200
  ``{"validationResponse": code}``, or GET the ``validationUrl``), then
  ``Microsoft.Communication.IncomingCall`` (``aeg-event-type: Notification``), Event Grid schema, with
  ``to``/``from`` identifiers, ``serverCallId``, ``callerDisplayName``, ``incomingCallContext`` (opaque,
  maps back to the call on answer) and ``correlationId``; ``deliveries=N`` posts the same event id N
  times. When a recording ends (stop, or the call ends while recording) and after
  ``recording_file_delay``, ``Microsoft.Communication.RecordingFileStatusUpdated`` goes to the same
  webhook, same headers and retries: subject
  ``/recording/call/{correlationId}/serverCallId/{serverCallId}/recordingId/{recordingId}``, data
  ``{"recordingStorageInfo": {"recordingChunks": [{"documentId", "index": 0, "endReason":
  "SessionEnded", "contentLocation": ".../v1/objects/{documentId}/content/audio", "metadataLocation":
  ".../content/acsmetadata", "deleteLocation": ".../v1/objects/{documentId}"}]}, "recordingStartTime",
  "recordingDurationMs", "recordingContentType": "Audio", "recordingChannelType": "Mixed",
  "recordingFormatType": "Wav", "sessionEndReason": "CallEnded"}``.
- **Media**: after connect (``mediaStreamingOptions.startMediaStreaming`` true, or a later
  startMediaStreaming request) a WebSocket client to ``transportUrl`` sends ``AudioMetadata`` then one
  ``AudioData`` per 20 ms on a drift-free monotonic schedule (``silent: true`` frames of zeros when the
  caller says nothing), sample rate from ``audioFormat`` (pcm16KMono / pcm24KMono). Audio the app
  sends (any key casing) is played at 1x through a playout buffer that ``StopAudio`` empties; see
  `emulators.acs._media` for the exact definitions of segments, underruns (late frames) and frames
  after StopAudio.
- **Recording**: while a recording is active (not paused), each media tick's caller frame plus the
  agent frame played at that tick (sample-wise sum, clipped) is appended to it; time without media
  inside an active span is silence, paused time is left out. The file is a WAV (PCM16 mono, the
  call's rate); see `emulators.acs._recording`. Inspect ``emu.recording_files`` (by documentId),
  ``emu.recording_deliveries``, ``call.recordings``; ``await emu.wait_recording_file(recording_id)``
  returns the `RecordingFile` once its event was delivered (or given up on).

In-process use
--------------
::

    async with AcsEmulator(access_key=KEY, event_grid_url="http://127.0.0.1:8000/api/events",
                           failing_targets={"+15550009999"}) as emu:
        client = CallAutomationClient(emu.endpoint, AzureKeyCredential(emu.access_key))
        call = await emu.place_call(caller="+15551230000", callee="+15559870000",
                                    script=[WaitAgentDone(), Say("I had an accident"), HangUp()])
        await call.wait_for("media_opened", timeout=5)
        await call.finished            # resolves once ended and the last callback was delivered
        call.timeline.agent_segments, call.heard_pcm(), call.stop_audio_times, call.frames_after_stop
        call.events, call.requests, call.summary()

`SimulatedCall.wait_for(milestone)` knows: incoming_delivered, answered, connected, media_opened,
script_done, transfer_accepted, transfer_failed, media_closed, disconnected, finished.
`wait_for_event("PlayCompleted")` waits for a callback. `caller_hang_up()` hangs up from the caller's
side. Outbound calls the app creates appear via `await emu.wait_for_outbound_call()`; the callee runs
`emu.outbound_scripts[number]` (or `EmulatorOptions.outbound_script`).

Caller scripts: see `emulators.acs.script` (Say, PlayWav, Silence, WaitAgentDone, WaitAgentHeard,
SendDtmf, HangUp, or the same as a list of one-key dicts).

Control API (same server, no auth: dev only)
--------------------------------------------
- ``POST /emulator/calls`` ``{"caller", "callee", "script": [...], "deliveries": 1,
  "caller_display_name": "", "event_grid_url": null, "max_call_seconds": null}`` -> 200
  ``{"call_id", "correlation_id", "server_call_id", "state"}``; 422 bad script; 502 when the Event Grid
  handshake or the IncomingCall delivery failed (``{"error": {"code", "message"}}``).
- ``GET /emulator/calls`` -> ``{"calls": [{"call_id", "direction", "state", "caller"}]}``
- ``GET /emulator/calls/{call_id}`` -> `SimulatedCall.summary()`: state, ids, milestones, media
  counters (frames sent/played, late frames, StopAudio count, frames after stop), caller utterances,
  agent segments, recordings, callbacks; times in seconds since ``placed_at``. 404 if unknown.
- ``POST /emulator/calls/{call_id}/hang-up`` -> the caller hangs up; returns the summary.
- ``GET /emulator/requests[?call_connection_id=]`` -> recorded Call Automation requests.
- ``GET /health`` -> ``{"status": "ok", "calls": n}``

Process: ``python -m emulators.acs --host 127.0.0.1 --port 8787 --access-key KEY
--event-grid-url http://127.0.0.1:8000/api/acs/events [--failing-target +1555...]``.
"""

from ._call import MILESTONES, CallState, SentEvent, SimulatedCall
from ._delivery import Delivery, DeliveryAttempt
from ._media import AgentSegment, CallerUtterance, CallTimeline, StopAudioRecord
from ._recording import DEFAULT_STORAGE_URL, Recording, RecordingFile, StorageRedirectTransport
from .emulator import (
    AcsEmulator,
    EmulatorClosed,
    EmulatorError,
    EmulatorOptions,
    EventGridValidationError,
    IncomingCallDeliveryError,
    RecordedRequest,
)
from .script import (
    HangUp,
    PlayWav,
    Say,
    ScriptError,
    SendDtmf,
    Silence,
    Step,
    WaitAgentDone,
    WaitAgentHeard,
    dump_script,
    load_script,
)

__all__ = [
    "MILESTONES",
    "AcsEmulator",
    "AgentSegment",
    "CallState",
    "CallTimeline",
    "CallerUtterance",
    "Delivery",
    "DeliveryAttempt",
    "EmulatorClosed",
    "EmulatorError",
    "EmulatorOptions",
    "EventGridValidationError",
    "HangUp",
    "IncomingCallDeliveryError",
    "PlayWav",
    "RecordedRequest",
    "Recording",
    "RecordingFile",
    "Say",
    "ScriptError",
    "SendDtmf",
    "SentEvent",
    "Silence",
    "SimulatedCall",
    "Step",
    "StopAudioRecord",
    "StorageRedirectTransport",
    "DEFAULT_STORAGE_URL",
    "WaitAgentDone",
    "WaitAgentHeard",
    "dump_script",
    "load_script",
]
