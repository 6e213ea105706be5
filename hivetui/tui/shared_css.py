"""Parsed Textual CSS shared by every stylesheet of the process, so each source is parsed once.

Textual parses a stylesheet's sources per :class:`~textual.css.stylesheet.Stylesheet`,
and re-parses all of them into a fresh one whenever a screen brings a stylesheet of its
own (``reparse``). Most of an app's start-up CSS work is that parsing, repeated. A
:class:`SharedParseStylesheet` keeps the parsed rules in one process-wide table, keyed by
everything the parse depends on (the source text, where it was read, default or not, its
tie-breaker and scope, and the CSS variables of the theme), so a source is parsed once per
process and theme. The SSH session zygote parses them all before it forks (see
:mod:`hivetui.tui.warmup`): its sessions then parse nothing.

Parsed rules are never modified after parsing (Textual's own cache hands the same ones
out again), so sharing them between stylesheets changes nothing but the time.
"""

from __future__ import annotations

from textual.css.model import RuleSet
from textual.css.stylesheet import Stylesheet
from textual.css.tokenize import tokenize_values
from textual.css.tokenizer import Token
from textual.css.types import CSSLocation

#: parsed rules by (variables, css, read_from, is_default_rules, tie_breaker, scope)
_RULES: dict[tuple[object, ...], list[RuleSet]] = {}
#: the tokens of a theme's variables, by those variables
_TOKENS: dict[tuple[tuple[str, str], ...], dict[str, list[Token]]] = {}


def _variables_key(variables: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(variables.items()))


class SharedParseStylesheet(Stylesheet):
    """A Textual stylesheet whose parsed sources come from the process-wide table."""

    def __init__(self, *, variables: dict[str, str] | None = None) -> None:
        super().__init__(variables=variables)
        self._key: tuple[tuple[str, str], ...] | None = None

    def set_variables(self, variables: dict[str, str]) -> None:
        super().set_variables(variables)
        self._key = None

    @property
    def variables_key(self) -> tuple[tuple[str, str], ...]:
        if self._key is None:
            self._key = _variables_key(self._variables)
        return self._key

    @property
    def _variable_tokens(self) -> dict[str, list[Token]]:
        tokens = _TOKENS.get(self.variables_key)
        if tokens is None:
            tokens = _TOKENS[self.variables_key] = tokenize_values(self._variables)
        return tokens

    def _parse_rules(self, css: str, read_from: CSSLocation, is_default_rules: bool = False,
                     tie_breaker: int = 0, scope: str = "") -> list[RuleSet]:
        key = (self.variables_key, css, read_from, is_default_rules, tie_breaker, scope)
        rules = _RULES.get(key)
        if rules is None:
            rules = super()._parse_rules(css, read_from, is_default_rules, tie_breaker, scope)
            _RULES[key] = rules
        return rules

    def copy(self) -> SharedParseStylesheet:
        stylesheet = SharedParseStylesheet(variables=self._variables.copy())
        stylesheet.source = self.source.copy()
        return stylesheet

    def reparse(self) -> None:
        """As Textual's: parse every source again (here: look them up) in a fresh
        stylesheet, so an error leaves this one as it was."""
        fresh = SharedParseStylesheet(variables=self._variables)
        for read_from, source in self.source.items():
            fresh.add_source(source.content, read_from=read_from,
                             is_default_css=source.is_defaults,
                             tie_breaker=source.tie_breaker, scope=source.scope)
        try:
            fresh.parse()
        except Exception:
            self._invalid_css.update(fresh._invalid_css)
            raise
        self._rules = fresh.rules
        self._rules_map = None
        self.source = fresh.source
        self._require_parse = False


def parsed_sources() -> int:
    """How many parsed sources the process holds (all themes)."""
    return len(_RULES)
