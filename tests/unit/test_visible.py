"""The one sanitizer's contract (hivetui.core.visible), over any text an agent can send."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from hivetui.core.visible import json_visible, visible, visible_line

#: C0 but \n and DEL and C1, bidi overrides/isolates, lone surrogates
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_each_control_has_a_visible_stand_in() -> None:
    assert visible("a\x1b]2;t\x07b") == "a␛]2;t␇b"
    assert visible("x\x9b31m\x9dy") == "x\\x9b31m\\x9dy"
    assert visible("cr\rlf\nnul\x00del\x7f") == "cr␍lf\nnul␀del␡"
    assert visible_line("one\ntwo") == "one␊two"
    assert visible("a\tb") == "a   b"
    assert visible("\u202eevil") == "\\u202eevil"
    assert visible("bad \udc9b") == "bad \ufffd"
    assert visible("plain text, ünïcødé ✓") == "plain text, ünïcødé ✓"


@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_nothing_unsafe_survives(text: str) -> None:
    assert not UNSAFE.search(visible(text))
    assert not UNSAFE.search(visible_line(text).replace("\n", "\x00"))
    assert visible(text).count("\n") == text.count("\n")


@given(st.text(alphabet=st.characters(exclude_categories=())))
def test_json_stays_the_same_value(text: str) -> None:
    dumped = json_visible(json.dumps({"body": text}, ensure_ascii=False))
    assert not UNSAFE.search(dumped)
    assert json.loads(dumped) == {"body": text}
