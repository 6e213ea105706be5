"""The model and ``usage`` of a Messages API response, read while it streams through.

A streamed answer (``text/event-stream``) names them in ``message_start`` (``message.model``,
``message.usage``: input and cache tokens, a first output count) and ``message_delta``
(``usage``: the final, cumulative output count, and in newer API versions the input counts
again); a later value of a field replaces an earlier one. A plain JSON answer carries
``model`` and ``usage`` at its top level. Only ``data:`` lines of those two events are
decoded: the text deltas in between cost one substring test each.

Nothing here holds a response back: the broker forwards each chunk first and feeds it here
after.
"""

from __future__ import annotations

import json
from typing import Any

#: a plain JSON answer longer than this is not read for usage (a Messages answer is far
#: smaller; an endpoint that answers more has no usage to count)
MAX_JSON_BYTES = 4 * 1024 * 1024
#: an SSE line longer than this is skipped (usage lines are a few hundred bytes)
MAX_LINE_BYTES = 256 * 1024
_WANTED = (b'"message_start"', b'"message_delta"')


class UsageReader:
    """Feed it a response's body chunks in order; then read ``model`` and ``usage``."""

    def __init__(self, streaming: bool) -> None:
        self.streaming = streaming
        self.model = ""
        self.usage: dict[str, Any] = {}
        self._pending = b""
        self._skipping = False  # inside an over-long line: dropped up to its end

    def feed(self, chunk: bytes) -> None:
        if not self.streaming:
            if self._skipping:
                return
            if len(self._pending) + len(chunk) <= MAX_JSON_BYTES:
                self._pending += chunk
            else:
                self._pending, self._skipping = b"", True
            return
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            if line.startswith(b"data:") and any(w in line for w in _WANTED):
                self._event(line[5:])
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending, self._skipping = b"", True

    def finish(self) -> None:
        """The body ended: a plain JSON answer is read now."""
        if self.streaming or self._skipping or not self._pending:
            return
        try:
            body = json.loads(self._pending)
        except ValueError:
            return
        if isinstance(body, dict):
            self._take(body.get("model"), body.get("usage"))

    def _event(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            self._take(message.get("model"), message.get("usage"))
        elif event.get("type") == "message_delta":
            self._take(None, event.get("usage"))

    def _take(self, model: object, usage: object) -> None:
        if isinstance(model, str) and model:
            self.model = model[:200]
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if isinstance(k, str)})
