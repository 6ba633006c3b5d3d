"""The realtime media worker process: an ASGI WebSocket server ACS streams call audio to."""

from __future__ import annotations

import logging

import uvicorn
from temporalio.client import Client

from realtime.bridge import PendingSignal, SignalQueue
from realtime.server import RealtimeConfig, create_realtime_app
from switchboard.logging import configure_logging
from switchboard.settings import Settings, get_settings

logger = logging.getLogger(__name__)


class TemporalSignalSender:
    """Sends bridge signals with a lazily connected Temporal client, so the worker starts (and
    keeps audio flowing) while Temporal is down; the queue retries until it is back."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None

    async def __call__(self, signal: PendingSignal) -> None:
        if self._client is None:
            self._client = await Client.connect(
                self._settings.temporal.address, namespace=self._settings.temporal.namespace, lazy=True
            )
        await self._client.get_workflow_handle(signal.workflow_id).signal(signal.name, signal.payload)


def build_app(settings: Settings):  # type: ignore[no-untyped-def]
    signals = SignalQueue(TemporalSignalSender(settings), maxsize=settings.realtime.signal_queue_size)
    config = RealtimeConfig(media_token_secret=settings.acs.media_token_secret.get_secret_value())
    return create_realtime_app(config, signals)


def main() -> None:
    configure_logging()
    settings = get_settings()
    uvicorn.run(
        build_app(settings),
        host=settings.realtime.host,
        port=settings.realtime.port,
        log_level="warning",
        ws="websockets",
    )


if __name__ == "__main__":
    main()
