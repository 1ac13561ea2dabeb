"""No library code changes interpreter-wide state or relies on private object layouts.

A regression guard for the speed tricks issue 15 removed (``gc.disable()`` around
structuring, ``__class__`` swapped on frozen attrs instances): the AST of every
module under postmark_kit/ is walked, so an alias (``import gc as g``,
``from gc import disable``) is caught as well as the plain call.  A module that
names none of the identifiers every rule needs is not parsed at all.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import pytest

import postmark_kit

PACKAGE = Path(postmark_kit.__file__).parent

#: module -> functions no library code may call (they change the whole interpreter).
FORBIDDEN_CALLS = {
    "gc": {"disable", "enable", "freeze", "unfreeze", "set_threshold"},
    "sys": {"setrecursionlimit", "setswitchinterval"},
}


#: Each rule needs one of these identifiers in the source: an import of gc or sys
#: (aliases keep the module's name in the import), ``setattr``, ``__setattr__`` or
#: ``__class__`` (a string spelling it with escapes is only read by ``setattr``).
#: Python reads identifiers NFKC-normalized (fullwidth ``gc`` is ``gc``): the text is too.
RULE_NAMES = re.compile(r"\b(?:gc|sys|setattr|__setattr__|__class__)\b")
#: And one of these: what a rule catches is a call of a forbidden function (named at
#: the call or in its ``from`` import), ``setattr``/``__setattr__`` or ``__class__``.
RULE_CALLS = re.compile(
    "|".join(sorted({*(f for fs in FORBIDDEN_CALLS.values() for f in fs), "setattr", "__class__"}))
)


def violations(source: str, filename: str = "<test>") -> list[str]:
    """What in ``source`` breaks the rules, as ``line: reason`` strings."""
    text = unicodedata.normalize("NFKC", source)
    if not (RULE_NAMES.search(text) and RULE_CALLS.search(text)):
        return []  # most modules: nothing to parse (parsing is most of the cost)
    nodes = list(ast.walk(ast.parse(source, filename)))  # walked twice: listed once
    modules: dict[str, str] = {}  # local name -> forbidden module it is bound to
    functions: dict[str, str] = {}  # local name -> "module.function"
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in FORBIDDEN_CALLS:
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_CALLS:
            for alias in node.names:
                if alias.name in FORBIDDEN_CALLS[node.module]:
                    functions[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in nodes:
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
                and func.attr in FORBIDDEN_CALLS[modules[func.value.id]]
            ):
                found.append(f"{node.lineno}: {modules[func.value.id]}.{func.attr}()")
            elif isinstance(func, ast.Name) and func.id in functions:
                found.append(f"{node.lineno}: {functions[func.id]}()")
            elif (
                isinstance(func, ast.Attribute)
                and func.attr == "__setattr__"
                and isinstance(func.value, ast.Name)
                and func.value.id == "object"
                and not _public_field(node)
            ):
                # Setting a declared public field of a frozen attrs instance is
                # attrs' documented escape hatch (convert.py sets ``extra`` so);
                # a private, dunder or computed name is writing past the layout.
                found.append(f"{node.lineno}: object.__setattr__() of a non-public name")
            elif (
                isinstance(func, ast.Name)
                and func.id == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "__class__"
            ):
                found.append(f"{node.lineno}: setattr(..., '__class__', ...)")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and sub.attr == "__class__":
                    found.append(f"{node.lineno}: assignment to .__class__")
    return found


def _public_field(call: ast.Call) -> bool:
    """``object.__setattr__(obj, "name", value)`` with a literal, public ``name``."""
    if len(call.args) != 3:
        return False
    name = call.args[1]
    return (
        isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and name.value.isidentifier()
        and not name.value.startswith("_")
    )


def library_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_walk_sees_the_whole_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in library_modules()}
    assert {"convert.py", "api/email.py", "receiver/journal.py"} <= names


@pytest.mark.parametrize(
    "module", library_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_no_interpreter_wide_state_or_private_layouts(module: Path) -> None:
    assert violations(module.read_text(encoding="utf-8"), str(module)) == []


@pytest.mark.parametrize(
    "source",
    [
        "import gc\ngc.disable()",
        "import gc\ntry:\n    pass\nfinally:\n    gc.enable()",
        "import gc as g\ng.freeze()",
        "from gc import set_threshold\nset_threshold(0)",
        "from gc import disable as off\noff()",
        "import sys\nsys.setrecursionlimit(10_000)",
        "import sys\nsys.setswitchinterval(1)",
        "def f(obj, cls):\n    obj.__class__ = cls",
        "def f(a, b, cls):\n    a.x, b.__class__ = 1, cls",
        "def f(obj, cls):\n    setattr(obj, '__class__', cls)",
        "def f(obj, cls):\n    object.__setattr__(obj, '__class__', cls)",
        "def f(obj):\n    object.__setattr__(obj, '_cache', 1)",
        "def f(obj, name):\n    object.__setattr__(obj, name, 1)",
        # Spellings the text filter must not skip: NFKC identifiers, escapes in strings.
        "import \uff47\uff43\n\uff47\uff43.disable()",
        "import os, gc as \uff47\n\uff47.freeze()",
        "from \uff53ys import setrecursionlimit as r\nr(1)",
        "def f(o, c):\n    o.__\uff43lass__ = c",
        "def f(o, c):\n    setattr(o, '\\x5f_class__', c)",
        "def f(o):\n    object.__set\uff41ttr__(o, '_x', 1)",
    ],
)
def test_each_trick_is_caught(source: str) -> None:
    assert violations(source), source


def test_the_text_filter_skips_only_what_no_rule_can_match() -> None:
    assert not RULE_NAMES.search("import os\nos.getpid()  # sysadmin, gcc, __class__es")
    assert RULE_NAMES.search("import gc") and RULE_NAMES.search("x.__class__ = y")


def test_reading_class_and_other_modules_is_fine() -> None:
    assert (
        violations(
            "import gc, sys\n"
            "def f(v):\n"
            "    gc.collect()\n"
            "    sys.getrecursionlimit()\n"
            "    object.__setattr__(v, 'extra', {})\n"
            "    return v.__class__ is dict\n"
        )
        == []
    )
