"""Which bridge tools belong to whom: the model's surface, and the harness's own.

The bridge serves two MCP endpoints with the same bearer identity:

- ``MODEL_PATH`` (``/mcp``), the one the model's MCP config names: only the tools a model
  may call, by role (``model_tools``). Anything else called there is an unknown tool.
- ``HARNESS_PATH`` (``/harness``): every tool, for the harness's own loop (receiving under
  lease, acknowledgements, turn reports, status, settings) and the scripted runtimes.

The harness derives ``--allowedTools`` from ``model_tools`` too, so what the model is
allowed and what the bridge serves it are one list.
"""

from __future__ import annotations

MODEL_PATH = "/mcp"
HARNESS_PATH = "/harness"

#: every agent's model may call these
AGENT_TOOLS = ("send",)
#: a manager's model may also call these
MANAGER_TOOLS = ("list_agents", "request_spawn", "request_spawn_draft", "request_spawn_commit",
                 "request_apply_commit", "start", "stop", "restart", "kill", "ask_operator",
                 "get_logs")
#: the harness's alone: never served to a model
HARNESS_TOOLS = ("recv", "ack", "set_status", "report_turn", "get_settings", "transcript")


def model_tools(role: str) -> tuple[str, ...]:
    """The tools the model of an agent with ``role`` sees and may call."""
    return AGENT_TOOLS + MANAGER_TOOLS if role == "manager" else AGENT_TOOLS


def harness_url(model_url: str) -> str:
    """The harness endpoint beside the model endpoint ``model_url`` (``…/mcp``)."""
    base = model_url.rstrip("/")
    if base.endswith(MODEL_PATH):
        base = base[: -len(MODEL_PATH)]
    return base + HARNESS_PATH


def model_url(harness: str) -> str:
    """The model endpoint beside the harness endpoint ``harness`` (``…/harness``)."""
    return harness.rstrip("/").removesuffix(HARNESS_PATH) + MODEL_PATH
