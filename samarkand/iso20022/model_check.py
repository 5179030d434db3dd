"""Validation against pyiso20022's generated dataclasses, for messages with no vendored XSD.

pyiso20022 (xsdata) generated its classes from the official XSDs and kept every facet of
them in the field metadata: ``required``, ``min_occurs``/``max_occurs``, ``min_length``/
``max_length``, ``pattern``, ``min_inclusive``, ``total_digits``, ``fraction_digits``.
This module parses a document strictly (an unknown element or attribute, or a value that
does not convert to its type or enumeration, is refused) and then walks the bound object
checking those facets, so a message gets the same kind of answer as from an XSD: every
problem with its ISO code and element path (CH17 not admitted, CH21 missing, CH16 content).

What it does not check that an XSD would: the order of elements (the parser accepts any
order) and ``xs:choice`` exclusivity. ``xsd/README.md`` lists which messages this covers.

A decimal is read by its ``xs:decimal`` lexical form only (``XsDecimal``): xsdata's own
converter takes whatever Python's ``Decimal`` takes (``1E5``, ``NaN``, ``1_000``, digits
of any script), which an XSD refuses, and an amount written ``1E5`` would settle 100,000.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import sys
from decimal import Decimal
from enum import Enum
from typing import Any

from lxml import etree
from xsdata.exceptions import ConverterError, ParserError
from xsdata.formats.converter import DecimalConverter, converter
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler

from .problems import (
    ELEMENT_CONTENT_INCORRECT,
    ELEMENT_NOT_ADMITTED,
    REQUIRED_ELEMENT_MISSING,
    IsoRejection,
    clip,
    local_name,
)

PROBLEMS_MAX = 100
_STRICT = ParserConfig(
    fail_on_unknown_properties=True,
    fail_on_unknown_attributes=True,
    fail_on_converter_warnings=True,
)
_NAMESPACE = re.compile(r"\{[^}]*\}")
_XS_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


class XsDecimal(DecimalConverter):
    """xsdata's decimal converter, taking only the ``xs:decimal`` lexical form."""

    def deserialize(self, value: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or not _XS_DECIMAL.fullmatch(value.strip(" \t\r\n")):
            raise ConverterError(f"`{clip(str(value), 40)}` is not an xs:decimal")
        return super().deserialize(value.strip(" \t\r\n"), **kwargs)


converter.register_converter(Decimal, XsDecimal())


@functools.cache
def document_class(message_id: str) -> type:
    """pyiso20022's ``Document`` class of ``message_id`` (e.g. ``pacs.009.001.08``), imported
    on first use (each generated module is large)."""
    # One explicit import per message: the package decides which models exist, not input.
    if message_id == "pacs.002.001.10":
        from pyiso20022.pacs.pacs_002_001_10 import Document
    elif message_id == "pacs.009.001.08":
        from pyiso20022.pacs.pacs_009_001_08 import Document
    elif message_id == "pacs.004.001.09":
        from pyiso20022.pacs.pacs_004_001_09 import Document
    elif message_id == "camt.050.001.07":
        from pyiso20022.camt.camt_050_001_07 import Document
    elif message_id == "camt.056.001.08":
        from pyiso20022.camt.camt_056_001_08 import Document
    elif message_id == "camt.029.001.09":
        from pyiso20022.camt.camt_029_001_09 import Document
    elif message_id == "head.001.001.02":
        from pyiso20022.head.head_001_001_02 import AppHdr as Document
    else:
        raise ValueError(f"no pyiso20022 model wired for {message_id!r}")
    return Document  # type: ignore[no-any-return]


def parse(root: etree._Element, message_id: str) -> Any:
    """Bind ``root`` to the Document dataclass; raises ``ParserError`` on unknown content.

    The parser clears each element once bound, so it reads a copy: ``root`` stays whole.
    """
    parser = XmlParser(config=_STRICT, handler=LxmlEventHandler)
    return parser.parse(copy.deepcopy(root), document_class(message_id))


def validate_with_model(root: etree._Element, message_id: str) -> list[IsoRejection]:
    """Return the problems of ``root`` against the model of ``message_id``; [] when valid."""
    try:
        document = parse(root, message_id)
    except (ParserError, TypeError, ValueError) as error:
        # ParserError: unknown content or a value its type refuses; TypeError: a dataclass
        # built without a mandatory element; ValueError: a converter refusing a value.
        return [_parser_problem(str(error), message_id)]
    problems: list[IsoRejection] = []
    _walk(document, "/" + local_name(root.tag), problems)
    return problems[:PROBLEMS_MAX]


_CONVERSION = re.compile(r"Failed to convert value for `(\w+)\.(\w+)`\s*(.*)", re.DOTALL)
_MISSING = re.compile(r"(\w+)\.__init__\(\) missing \d+ required keyword-only arguments?: (.*)")


def _parser_problem(text: str, message_id: str) -> IsoRejection:
    readable = _readable(text)
    if text.startswith("Unknown property"):
        # "Unknown property GroupHeader93:Foo": the type, then the element not admitted.
        name = readable.rpartition(":")[2]
        return IsoRejection(ELEMENT_NOT_ADMITTED, clip(f"element {name} is not allowed here"))
    missing = _MISSING.search(text)
    if missing:
        # A mandatory element is absent: the dataclass could not be built. Name the XML
        # elements and the ISO type that needs them (the parser gives no position).
        type_name, arguments = missing.groups()
        names = [_xml_name(message_id, type_name, a) for a in re.findall(r"'(\w+)'", arguments)]
        reason = f"mandatory {', '.join(names)} missing in a {type_name}"
        return IsoRejection(REQUIRED_ELEMENT_MISSING, clip(reason))
    converted = _CONVERSION.search(text)
    if converted:
        # "Failed to convert value for `GroupHeader93.cre_dt_tm`\n  `x` is not a valid ..."
        type_name, attribute, detail = converted.groups()
        name = _xml_name(message_id, type_name, attribute)
        reason = f"{name} in a {type_name}: {detail.replace('`', '')}"
        return IsoRejection(ELEMENT_CONTENT_INCORRECT, clip(reason))
    return IsoRejection(ELEMENT_CONTENT_INCORRECT, clip(readable))


def _xml_name(message_id: str, type_name: str, attribute: str) -> str:
    module = sys.modules[document_class(message_id).__module__]
    cls = getattr(module, type_name, None)
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        for name, xml_name, _, _ in _fields(cls):
            if name == attribute and xml_name:
                return str(xml_name)
    return attribute


def _readable(text: str) -> str:
    return _NAMESPACE.sub("", text)


_Fields = tuple[tuple[str, str, str, dict[str, Any]], ...]
_FIELDS: dict[type, _Fields] = {}


def _fields(cls: type) -> _Fields:
    """(attribute, XML name, kind, metadata) of each field of a generated dataclass."""
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple(
            (item.name, item.metadata.get("name", ""), item.metadata.get("type", "Element"),
             dict(item.metadata))
            for item in dataclasses.fields(cls)
        )  # fmt: skip
        _FIELDS[cls] = found
    return found


def _walk(node: Any, path: str, problems: list[IsoRejection]) -> None:
    if len(problems) >= PROBLEMS_MAX:
        return
    for attribute, name, kind, meta in _fields(type(node)):
        value = getattr(node, attribute)
        where = path if not name or kind == "Attribute" else f"{path}/{name}"
        if kind == "Attribute":
            where = f"{path}/@{name}"
        if isinstance(value, list):
            low = meta.get("min_occurs", 0)
            high = meta.get("max_occurs")
            if len(value) < low:
                problems.append(_missing(where, f"{name} is needed at least {low} times"))
            if high is not None and len(value) > high:
                reason = f"{name} appears {len(value)} times, at most {high} allowed"
                problems.append(IsoRejection(ELEMENT_NOT_ADMITTED, reason, path=where))
            for index, item in enumerate(value, start=1):
                step = f"{where}[{index}]" if len(value) > 1 else where
                _check_value(item, step, meta, problems)
            continue
        if value is None:
            if meta.get("required"):
                problems.append(_missing(where, f"{name or 'value'} is mandatory"))
            continue
        _check_value(value, where, meta, problems)


def _missing(path: str, reason: str) -> IsoRejection:
    return IsoRejection(REQUIRED_ELEMENT_MISSING, reason, path=path)


def _check_value(value: Any, path: str, meta: dict[str, Any], problems: list) -> None:
    if dataclasses.is_dataclass(value):
        _walk(value, path, problems)
        return
    if isinstance(value, Enum) or isinstance(value, bool):
        return
    reason = None
    if isinstance(value, str):
        low, high, pattern = meta.get("min_length"), meta.get("max_length"), meta.get("pattern")
        if low is not None and len(value) < low:
            reason = f"{len(value)} characters, at least {low} needed"
        elif high is not None and len(value) > high:
            reason = f"{len(value)} characters, at most {high} allowed"
        elif pattern is not None and not re.fullmatch(pattern, value):
            reason = f"{clip(value, 40)!r} does not match {pattern}"
    elif isinstance(value, Decimal):
        reason = _decimal_problem(value, meta)
    if reason is not None:
        problems.append(IsoRejection(ELEMENT_CONTENT_INCORRECT, reason, path=path))


def _decimal_problem(value: Decimal, meta: dict[str, Any]) -> str | None:
    if not value.is_finite():
        return f"{value} is not a number"
    low = meta.get("min_inclusive")
    if low is not None and value < low:
        return f"{value} is below the minimum {low}"
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    fraction = max(0, -exponent)
    total = max(len(digits), fraction)
    if meta.get("fraction_digits") is not None and fraction > meta["fraction_digits"]:
        return f"{value} has {fraction} decimals, at most {meta['fraction_digits']} allowed"
    if meta.get("total_digits") is not None and total > meta["total_digits"]:
        return f"{value} has {total} digits, at most {meta['total_digits']} allowed"
    return None
