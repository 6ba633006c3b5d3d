"""The API process: webhooks, back office, audit."""

from __future__ import annotations

import uvicorn

from api.main import create_app
from switchboard.logging import configure_logging
from switchboard.settings import get_settings


def main() -> None:
    configure_logging()
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port, log_level="warning")


if __name__ == "__main__":
    main()
