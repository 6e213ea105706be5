"""When the terminal paints: rate caps, and prompt frames for the echo of input.

No textual import: plain bookkeeping over ``time.perf_counter()`` values.

* At most 60 frames a second; never more than 1/COST_FACTOR of the time spent
  rendering (the last frame's cost sets the next gap).
* While output floods (the reader has a backlog) nobody reads the frames: 10 a
  second, and the loop spends its time catching up instead.
* Input (a key, a paste, a click) is answered by output that queues behind what
  the program already wrote. The pacer notes that backlog (our buffer plus what
  the kernel holds, FIONREAD) and asks for a prompt frame once it has been fed,
  and again whenever short printable input shows up in the output afterwards
  (the tty's echo may land a write later than the backlog suggested) until a
  deadline. Floods stay cheap; the echo still shows within a frame or two.
* Until then frames hold (at most ``HOLD_LIMIT``): a frame during a flood costs
  the app tens of milliseconds, and each one between the input and its echo
  would delay the echo by that much; the backlog is fed at full speed instead,
  and the first frame after it shows the echo.
"""

from __future__ import annotations

MIN_INTERVAL = 1 / 60
BUSY_INTERVAL = 1 / 10
#: Textual's own work for a changed line costs about what rendering it costs us.
COST_FACTOR = 12.0
#: After a prompt, frames run at the full rate for this long (one or two frames).
PROMPT_WINDOW = 0.02
#: How long after input its echo is looked for in the output.
ECHO_DEADLINE = 0.5
_MAX_ECHO = 8
#: The longest frames hold for an echo (a program need not echo at all).
HOLD_LIMIT = 0.15


class FramePacer:
    def __init__(self) -> None:
        self.next_at = 0.0
        self.last_at = 0.0
        self.prompt_until = 0.0
        #: Frames hold until then for an awaited echo (see ``holding``).
        self.hold_until = 0.0
        self._echo_at: int | None = None
        self._echo: bytes | None = None
        self._echo_until = 0.0
        #: The end of the output fed last, for an echo split across two slices.
        self._tail = b""

    def delay(self, now: float) -> float:
        """Seconds until the next frame may run."""
        return max(0.0, self.next_at - now)

    def frame_done(self, started: float, cost: float, *, busy: bool) -> None:
        """A frame started at ``started`` took ``cost`` seconds to render."""
        self.last_at = started
        if started < self.prompt_until:
            interval = MIN_INTERVAL
        else:
            interval = max(BUSY_INTERVAL if busy else MIN_INTERVAL, cost * COST_FACTOR)
        self.next_at = started + interval

    def holding(self, now: float) -> float:
        """Seconds frames still hold for an echo (0.0: paint)."""
        return max(0.0, self.hold_until - now)

    def prompt(self, now: float) -> None:
        """The next frame comes as soon as the 60 Hz cap allows (a hold ends)."""
        self.hold_until = 0.0
        self.prompt_until = now + PROMPT_WINDOW
        self.next_at = min(self.next_at, self.last_at + MIN_INTERVAL)

    def input_sent(self, data: bytes, *, fed: int, backlog: int, now: float) -> bool:
        """Input went to the program; True when a prompt frame is due right away."""
        printable = 0 < len(data) <= _MAX_ECHO and all(32 <= b < 127 for b in data)
        self._echo = data if printable else None
        self._tail = b""
        self._echo_until = now + ECHO_DEADLINE
        if backlog:
            self._echo_at = fed + backlog
            self.hold_until = now + HOLD_LIMIT
            return False
        self._echo_at = fed
        self.prompt(now)
        return True

    def output_fed(self, data: bytes, *, fed: int, now: float) -> bool:
        """Output was fed (``fed`` counts it); True when a prompt frame is due."""
        echo_at = self._echo_at
        if echo_at is None or fed < echo_at:
            return False
        if now > self._echo_until:
            self._echo_at = self._echo = None
            return False
        echo = self._echo
        if echo is None:  # the backlog is done: what the input did comes next
            self._echo_at = None
            self.prompt(now)
            return True
        seen = self._tail + data  # the echo may straddle two slices of the output
        self._tail = seen[-(len(echo) - 1):] if len(echo) > 1 else b""
        if echo in seen:
            self.prompt(now)
            return True
        return False
