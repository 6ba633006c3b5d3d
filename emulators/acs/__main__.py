"""`python -m emulators.acs`: run the ACS emulator as a process (control API on the same port)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from ._recording import DEFAULT_STORAGE_URL
from .emulator import AcsEmulator, EmulatorOptions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulators.acs", description="Azure Communication Services emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port (printed in the log)")
    parser.add_argument("--access-key", required=True, help="base64 access key the SDK signs with")
    parser.add_argument("--event-grid-url", default=None, help="webhook that receives IncomingCall events")
    parser.add_argument(
        "--failing-target",
        action="append",
        default=[],
        help="phone number whose transfers / outbound calls fail (repeatable)",
    )
    parser.add_argument(
        "--recording-storage-url",
        default=DEFAULT_STORAGE_URL,
        help="base of recording content/metadata/delete URLs in RecordingFileStatusUpdated (the SDK only "
        "accepts https://*.asm.skype.com; clients reach the emulator through StorageRedirectTransport)",
    )
    parser.add_argument("--no-keep-audio", action="store_true", help="do not keep heard PCM (long runs)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    options = EmulatorOptions(keep_audio=not args.no_keep_audio, recording_storage_url=args.recording_storage_url)
    async with AcsEmulator(
        access_key=args.access_key,
        event_grid_url=args.event_grid_url,
        host=args.host,
        port=args.port,
        failing_targets=args.failing_target,
        options=options,
    ) as emu:
        logging.getLogger("emulators.acs").info("ACS emulator ready at %s", emu.endpoint)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
