"""Text for the messages the hub writes from prepared markup instead of element by element.

Filling prepared texts is many times faster than building an lxml tree, and gives the same
bytes only if every value is written as lxml writes it: ``escape_text`` escapes what lxml
escapes (``&``, ``<``, ``>`` and carriage return in element text; also ``"``, newline and
tab in an attribute value), ``checked_text`` first refuses what lxml refuses (a non-str, or
a character XML 1.0 cannot carry) with a ``ValueError`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# What etree.tostring(..., xml_declaration=True, encoding="UTF-8") puts before the root.
XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"

# Text that neither element text nor an attribute value escapes.
_PLAIN = re.compile(r"[^&<>\r\n\t\"]*")
# Text that XML 1.0 can carry and element text does not escape.
_SAFE = re.compile("[\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
# Characters XML 1.0 cannot carry (lxml refuses them in element text).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape_text(text: str, *, attribute: bool = False) -> str:
    """``text`` escaped as lxml writes element text (or, with ``attribute``, an attribute
    value); ``text`` itself when nothing needs it."""
    if _PLAIN.fullmatch(text):
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    return text


def checked_column(label: str, texts: list[str]) -> list[str]:
    """``texts`` checked and escaped (``checked_text``); ``texts`` itself when one match
    over their joined text shows that none needs it, as with a message's many ids."""
    try:
        joined = "".join(texts)
    except TypeError:
        joined = "&"  # some item is not a str: checked_text names it
    if _SAFE.fullmatch(joined):
        return texts
    return [checked_text(label, text) for text in texts]


def check_text(label: str, text: str) -> None:
    """Refuse a ``text`` that is not a str or holds a character XML cannot carry."""
    if not isinstance(text, str) or NOT_XML.search(text):
        raise ValueError(f"{label} holds a character XML cannot carry: {text!r}")


def checked_text(label: str, text: str) -> str:
    """``text`` checked (``check_text``) and escaped as element text."""
    check_text(label, text)
    return escape_text(text)


def uuid_texts(numbers: Sequence[int]) -> list[str]:
    """The canonical text (8-4-4-4-12 lowercase hex digits) of each 128-bit number, e.g.
    the UETRs of a bulk message's payments: all of them in a few array operations, where
    slicing each number's hex digits apart costs three times as much."""
    count = len(numbers)
    if count and (min(numbers) < 0 or max(numbers) >> 128):
        raise ValueError("a UUID is a number from 0 to 2**128 - 1")
    if count < _UUID_ARRAYS_MIN:  # a few: the arrays' set-up would cost more than it saves
        return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                for h in map("%032x".__mod__, numbers)]  # fmt: skip
    digits = (("%032x" * count) % tuple(numbers)).encode("ascii")
    texts = np.full((count, 37), ord("-"), dtype=np.uint8)
    texts[:, _UUID_DIGITS] = np.frombuffer(digits, dtype=np.uint8).reshape(count, 32)
    texts[:, 36] = ord("\n")
    return texts.tobytes().decode("ascii").split("\n")[:count]


_UUID_ARRAYS_MIN = 24
# Where the 32 hex digits of a UUID go in its 36 characters (the others are hyphens).
_UUID_DIGITS = np.array([*range(8), *range(9, 13), *range(14, 18), *range(19, 23), *range(24, 36)])
