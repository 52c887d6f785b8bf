"""Safe YAML for config files: no tag may run Python.

detectron2's ``Base-RetinaNet.yaml`` writes anchor sizes as
``!!python/object/apply:eval ["[[x, x * 2**(1.0/3), ...] for x in [32, 64]]"]``. That one tag is
accepted and its expression is evaluated by a tiny interpreter that knows literals,
arithmetic, lists, tuples and comprehensions, and nothing else.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import yaml

EVAL_TAG = "tag:yaml.org,2002:python/object/apply:eval"

_BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

# Bounds that keep any expression cheap (detectron2's one expression needs a fraction of each):
MAX_SOURCE_CHARS = 2_000
MAX_STEPS = 50_000  # evaluated nodes plus comprehension iterations
MAX_ITEMS = 10_000  # items in one list or tuple
MAX_INT_BITS = 256
MAX_STR_CHARS = 10_000
MAX_GENERATORS = 3  # "for" clauses in one comprehension
MAX_DEPTH = 32  # nesting of the expression


class UnsafeExpressionError(ValueError):
    """An expression in a config file uses something the restricted evaluator refuses."""


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.steps = 0

    def refuse(self, node: ast.AST) -> UnsafeExpressionError:
        return UnsafeExpressionError(
            f"{type(node).__name__} is not allowed in a config expression "
            f"(only literals, arithmetic, lists and comprehensions): {self.source!r}"
        )

    def too_big(self, what: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(f"config expression {what}: {self.source[:200]!r}")

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise self.too_big(f"takes more than {MAX_STEPS} steps")

    def bounded(self, value: Any) -> Any:
        if isinstance(value, complex):
            raise self.too_big("makes a complex number")
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise self.too_big(f"makes an integer of more than {MAX_INT_BITS} bits")
        if isinstance(value, str) and len(value) > MAX_STR_CHARS:
            raise self.too_big(f"makes a string of more than {MAX_STR_CHARS} characters")
        if isinstance(value, (list, tuple)) and len(value) > MAX_ITEMS:
            raise self.too_big(f"builds more than {MAX_ITEMS} items")
        return value

    def power(self, base: Any, exponent: Any) -> Any:
        big = isinstance(base, int) and isinstance(exponent, int) and base.bit_length() * exponent > 2 * MAX_INT_BITS
        if big:
            raise self.too_big(f"raises to a power whose result has more than {MAX_INT_BITS} bits")
        return operator.pow(base, exponent)

    def eval(self, node: ast.AST, scope: dict[str, Any]) -> Any:
        self.step()
        if isinstance(node, ast.Expression):
            return self.eval(node.body, scope)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return self.bounded(node.value)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in scope:
                raise UnsafeExpressionError(f"unknown name {node.id!r} in config expression {self.source!r}")
            return scope[node.id]
        if isinstance(node, (ast.List, ast.Tuple)):
            values = self.bounded([self.eval(elt, scope) for elt in node.elts])
            return values if isinstance(node, ast.List) else tuple(values)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if isinstance(node.op, ast.Mult) and any(isinstance(v, (list, tuple, str)) for v in (left, right)):
                raise self.refuse(node)
            if isinstance(node.op, ast.Pow):
                return self.bounded(self.power(left, right))
            return self.bounded(_BINARY_OPS[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
            return _UNARY_OPS[type(node.op)](self.eval(node.operand, scope))
        if isinstance(node, ast.ListComp):
            if len(node.generators) > MAX_GENERATORS:
                raise self.too_big(f"has more than {MAX_GENERATORS} 'for' clauses in one comprehension")
            return self.bounded(self.comprehension(node.elt, node.generators, scope))
        raise self.refuse(node)

    def comprehension(self, elt: ast.AST, generators: list[ast.comprehension], scope: dict[str, Any]) -> list[Any]:
        first, rest = generators[0], generators[1:]
        if first.is_async or first.ifs or not isinstance(first.target, ast.Name):
            raise self.refuse(first)
        iterable = self.eval(first.iter, scope)
        if not isinstance(iterable, (list, tuple)):
            raise UnsafeExpressionError(f"a comprehension may only iterate over a list or tuple: {self.source!r}")
        results: list[Any] = []
        for value in iterable:
            self.step()
            inner = {**scope, first.target.id: value}
            if rest:
                results.extend(self.comprehension(elt, rest, inner))
            else:
                results.append(self.eval(elt, inner))
            self.bounded(results)
        return results


def _depth(node: ast.AST) -> int:
    children = list(ast.iter_child_nodes(node))
    return 1 + max((_depth(child) for child in children), default=0)


def restricted_eval(source: str) -> Any:
    """Evaluate a literal/arithmetic/list-comprehension expression without Python's eval.

    Bounded: a long source, a deep expression, a big power, a long list or too many steps
    is refused (:class:`UnsafeExpressionError`) before it can take long.
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise UnsafeExpressionError(f"config expression is longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        raise UnsafeExpressionError(f"config expression is not valid Python: {source[:200]!r}") from exc
    if _depth(tree) > MAX_DEPTH:
        raise UnsafeExpressionError(f"config expression is nested more than {MAX_DEPTH} levels: {source[:200]!r}")
    try:
        return _Evaluator(source).eval(tree, {})
    except (ArithmeticError, TypeError) as exc:
        raise UnsafeExpressionError(f"config expression {source[:200]!r} cannot be evaluated: {exc}") from exc


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
