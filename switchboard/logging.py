"""Logging for entry points only: libraries and workflows never configure it."""

from __future__ import annotations

import logging
import os


def configure_logging(*, name: str | None = None) -> None:
    level = os.environ.get("SWITCHBOARD_LOG_LEVEL", "INFO").upper()
    prefix = f"{name} " if name else ""
    logging.basicConfig(level=level, format=f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
