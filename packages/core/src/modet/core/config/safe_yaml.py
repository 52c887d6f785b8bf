"""Safe YAML for config files: no tag may run Python.

detectron2's ``Base-RetinaNet.yaml`` writes anchor sizes as
``!!python/object/apply:eval ["[[x, x * 2**(1.0/3), ...] for x in [32, 64]]"]``. That one tag is
accepted and its expression is evaluated by a tiny interpreter that knows literals,
arithmetic, lists, tuples and comprehensions, and nothing else.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import yaml

EVAL_TAG = "tag:yaml.org,2002:python/object/apply:eval"

_BINARY_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_POWER = 64
_MAX_ITEMS = 100_000


class UnsafeExpressionError(ValueError):
    """An expression in a config file uses something the restricted evaluator refuses."""


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(exponent, (int, float)) and abs(exponent) > _MAX_POWER:
        raise UnsafeExpressionError(f"exponent {exponent} is too large")
    return operator.pow(base, exponent)


def _check_size(items: list[Any]) -> list[Any]:
    if len(items) > _MAX_ITEMS:
        raise UnsafeExpressionError(f"expression builds more than {_MAX_ITEMS} items")
    return items


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source

    def refuse(self, node: ast.AST) -> UnsafeExpressionError:
        return UnsafeExpressionError(
            f"{type(node).__name__} is not allowed in a config expression "
            f"(only literals, arithmetic, lists and comprehensions): {self.source!r}"
        )

    def eval(self, node: ast.AST, scope: dict[str, Any]) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body, scope)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return node.value
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in scope:
                raise UnsafeExpressionError(f"unknown name {node.id!r} in config expression {self.source!r}")
            return scope[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            values = _check_size([self.eval(elt, scope) for elt in node.elts])
            return values if isinstance(node, ast.List) else tuple(values)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if isinstance(node.op, ast.Pow):
                return _power(left, right)
            if isinstance(node.op, ast.Mult) and any(isinstance(v, (list, tuple, str)) for v in (left, right)):
                raise self.refuse(node)
            return _BINARY_OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
            return _UNARY_OPS[type(node.op)](self.eval(node.operand, scope))
        if isinstance(node, ast.ListComp):
            return _check_size(self.comprehension(node.elt, node.generators, scope))
        raise self.refuse(node)

    def comprehension(self, elt: ast.AST, generators: list[ast.comprehension], scope: dict[str, Any]) -> list[Any]:
        first, rest = generators[0], generators[1:]
        if first.is_async or first.ifs or not isinstance(first.target, ast.Name):
            raise self.refuse(first)
        results: list[Any] = []
        for value in _check_size(list(self.eval(first.iter, scope))):
            inner = {**scope, first.target.id: value}
            if rest:
                results.extend(self.comprehension(elt, rest, inner))
            else:
                results.append(self.eval(elt, inner))
        return results


def restricted_eval(source: str) -> Any:
    """Evaluate a literal/arithmetic/list-comprehension expression without Python's eval."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpressionError(f"config expression is not valid Python: {source!r}") from exc
    return _Evaluator(source).eval(tree, {})


class ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader plus the restricted ``!!python/object/apply:eval`` tag."""


def _construct_eval(loader: ConfigLoader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!!python/object/apply:eval expects a list with one expression string", node.start_mark
        )
    args = loader.construct_sequence(node)
    if len(args) != 1 or not isinstance(args[0], str):
        raise yaml.constructor.ConstructorError(
            None, None, "!!python/object/apply:eval expects exactly one expression string", node.start_mark
        )
    return restricted_eval(args[0])


ConfigLoader.add_constructor(EVAL_TAG, _construct_eval)


def load_yaml(stream: Any) -> Any:
    """Parse YAML with :class:`ConfigLoader`."""
    return yaml.load(stream, Loader=ConfigLoader)
