"""The watchdogs of a running reply: first token, idle stream, total time, and a reply in a loop.

They are checked on the supervisor's tick, never per chunk: a chunk only stamps the time it came.
"""

import time
from dataclasses import dataclass, field

from config import Settings
from providers.errors import ProviderError, ProviderTimeout


@dataclass(frozen=True, slots=True)
class Abort:
    """Why a generation was ended from outside its own stream."""

    status: str
    finish_reason: str
    error: Exception | None = None


STOPPED = Abort("stopped", "stopped by user")


@dataclass(slots=True)
class Pace:
    """When a reply began, last produced something, and last had its followers pinged."""

    began_at: float = field(default_factory=time.monotonic)
    last_event_at: float = 0.0
    pinged_at: float = 0.0
    has_output: bool = False
    first_output_at: float | None = None  # when has_output became true
    loop_checked: int = 0  # pieces of text at the last loop check

    def __post_init__(self) -> None:
        self.last_event_at = self.pinged_at = self.began_at


def overrun(settings: Settings, provider: str, pace: Pace, text: list[str], now: float) -> Abort | None:
    """The watchdog a reply has tripped, if any."""
    s = settings
    if now - pace.began_at > s.max_generation_seconds:
        limit = f"the reply exceeded MAX_GENERATION_SECONDS={s.max_generation_seconds:g}"
        return Abort("error", "max_generation_time", ProviderTimeout(provider, limit))
    if not pace.has_output and now - pace.began_at > s.first_token_timeout:
        limit = f"no output within FIRST_TOKEN_TIMEOUT={s.first_token_timeout:g}s"
        return Abort("error", "first_token_timeout", ProviderTimeout(provider, limit))
    if pace.has_output and now - pace.last_event_at > s.stream_idle_timeout:
        limit = f"no output for STREAM_IDLE_TIMEOUT={s.stream_idle_timeout:g}s"
        return Abort("error", "idle_timeout", ProviderTimeout(provider, limit))
    if s.loop_detect_chars and len(text) != pace.loop_checked:
        pace.loop_checked = len(text)
        if is_looping(text, s.loop_detect_chars):
            loop = "stopped: the reply keeps repeating the same passage (loop detected)"
            return Abort("error", "loop_detected", ProviderError(provider, loop))
    return None


def is_looping(pieces: list[str], span: int, min_repeats: int = 4) -> bool:
    """Whether the reply's last `span`+ characters are one passage repeated `min_repeats`+ times.

    Candidate periods are the distances back to earlier copies of the last few characters, so a
    reply that does not repeat costs one substring search.
    """
    tail = _tail(pieces, span * 2)
    if len(tail) < span:
        return False
    probe = tail[-16:]
    found = tail.rfind(probe, 0, len(tail) - 1)
    while found >= 0:
        period = len(tail) - len(probe) - found
        repeats = max(min_repeats, -(-span // period))
        if period * repeats > len(tail):
            return False
        if tail[-period * repeats :] == tail[-period:] * repeats:
            return True
        found = tail.rfind(probe, 0, found + len(probe) - 1)
    return False


def _tail(pieces: list[str], size: int) -> str:
    collected: list[str] = []
    length = 0
    for piece in reversed(pieces):
        collected.append(piece)
        length += len(piece)
        if length >= size:
            break
    return "".join(reversed(collected))[-size:]
