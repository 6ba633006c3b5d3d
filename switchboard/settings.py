"""One `Settings` object for every process, read from the environment (prefix ``SWITCHBOARD_``).

Nested groups use a double underscore: ``SWITCHBOARD_ACS__ENDPOINT``. Workflow code never reads
settings; activities, workers, the API and the realtime worker receive them when they are built.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values shipped for local development only. Outside development they are refused at start-up.
DEV_ACS_ACCESS_KEY = "ZGV2LW9ubHktYWNzLWFjY2Vzcy1rZXktZG8tbm90LXVzZS1pbi1wcm9kdWN0aW9u"
DEV_MEDIA_TOKEN_SECRET = "dev-only-media-token-secret"
# Back-office API keys, one per role (see `api/auth.py`).
DEV_API_KEYS: dict[str, str] = {
    "staff": "dev-only-staff-key",
    "auditor": "dev-only-auditor-key",
    "admin": "dev-only-admin-key",
}

SEARCH_ATTRIBUTES: dict[str, str] = {
    "CallerNumber": "Keyword",
    "CallStatus": "Keyword",
    "CurrentAgent": "Keyword",
    "ClaimId": "Keyword",
    "CallDurationSeconds": "Int",
    "RecordingId": "Keyword",
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "switchboard"


class TemporalSettings(BaseModel):
    address: str = "127.0.0.1:7233"
    # The Temporal CLI built by `make setup` (`go install github.com/temporalio/cli/cmd/temporal@v1.5.1`).
    cli_path: Path = Field(default_factory=lambda: default_cache_dir() / "bin" / "temporal")
    namespace: str = "default"
    task_queue: str = "switchboard-calls"
    ui_url: str = "http://127.0.0.1:8233"
    ui_port: int = 8233
    worker_health_port: int = 8010


class AcsSettings(BaseModel):
    endpoint: str = "http://127.0.0.1:8300"
    access_key: SecretStr = SecretStr(DEV_ACS_ACCESS_KEY)
    # Where ACS reaches our API (callbacks) and the realtime worker (media WebSocket).
    callback_base_url: str = "http://127.0.0.1:8000"
    media_base_url: str = "ws://127.0.0.1:8100"
    media_token_secret: SecretStr = SecretStr(DEV_MEDIA_TOKEN_SECRET)
    media_token_ttl_seconds: int = 4 * 3600
    audio_format: Literal["pcm16KMono", "pcm24KMono"] = "pcm16KMono"
    audio_channel_type: Literal["mixed", "unmixed"] = "mixed"
    # Optional: validate the JWT ACS puts in the media WebSocket's Authorization header.
    media_jwt_audience: str | None = None
    answer_timeout_seconds: float = 30.0
    # Where "a person, please" goes when the brain names a queue rather than a number.
    human_queue_number: str = "+15550100100"
    # ACS server-side recording of every call (mixed audio WAV), copied into our blob store when
    # ACS publishes RecordingFileStatusUpdated; the workflow waits this long after the call for it.
    server_recording: bool = False
    recording_file_timeout_seconds: int = 900
    # Local runs only: where requests for the ACS emulator's recording storage host go (the SDK
    # downloads only from https://*.asm.skype.com); None in production.
    recording_storage_redirect: str | None = None


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 256 * 1024
    # When set, Event Grid must call the webhook with ?key=<this> (configure it in the subscription URL).
    eventgrid_key: SecretStr | None = None


Role = Literal["staff", "auditor", "admin"]


class ApiKey(BaseModel):
    """One back-office API key: who holds it (for logs, never the key) and the role it grants."""

    name: str
    role: Role
    key: SecretStr


def _dev_api_keys() -> list[ApiKey]:
    return [ApiKey(name=f"dev-{role}", role=role, key=SecretStr(key)) for role, key in DEV_API_KEYS.items()]  # type: ignore[arg-type]


class AuthSettings(BaseModel):
    # Set as JSON: SWITCHBOARD_AUTH__API_KEYS='[{"name": "ops-1", "role": "staff", "key": "..."}]'.
    api_keys: list[ApiKey] = Field(default_factory=_dev_api_keys)


class RealtimeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8100
    signal_queue_size: int = 1024
    # Each call's stereo recording (caller left, agent right) stops growing here; 0: not recorded.
    recording_max_seconds: float = 3600.0
    # When the worker holding a call dies (its watchdog stops heartbeating for this long), the
    # workflow apologises over ACS and transfers the caller to people ("transfer", to the target
    # below; `acs.human_queue_number` for a named queue), or hangs up and calls back later ("callback").
    watchdog_heartbeat_timeout_seconds: float = 5.0
    # A heartbeat timeout is confirmed by arming the watchdog again: a live worker picks it up
    # within this window (heartbeats also stop while Temporal is away or the worker stalls).
    watchdog_confirm_seconds: float = 3.0
    recovery_action: Literal["transfer", "callback"] = "transfer"
    recovery_transfer_target: str = "human-queue"
    recovery_callback_delay_seconds: int = 300


class SpeechSettings(BaseModel):
    recognizer: Literal["pocketsphinx", "azure"] = "pocketsphinx"
    synthesizer: Literal["espeak", "azure"] = "espeak"
    voice: str = "en-us+f2"
    azure_key: SecretStr | None = None
    azure_region: str | None = None
    azure_endpoint: str | None = None
    azure_voice: str = "en-US-JennyNeural"


class LlmSettings(BaseModel):
    brain: Literal["scripted", "openai"] = "scripted"
    base_url: str | None = None
    api_key: SecretStr | None = None
    azure_endpoint: str | None = None
    azure_api_version: str = "2024-10-21"
    model: str = "gpt-4o-mini"


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    live_ttl_seconds: int = 3600


class ArchiveSettings(BaseModel):
    backend: Literal["sqlite", "cosmos"] = "sqlite"
    sqlite_path: Path | None = None
    cosmos_endpoint: str | None = None
    cosmos_key: SecretStr | None = None
    cosmos_database: str = "switchboard"
    # Mask digit runs and e-mail addresses in transcripts before they are archived.
    redact_pii: bool = False


class BlobSettings(BaseModel):
    backend: Literal["local", "azure"] = "local"
    local_path: Path | None = None
    connection_string: SecretStr | None = None
    container: str = "recordings"


class ClaimsSettings(BaseModel):
    # Follow-up of a filed claim: reminder timers (the last interval repeats), escalation, outbound calls.
    reminder_intervals_seconds: list[int] = Field(default_factory=lambda: [86400, 259200])
    escalate_after_reminders: int = 3
    follow_up_agent: str = "claims-follow-up"
    outbound_caller_id: str = "+15550009999"
    continue_as_new_after_events: int = 500


class AgentsSettings(BaseModel):
    # A folder with `scenario.yaml` and `definitions/*.yaml`; None: the packaged agents.
    config_dir: Path | None = None
    # Which scenario of that folder: None is `scenario.yaml` (insurance); "healthcare" is
    # `scenarios/healthcare.yaml`.
    scenario: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".switchboard")
    temporal: TemporalSettings = TemporalSettings()
    acs: AcsSettings = AcsSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    realtime: RealtimeSettings = RealtimeSettings()
    speech: SpeechSettings = SpeechSettings()
    llm: LlmSettings = LlmSettings()
    redis: RedisSettings = RedisSettings()
    archive: ArchiveSettings = ArchiveSettings()
    blob: BlobSettings = BlobSettings()
    claims: ClaimsSettings = ClaimsSettings()
    agents: AgentsSettings = AgentsSettings()

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_development(self) -> Settings:
        if self.environment == "development":
            return self
        placeholders = {
            "acs.access_key": self.acs.access_key.get_secret_value() == DEV_ACS_ACCESS_KEY,
            "acs.media_token_secret": self.acs.media_token_secret.get_secret_value() == DEV_MEDIA_TOKEN_SECRET,
        }
        dev_keys = set(DEV_API_KEYS.values())
        for api_key in self.auth.api_keys:
            placeholders[f"auth.api_keys[{api_key.name}]"] = api_key.key.get_secret_value() in dev_keys
        bad = [name for name, is_placeholder in placeholders.items() if is_placeholder]
        if bad:
            raise ValueError(f"development placeholder secrets refused in {self.environment}: {bad}")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once. Tests build their own `Settings` and pass them in."""
    return Settings()
