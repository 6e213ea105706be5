"""The `:` command line (k9s style) and the `/` slash commands of the compose box.

Pure parsing: text in, a typed command out, or a :class:`CommandError` whose message is
one line naming what was wrong and how to write it. The app executes what comes out.

    >>> parse_command(":model alice claude-opus-4-1")
    SetModel(name='alice', model='claude-opus-4-1', persist=False)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from hivetui.core.errors import HiveError
from hivetui.core.names import validate_agent_name


class CommandError(HiveError):
    title = "Command"


@dataclass(frozen=True)
class Navigate:
    """Open a screen: agents (the fleet), approvals, questions, kept, help."""

    target: str


@dataclass(frozen=True)
class OpenAgent:
    name: str
    tab: str = "overview"  # overview | messages | logs | transcript | terminal
    turn: int | None = None  # the transcript tab at this turn


@dataclass(frozen=True)
class AgentAction:
    action: str  # start | stop | restart | rebuild | destroy
    name: str
    #: From a single key: stop, restart and rebuild ask first too (destroy always asks).
    by_key: bool = False


@dataclass(frozen=True)
class SetModel:
    name: str
    model: str
    persist: bool = False


@dataclass(frozen=True)
class Spawn:
    name: str
    runtime: str | None = None
    manager: bool = False


@dataclass(frozen=True)
class Send:
    name: str
    text: str


@dataclass(frozen=True)
class Grep:
    """Search every agent's transcripts."""

    text: str


@dataclass(frozen=True)
class Quit:
    pass


Command = Navigate | OpenAgent | AgentAction | SetModel | Spawn | Send | Grep | Quit


@dataclass(frozen=True)
class CommandSpec:
    usage: str
    help: str


#: Every `:` command, for `?` help, the suggester and error messages.
COMMANDS: dict[str, CommandSpec] = {
    "agents": CommandSpec(":agents", "the fleet (also :fleet, :a)"),
    "approvals": CommandSpec(":approvals", "pending approvals (also :ap)"),
    "questions": CommandSpec(":questions", "questions from the manager (also :qs)"),
    "kept": CommandSpec(":kept", "kept agents: revive or purge"),
    "help": CommandSpec(":help", "every key and command (also ?)"),
    "open": CommandSpec(":open NAME [TAB]", "an agent's detail (TAB: overview, messages, "
                                            "logs, transcript, terminal)"),
    "logs": CommandSpec(":logs NAME", "an agent's logs"),
    "transcript": CommandSpec(":transcript NAME [TURN]", "an agent's turns: what it said, "
                                                         "ran and got back (also :tr)"),
    "grep": CommandSpec(":grep TEXT", "search every agent's transcripts"),
    "model": CommandSpec(":model NAME MODEL [--persist]", "set an agent's model"),
    "spawn": CommandSpec(":spawn NAME [RUNTIME] [--manager]", "spawn an agent (operator, "
                                                              "no approval)"),
    "send": CommandSpec(":send NAME TEXT", "send TEXT to NAME as the operator"),
    "start": CommandSpec(":start NAME", "start an agent's container"),
    "stop": CommandSpec(":stop NAME", "stop an agent's container"),
    "restart": CommandSpec(":restart NAME", "restart an agent's container"),
    "rebuild": CommandSpec(":rebuild NAME", "rebuild an agent's container"),
    "destroy": CommandSpec(":destroy NAME", "destroy an agent's container (asks first; "
                                            "state is kept)"),
    "quit": CommandSpec(":quit", "leave hivetui (also :q)"),
}

_ALIASES = {"fleet": "agents", "a": "agents", "ap": "approvals", "qs": "questions",
            "q": "quit", "q!": "quit", "exit": "quit", "h": "help", "tr": "transcript"}
_NAVIGATE = ("agents", "approvals", "questions", "kept", "help")
_ACTIONS = ("start", "stop", "restart", "rebuild", "destroy")
TABS = ("overview", "messages", "logs", "transcript", "terminal")
GREP_MAX_CHARS = 200


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise CommandError(f"could not read the command ({exc}): close the quote") from exc


def _name(value: str, usage: str) -> str:
    try:
        return validate_agent_name(value)
    except HiveError as exc:
        raise CommandError(f"{exc.message} — usage {usage}") from exc


def _model(value: str) -> str:
    if len(value) > 100:
        raise CommandError("model names are at most 100 characters")
    return value


def parse_command(text: str) -> Command:
    """Parse one `:` command line (the leading ``:`` is optional)."""
    body = text.strip()
    if body.startswith(":"):
        body = body[1:].lstrip()
    if not body:
        raise CommandError("empty command: type :help for the list")
    verb_raw, _, rest = body.partition(" ")
    verb = _ALIASES.get(verb_raw.lower(), verb_raw.lower())
    spec = COMMANDS.get(verb)
    if spec is None:
        known = ", ".join(f":{name}" for name in COMMANDS)
        raise CommandError(f"unknown command :{verb_raw} — known: {known}")
    if verb == "send":
        # the text is free: keep it exactly as typed after the name
        name_raw, _, message = rest.strip().partition(" ")
        if not name_raw or not message.strip():
            raise CommandError(f"usage {spec.usage}")
        return Send(_name(name_raw, spec.usage), message.strip())
    if verb == "grep":
        # the text is free too: everything after the verb, as typed
        needle = rest.strip()
        if not needle:
            raise CommandError(f"usage {spec.usage}")
        if len(needle) > GREP_MAX_CHARS:
            raise CommandError(f":grep searches for at most {GREP_MAX_CHARS} characters")
        return Grep(needle)
    args = _split(rest)
    flags = {a for a in args if a.startswith("--")}
    words = [a for a in args if not a.startswith("--")]
    allowed = {"model": {"--persist"}, "spawn": {"--manager"}}.get(verb, set())
    if flags - allowed:
        bad = ", ".join(sorted(flags - allowed))
        raise CommandError(f"unknown option {bad} for :{verb} — usage {spec.usage}")
    if verb in _NAVIGATE or verb == "quit":
        if words:
            raise CommandError(f":{verb} takes no arguments — usage {spec.usage}")
        return Quit() if verb == "quit" else Navigate(verb)
    if verb in _ACTIONS or verb == "logs":
        if len(words) != 1:
            raise CommandError(f"usage {spec.usage}")
        name = _name(words[0], spec.usage)
        return OpenAgent(name, "logs") if verb == "logs" else AgentAction(verb, name)
    if verb == "transcript":
        if len(words) not in (1, 2) or (len(words) == 2 and not words[1].isdigit()):
            raise CommandError(f"usage {spec.usage} (TURN: a turn number)")
        return OpenAgent(_name(words[0], spec.usage), "transcript",
                         int(words[1]) if len(words) == 2 else None)
    if verb == "open":
        if len(words) not in (1, 2):
            raise CommandError(f"usage {spec.usage}")
        tab = words[1].lower() if len(words) == 2 else "overview"
        if tab not in TABS:
            raise CommandError(f"unknown tab {tab!r}: one of {', '.join(TABS)}")
        return OpenAgent(_name(words[0], spec.usage), tab)
    if verb == "model":
        if len(words) != 2:
            raise CommandError(f"usage {spec.usage}")
        return SetModel(_name(words[0], spec.usage), _model(words[1]),
                        persist="--persist" in flags)
    # spawn
    if len(words) not in (1, 2):
        raise CommandError(f"usage {spec.usage}")
    return Spawn(_name(words[0], spec.usage), words[1] if len(words) == 2 else None,
                 manager="--manager" in flags)


# --- the compose box's slash commands (in an agent's context) ----------------------

SLASH_COMMANDS: dict[str, CommandSpec] = {
    "model": CommandSpec("/model MODEL [--persist]", "set this agent's model"),
}


@dataclass(frozen=True)
class SendText:
    """Plain text to send (``//text`` sends ``/text``)."""

    text: str


Compose = SendText | SetModel


def parse_compose(text: str, agent: str) -> Compose:
    """What the compose box of ``agent``'s messages tab should do with ``text``."""
    stripped = text.strip()
    if not stripped:
        raise CommandError("nothing to send: type a message, or /model MODEL")
    if stripped.startswith("//"):
        return SendText(stripped[1:])
    if not stripped.startswith("/"):
        return SendText(stripped)
    args = _split(stripped[1:])
    verb = args[0].lower() if args else ""
    if verb != "model":
        known = ", ".join(spec.usage for spec in SLASH_COMMANDS.values())
        raise CommandError(f"unknown slash command /{verb} — known: {known} "
                           "(start with // to send a message beginning with /)")
    words = [a for a in args[1:] if not a.startswith("--")]
    flags = {a for a in args[1:] if a.startswith("--")}
    usage = SLASH_COMMANDS["model"].usage
    if len(words) != 1 or flags - {"--persist"}:
        raise CommandError(f"usage {usage}")
    return SetModel(agent, _model(words[0]), persist="--persist" in flags)


def suggestions(agent_names: list[str]) -> list[str]:
    """Completions for the command line: every verb, and verb + agent for agent verbs."""
    out = [f":{verb}" for verb in COMMANDS]
    for verb in ("open", "logs", "transcript", "model", "send", *_ACTIONS):
        out += [f":{verb} {name}" for name in agent_names]
    return out
