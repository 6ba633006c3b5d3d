"""`switchboard`: run the embedded stack, place simulated calls, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict
from typing import Any

import httpx
from temporalio.client import Client

from switchboard.logging import configure_logging
from switchboard.settings import Settings, get_settings
from workflows.contracts import CallState, call_workflow_id


def _answer(text: str) -> list[dict[str, Any]]:
    """The caller waits for the agent's question to finish, then answers."""
    return [{"wait_agent_done": {"quiet_ms": 600, "timeout": 30}}, {"say": text}]


# A first notice of loss as a caller answers it: authentication (policy number, postcode), then the
# claims intake agent; one answer barges in on the agent's read-back of the claim details (the
# caller says "yes" before the question is finished).
DEMO_SCRIPT: list[dict[str, Any]] = [
    *_answer("p a one two three four five six"),
    *_answer("six two seven zero four"),
    *_answer("march third"),
    *_answer("on main street in springfield"),
    *_answer("a truck ran a red light and hit my car"),
    *_answer("nobody was hurt"),
    *_answer("a sedan"),
    {"wait_agent_heard": {"ms": 1500, "timeout": 30}},
    {"say": "yes"},
    *_answer("yes"),
    {"wait_agent_done": {"quiet_ms": 1500, "timeout": 40}},
    {"hang_up": True},
]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _run_dev(settings: Settings, *, with_emulator: bool) -> int:
    from workers.supervisor import StackFailed, Supervisor, build_stack

    stack = Supervisor(
        build_stack(settings, with_emulator=with_emulator), log_dir=settings.data_dir / "logs", report=_stderr
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with stack:
            _stderr(
                f"stack is up: API http://{settings.api.host}:{settings.api.port}"
                f"  Temporal UI {settings.temporal.ui_url}"
            )
            watcher = asyncio.create_task(stack.wait())
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if watcher in done:
                watcher.result()
            else:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
    except StackFailed as err:
        _stderr(f"stack failed: {err}")
        return 1
    _stderr("stack stopped")
    return 0


async def place_call(
    settings: Settings,
    *,
    script: list[dict[str, Any]],
    caller: str,
    callee: str,
    deliveries: int = 1,
    wait_seconds: float = 120.0,
) -> CallState:
    """Place a simulated call through the emulator's control API and wait for its workflow's result."""
    async with httpx.AsyncClient(base_url=settings.acs.endpoint, timeout=10.0) as emulator:
        response = await emulator.post(
            "/emulator/calls", json={"caller": caller, "callee": callee, "script": script, "deliveries": deliveries}
        )
        response.raise_for_status()
        placed = response.json()
    workflow_id = call_workflow_id(placed["correlation_id"])
    client = await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace)
    handle = client.get_workflow_handle(workflow_id, result_type=CallState)
    return await asyncio.wait_for(handle.result(), wait_seconds)


def print_call(state: CallState, settings: Settings) -> None:
    print(f"workflow   {state.workflow_id}")
    print(f"status     {state.status} ({state.end_reason})")
    print(f"caller     {state.caller} -> {state.callee}")
    print(f"connected  {state.connected_at}   ended {state.ended_at}")
    print(f"turns      {len(state.turns)}")
    for turn in state.turns:
        flag = " [interrupted]" if turn.interrupted else ""
        print(f"  #{turn.sequence} caller: {turn.caller_text!r}")
        print(f"     agent ({turn.agent}){flag}: {turn.agent_text!r}  v2v={turn.timings.voice_to_voice_ms:.0f} ms")
    if state.summary is not None:
        print(f"summary    {state.summary.text}")
    print(
        f"Temporal UI {settings.temporal.ui_url}/namespaces/{settings.temporal.namespace}/workflows/{state.workflow_id}"
    )


async def _run_call(settings: Settings, args: argparse.Namespace) -> int:
    script = json.loads(args.script) if args.script else DEMO_SCRIPT
    state = await place_call(
        settings, script=script, caller=args.caller, callee=args.callee, deliveries=args.deliveries
    )
    if args.json:
        print(json.dumps(asdict(state), indent=2))
    else:
        print_call(state, settings)
    return 0 if state.status == "completed" else 1


async def _run_demo(settings: Settings) -> int:
    from workers.supervisor import StackFailed, Supervisor, build_stack

    started = time.monotonic()
    try:
        async with Supervisor(build_stack(settings), log_dir=settings.data_dir / "logs", report=_stderr):
            _stderr(f"stack up in {time.monotonic() - started:.1f}s; placing a simulated call")
            state = await place_call(settings, script=DEMO_SCRIPT, caller="+15551230001", callee="+15550009999")
            print_call(state, settings)
            return 0 if state.status == "completed" else 1
    except StackFailed as err:
        _stderr(f"demo failed: {err}")
        return 1


async def _run_audit(settings: Settings, args: argparse.Namespace) -> int:
    """`switchboard audit export|replay|verify`: exit 0 when everything checked is sound, 1 when not."""
    from pathlib import Path

    from activities.storage import build_archive
    from switchboard import audit

    if args.audit_command == "replay" and args.files:
        failed = 0
        for path in args.files:
            try:
                history = audit.load_history(Path(path))
            except audit.HistoryFormatError as err:
                print(f"{path}: unreadable history: {err}")
                failed += 1
                continue
            report = await audit.replay(history)
            print(f"{path}: {report.verdict}" + (f" ({report.error_type}: {report.error})" if report.error else ""))
            failed += 0 if report.ok else 1
        return 1 if failed else 0
    if args.audit_command == "verify" and args.file:
        try:
            record = audit.record_from_json(await asyncio.to_thread(Path(args.file).read_text))
        except (audit.AuditError, ValueError, TypeError) as err:
            print(f"{args.file}: not a call record: {err}")
            return 1
        verdict = audit.verify_record(record)
        print(
            f"{verdict.workflow_id}: {'ok' if verdict.ok else 'TAMPERED'} (stored {verdict.stored_hash[:16]}, "
            f"computed {verdict.computed_hash[:16]})"
        )
        return 0 if verdict.ok else 1
    if not args.workflow_id:
        print(
            f"audit {args.audit_command}: give a workflow id" + (" or files" if args.audit_command != "export" else "")
        )
        return 2
    async with build_archive(settings) as archive:
        if args.audit_command == "verify":
            stored = await archive.get(args.workflow_id)
            if stored is None:
                print(f"{args.workflow_id}: no archived record")
                return 1
            verdict = audit.verify_record(stored)
            print(f"{verdict.workflow_id}: {'ok' if verdict.ok else 'TAMPERED'} ({verdict.stored_hash})")
            return 0 if verdict.ok else 1
        client = await Client.connect(settings.temporal.address, namespace=settings.temporal.namespace)
        try:
            if args.audit_command == "replay":
                report = await audit.replay(await audit.fetch_history(client, args.workflow_id))
                print(f"{args.workflow_id}: {report.verdict}" + (f" ({report.error})" if report.error else ""))
                return 0 if report.ok else 1
            exported = await audit.export_call(client, archive, args.workflow_id, with_replay=args.replay)
        except audit.CallNotFoundError:
            print(f"{args.workflow_id}: no such workflow")
            return 1
    text = json.dumps(asdict(exported), indent=2)
    if args.history_out:
        await asyncio.to_thread(Path(args.history_out).write_text, json.dumps(exported.history))
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, text)
        print(f"exported {args.workflow_id} to {args.out}")
    else:
        print(text)
    sound = exported.record_verified is not False and (exported.replay is None or exported.replay.ok)
    return 0 if sound else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="start and supervise the embedded stack (Ctrl-C stops it)")
    dev.add_argument("--no-emulator", action="store_true", help="do not start the ACS emulator")
    call = commands.add_parser("call", help="place a simulated call through the running stack's ACS emulator")
    call.add_argument("--caller", default="+15551230001")
    call.add_argument("--callee", default="+15550009999")
    call.add_argument("--deliveries", type=int, default=1, help="deliver IncomingCall N times (idempotency)")
    call.add_argument("--script", help="caller script as JSON (a list of steps); default: the demo script")
    call.add_argument("--json", action="store_true", help="print the final call state as JSON")
    commands.add_parser("demo", help="start the stack, place one simulated call, print it, stop")
    audit = commands.add_parser("audit", help="export, replay and verify calls (Temporal history and archive)")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_commands.add_parser("export", help="a call's Temporal history and archived record, as JSON")
    export.add_argument("workflow_id")
    export.add_argument("--out", help="write the export here (default: stdout)")
    export.add_argument("--history-out", help="also write the bare history, as `temporal workflow show -o json`")
    export.add_argument("--replay", action="store_true", help="replay the history and include the verdict")
    replay = audit_commands.add_parser("replay", help="replay histories against the current workflow code")
    replay.add_argument("files", nargs="*", help="history files (`temporal workflow show -o json`, or exports)")
    replay.add_argument("--workflow-id", help="replay this workflow's history, fetched from Temporal")
    verify = audit_commands.add_parser("verify", help="check an archived record against its content hash")
    verify.add_argument("workflow_id", nargs="?", help="the call's workflow id (read from the archive)")
    verify.add_argument("--file", help="a record or export JSON file instead of the archive")
    args = parser.parse_args(argv)

    configure_logging()
    settings = get_settings()
    if args.command == "dev":
        return asyncio.run(_run_dev(settings, with_emulator=not args.no_emulator))
    if args.command == "call":
        return asyncio.run(_run_call(settings, args))
    if args.command == "audit":
        return asyncio.run(_run_audit(settings, args))
    return asyncio.run(_run_demo(settings))


if __name__ == "__main__":
    sys.exit(main())
