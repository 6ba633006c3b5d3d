"""Caller scripts: what the simulated caller does once the media stream is open.

Steps are dataclasses; a script is a sequence of them. The same script as plain data (JSON or YAML) is
a list of one-key dicts, the key naming the step and the value its argument (a scalar for the main
argument, or a dict of fields)::

    [
      {"wait_agent_done": {"quiet_ms": 700, "timeout": 15}},   # greeting played, then 700 ms quiet
      {"say": "I want to report a car accident"},
      {"say": {"text": "hello", "voice": "en-us+m3"}},
      {"silence": 1.5},
      {"wait_agent_heard": {"ms": 400, "timeout": 10}},       # agent audible for 400 ms...
      {"say": "sorry, stop"},                                  # ...so this is a barge-in
      {"play_wav": "/path/to/file.wav"},
      {"dtmf": "12#"},
      {"hang_up": true}
    ]

`load_script` turns that into steps; `dump_script` turns steps back into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Say:
    """Speak `text` (rendered with espeak-ng at the call's sample rate)."""

    text: str
    voice: str | None = None


@dataclass(frozen=True)
class PlayWav:
    """Send a WAV file's audio (any rate, mono or stereo, 16-bit) as caller speech."""

    path: str


@dataclass(frozen=True)
class Silence:
    """Say nothing for `seconds` (silent frames keep flowing)."""

    seconds: float


@dataclass(frozen=True)
class WaitAgentDone:
    """Wait until the agent has spoken and then been quiet for `quiet_ms`.

    "Spoken" means agent audio was played at or after this step began (a reply already playing counts).
    With `require_speech=False` only the quiet period is needed. Gives up after `timeout` seconds
    (recorded in `CallTimeline.script_timeouts`) and goes on with the next step.
    """

    quiet_ms: int = 700
    timeout: float = 15.0
    require_speech: bool = True


@dataclass(frozen=True)
class WaitAgentHeard:
    """Wait until the current agent utterance has been audible for `ms`; a following `Say` barges in."""

    ms: int = 300
    timeout: float = 15.0


@dataclass(frozen=True)
class SendDtmf:
    """Send DTMF tones as `DtmfData` messages, one per tone, 100 ms apart."""

    tones: str


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up: the media socket closes and the app gets `CallDisconnected`."""


Step = Say | PlayWav | Silence | WaitAgentDone | WaitAgentHeard | SendDtmf | HangUp

_KEYS: dict[str, type[Any]] = {
    "say": Say,
    "play_wav": PlayWav,
    "silence": Silence,
    "wait_agent_done": WaitAgentDone,
    "wait_agent_heard": WaitAgentHeard,
    "dtmf": SendDtmf,
    "hang_up": HangUp,
}
_NAMES = {cls: key for key, cls in _KEYS.items()}


class ScriptError(ValueError):
    """A script in data form could not be read."""


def _build(key: str, value: Any) -> Step:
    cls = _KEYS[key]
    params = [f.name for f in fields(cls)]
    if cls is HangUp:
        return HangUp()
    if isinstance(value, Mapping):
        unknown = set(value) - set(params)
        if unknown:
            raise ScriptError(f"step {key!r}: unknown fields {sorted(unknown)}")
        try:
            step: Step = cls(**value)
        except TypeError as exc:
            raise ScriptError(f"step {key!r}: {exc}") from exc
        return step
    if value is None or isinstance(value, bool):
        if cls in (WaitAgentDone, WaitAgentHeard):
            return cls()  # type: ignore[no-any-return]
        raise ScriptError(f"step {key!r} needs an argument")
    return cls(value)  # type: ignore[no-any-return]


def load_script(items: Iterable[Step | Mapping[str, Any]] | None) -> list[Step]:
    """Steps from dataclasses or one-key dicts (see module docs). Raises ScriptError."""
    steps: list[Step] = []
    for index, item in enumerate(items or ()):
        if isinstance(item, Say | PlayWav | Silence | WaitAgentDone | WaitAgentHeard | SendDtmf | HangUp):
            steps.append(item)
            continue
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ScriptError(f"step {index}: expected a dict with exactly one key, got {item!r}")
        ((key, value),) = item.items()
        if key not in _KEYS:
            raise ScriptError(f"step {index}: unknown step {key!r}; known: {sorted(_KEYS)}")
        steps.append(_build(key, value))
    return steps


def dump_script(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The data form of `steps` (round-trips through `load_script`)."""
    out: list[dict[str, Any]] = []
    for step in steps:
        key = _NAMES[type(step)]
        out.append({key: True} if isinstance(step, HangUp) else {key: asdict(step)})
    return out
