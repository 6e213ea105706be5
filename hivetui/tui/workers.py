"""Worker failures, handled in one place: the app's ``on_work_failed``.

The UI's async work runs in Textual workers, which die with the node that started them
(a screen's sparkline fetches end when it closes; nothing cancels them by hand). Their
bodies turn the hive's refusals into toasts where they call the API (``attempt``,
``ApiCalls``); anything else a worker raises ends it in the ``ERROR`` state. A node that
runs workers mixes in :class:`ReportsWorkerErrors`: such a failure then posts
:class:`WorkFailed`, which bubbles to the app, which logs it with its traceback and shows
it (:meth:`~hivetui.tui.app.HiveApp.on_work_failed`). Workers are started with
``exit_on_error=False``: a failed fetch is a toast, never the end of the operator's UI.
"""

from __future__ import annotations

from textual.message import Message
from textual.worker import Worker, WorkerState


class WorkFailed(Message):
    """``worker`` raised; ``worker.error`` says what (bubbles to the app)."""

    def __init__(self, worker: Worker[object]) -> None:
        super().__init__()
        self.worker = worker


class ReportsWorkerErrors:
    """Mixed into a node that runs workers: each failure of one goes to the app."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            event.worker.node.post_message(WorkFailed(event.worker))
