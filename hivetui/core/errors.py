"""One error hierarchy for the whole product.

Every refusal is a ``HiveError`` subclass carrying a short ``title`` (which subsystem
refused) and a one-line message naming what was wrong and the rule.
"""

from __future__ import annotations


class HiveError(Exception):
    """Base of every error hivetui raises on purpose."""

    title = "Hive error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"type": type(self).__name__, "title": self.title, "message": self.message}


class ConfigError(HiveError):
    title = "Configuration error"


class StoreError(HiveError):
    title = "Store error"


class RegistryError(HiveError):
    title = "Agent registry error"


class NameError_(RegistryError):
    """An agent name that breaks the naming rule."""

    title = "Invalid agent name"


class NotFoundError(RegistryError):
    title = "Not found"


class BusError(HiveError):
    title = "Message bus error"


class BackpressureError(BusError):
    title = "Inbox full"


class PermissionDenied(HiveError):
    title = "Permission denied"


class BridgeError(HiveError):
    title = "MCP bridge error"


class ControlError(HiveError):
    title = "Control API error"


class ContainerError(HiveError):
    title = "Container error"


class ApprovalError(HiveError):
    title = "Approval error"


class QuestionError(HiveError):
    title = "Question error"


class HarnessError(HiveError):
    title = "Harness error"


class TelemetryError(HiveError):
    title = "Telemetry error"


class RepoError(HiveError):
    title = "Config repo error"


class SSHError(HiveError):
    title = "SSH error"


class TerminalError(HiveError):
    title = "Terminal error"


class NotAvailableError(HiveError):
    title = "Not available yet"


ERROR_TYPES: dict[str, type[HiveError]] = {
    cls.__name__: cls
    for cls in [
        HiveError,
        ConfigError,
        StoreError,
        RegistryError,
        NameError_,
        NotFoundError,
        BusError,
        BackpressureError,
        PermissionDenied,
        BridgeError,
        ControlError,
        ContainerError,
        ApprovalError,
        QuestionError,
        HarnessError,
        TelemetryError,
        RepoError,
        SSHError,
        TerminalError,
        NotAvailableError,
    ]
}


def error_from_dict(data: dict[str, str]) -> HiveError:
    """Rebuild an error that crossed the control socket."""
    cls = ERROR_TYPES.get(data.get("type", ""), HiveError)
    return cls(data.get("message", "unknown error"))
