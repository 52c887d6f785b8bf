"""Python-like text for a LazyConfig (``LazyConfig.to_py``), laid out as black lays out such code.

A config is plain data, calls (``_target_`` mappings), dicts and lists, so the layout rules are
few: an expression that fits in 88 columns stays on one line; otherwise its outermost brackets
open, and the contents go on one indented line when they fit (call arguments and single-element
collections) or one element per line with a trailing comma.
"""

from __future__ import annotations

import collections.abc as abc
from typing import Any

from ..locate import convert_target_to_string

__all__ = ["format_config_as_python"]

LINE_LENGTH = 88
INDENT = "    "


class _Group:
    """A bracketed expression: ``head`` (``"f"`` for a call, ``""`` for a literal) then ``open`` items ``close``."""

    def __init__(self, head: str, open_: str, items: list[_Expr], close: str, *, is_call: bool) -> None:
        self.head, self.open, self.items, self.close, self.is_call = head, open_, items, close, is_call


class _Expr:
    """``lead`` (``"x="``, ``'"k": '``, ``""``) followed by an atom's text or a bracketed group."""

    def __init__(self, lead: str, value: str | _Group) -> None:
        self.lead, self.value = lead, value

    def flat(self) -> str:
        g = self.value
        if isinstance(g, str):
            return self.lead + g
        return f"{self.lead}{g.head}{g.open}{', '.join(item.flat() for item in g.items)}{g.close}"


def _string_literal(text: str) -> str:
    """A double-quoted literal, as black normalises strings (single quotes if that saves escapes)."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _atom(value: Any) -> str:
    if isinstance(value, str):
        return _string_literal(value)
    return repr(value)


def _target_text(target: Any) -> str:
    if isinstance(target, str):
        return target
    try:
        return convert_target_to_string(target)
    except AttributeError:
        return repr(target)


def _to_expr(value: Any, lead: str = "") -> _Expr:
    if isinstance(value, abc.Mapping) and "_target_" in value:
        rest = {k: v for k, v in value.items() if k != "_target_"}
        items = [_to_expr(v, f"{k}=") for k, v in sorted(rest.items())]
        return _Expr(lead, _Group(_target_text(value["_target_"]), "(", items, ")", is_call=True))
    if isinstance(value, abc.Mapping):
        items = [_to_expr(v, f"{_atom(k)}: ") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
        return _Expr(lead, _Group("", "{", items, "}", is_call=False))
    if isinstance(value, (list, tuple)):
        return _Expr(lead, _Group("", "[", [_to_expr(v) for v in value], "]", is_call=False))
    return _Expr(lead, _atom(value))


def _lay_out(expr: _Expr, tail: str, depth: int, *, statement: bool = False) -> list[str]:
    indent = INDENT * depth
    one_line = indent + expr.flat() + tail
    group = expr.value
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    if isinstance(group, str) or not group.items:
        # an assigned atom that does not fit: black wraps it in parentheses if that makes it fit
        wrapped = indent + INDENT + expr.flat()[len(expr.lead) :]
        if statement and len(wrapped) <= LINE_LENGTH:
            return [f"{indent}{expr.lead}(", wrapped, f"{indent}){tail}"]
        return [one_line]
    lines = [f"{indent}{expr.lead}{group.head}{group.open}"]
    body = indent + INDENT + ", ".join(item.flat() for item in group.items)
    if len(group.items) == 1:
        lines.extend([body] if len(body) <= LINE_LENGTH else _lay_out(group.items[0], "", depth + 1))
    elif group.is_call and len(body) <= LINE_LENGTH:
        lines.append(body)
    else:
        for item in group.items:
            lines.extend(_lay_out(item, ",", depth + 1))
    lines.append(f"{indent}{group.close}{tail}")
    return lines


def _assignments(value: Any, name: str) -> list[str]:
    """``name.key = value`` lines: plain mappings become dotted names, everything else a value."""
    if isinstance(value, abc.Mapping) and "_target_" not in value:
        lines: list[str] = []
        for key, child in sorted(value.items(), key=lambda kv: str(kv[0])):
            lines.extend(_assignments(child, f"{name}.{key}"))
        return lines
    return _lay_out(_to_expr(value, f"{name} = "), "", 0, statement=True)


def format_config_as_python(cfg: abc.Mapping[str, Any], prefix: str = "cfg.") -> str:
    """Python-like text assigning every value of ``cfg`` (a resolved plain container)."""
    root = prefix[:-1] if prefix.endswith(".") else prefix
    lines: list[str] = []
    for key, value in sorted(cfg.items(), key=lambda kv: str(kv[0])):
        lines.extend(_assignments(value, f"{root}.{key}" if root else str(key)))
    return "\n".join(lines) + "\n" if lines else ""
