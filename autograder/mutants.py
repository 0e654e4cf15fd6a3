"""Mutants of the reference: small AST changes a wrong submission could make, for `validate` to grade.

Each mutation site is one node of a function body of a reference module (docstrings and the
`_naive` test oracles are left alone); a mutant applies exactly one mutation. Ids name the
module, line, column and operator, so they stay stable while the code around them does not move.
"""

import ast
import copy
import difflib
from dataclasses import dataclass

from autograder.homework import REFERENCE, manifest

MUTATED = manifest().mutants  # which reference modules are mutated, and the problem each mutant counts for
MODULE_PROBLEMS = dict(MUTATED.modules) if MUTATED else {}
FUNCTION_PROBLEM = dict(MUTATED.functions) if MUTATED else {}  # where a module serves several problems, each function's
NOT_GRADED = set(MUTATED.not_graded) if MUTATED else set()  # functions no case grades
PROVIDED = set(MUTATED.provided) if MUTATED else set()  # classes the homework hands out whole
SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.Pow: ast.Mult,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
DROPPABLE_CALLS = {"sqrt", "exp", "sum", "tril"}  # f(x) -> x
CALL_SWAPS = {
    "argmax": "argmin",
    "argmin": "argmax",
    "max": "min",
    "min": "max",
    "maximum": "minimum",
    "minimum": "maximum",
    "sin": "cos",
    "cos": "sin",
    "sum": "mean",
    "mean": "sum",
}  # np.argmax(x) -> np.argmin(x), ...


@dataclass
class Mutant:
    id: str
    module: str
    function: str
    description: str
    source: str  # the whole mutated module

    @property
    def problem(self) -> str:
        return FUNCTION_PROBLEM.get(self.function, MODULE_PROBLEMS[self.module])

    def diff(self, original: str) -> str:
        """The changed lines, as a unified diff against the module's unparsed original."""
        lines = difflib.unified_diff(
            original.splitlines(), self.source.splitlines(), f"reference/{self.module}.py", "mutant", n=1, lineterm=""
        )
        return "\n".join(list(lines)[2:])


def _graded_functions(tree):
    """The functions a student writes and the grader grades: no `_naive` oracle, nothing of a class handed out."""
    provided = {
        id(node)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef) and cls.name in PROVIDED
        for node in ast.walk(cls)
    }
    return [
        f
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef)
        and not f.name.endswith("_naive")
        and f.name not in NOT_GRADED
        and id(f) not in provided
    ]


def _sites(tree):
    """(function name, node, operator name, apply) for every mutation site inside the graded functions."""
    for function in _graded_functions(tree):
        body = function.body[1:] if ast.get_docstring(function) else function.body
        for statement in body:
            for node in ast.walk(statement):
                for site in _node_sites(node):
                    yield (function.name, *site)


def _node_sites(node):
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAPS:
        yield (
            node,
            f"{type(node.op).__name__}->{SWAPS[type(node.op)].__name__}",
            lambda n: setattr(n, "op", SWAPS[type(n.op)]()),
        )
    if isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
        yield (
            node,
            f"{type(node.ops[0]).__name__}->{SWAPS[type(node.ops[0])].__name__}",
            lambda n: n.ops.__setitem__(0, SWAPS[type(n.ops[0])]()),
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        yield node, "constant+1", lambda n: setattr(n, "value", n.value + 1)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield node, "drop-minus", lambda n: setattr(n, "op", ast.UAdd())
    if isinstance(node, ast.Slice):
        for part in ("lower", "upper"):
            if getattr(node, part) is not None:
                yield (
                    node,
                    f"slice-{part}+1",
                    lambda n, p=part: setattr(n, p, ast.BinOp(getattr(n, p), ast.Add(), ast.Constant(1))),
                )
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in DROPPABLE_CALLS and node.args:
            yield node, f"drop-{name}", "replace-with-first-argument"
        if name in CALL_SWAPS:
            field = "attr" if isinstance(node.func, ast.Attribute) else "id"
            yield (
                node,
                f"{name}->{CALL_SWAPS[name]}",
                lambda n, f=field: setattr(n.func, f, CALL_SWAPS[getattr(n.func, f)]),
            )
        if len(node.args) >= 2:
            yield node, "swap-arguments", lambda n: n.args.__setitem__(slice(0, 2), [n.args[1], n.args[0]])
        for index, keyword in enumerate(node.keywords):
            if keyword.arg == "axis":
                yield (
                    node,
                    "axis-changed",
                    lambda n, i=index: setattr(
                        n.keywords[i], "value", ast.Constant(0 if ast.unparse(n.keywords[i].value) != "0" else 1)
                    ),
                )


class _ReplaceNode(ast.NodeTransformer):
    def __init__(self, target):
        self.target = target

    def generic_visit(self, node):
        node = super().generic_visit(node)
        return node.args[0] if node is self.target else node


def mutants_of(module: str) -> list[Mutant]:
    """Every single-site mutant of reference/<module>.py that still compiles."""
    tree = ast.parse((REFERENCE / f"{module}.py").read_text())
    found = []
    for index, (function, node, operator, _) in enumerate(list(_sites(tree))):
        mutated = copy.deepcopy(tree)
        _, target, _, apply = list(_sites(mutated))[index]
        if apply == "replace-with-first-argument":
            mutated = _ReplaceNode(target).visit(mutated)
        else:
            apply(target)
        ast.fix_missing_locations(mutated)
        try:
            source = ast.unparse(mutated)
            compile(source, module, "exec")
        except (SyntaxError, ValueError, TypeError):
            continue
        found.append(
            Mutant(
                f"{module}:{node.lineno}:{node.col_offset}:{operator}",
                module,
                function,
                f"{operator} at line {node.lineno}",
                source,
            )
        )
    return found


def original_source(module: str) -> str:
    """The module as the mutants print it (unparsed), for diffs."""
    return ast.unparse(ast.parse((REFERENCE / f"{module}.py").read_text()))
