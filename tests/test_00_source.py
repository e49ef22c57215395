"""The engine (src/core) is pure C: no Python.h, no PyObject, no GIL calls.

The reactor thread runs src/core and must never touch a Python object or wait
for the GIL (DESIGN.md, "Threads: two worlds, one wall").
"""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE = ROOT / "src" / "core"

# the same patterns as the before-stop hook, plus a few more CPython API names
FORBIDDEN = re.compile(
    r'#\s*include\s*[<"]Python\.h[">]'
    r"|\bPyObject\b|\bPy_INCREF\b|\bPy_DECREF\b|\bPy_XINCREF\b|\bPy_XDECREF\b"
    r"|\bPyGILState_\w*|\bPy_BEGIN_ALLOW_THREADS\b|\bPyEval_\w*"
)


def core_sources() -> list[pathlib.Path]:
    return sorted(p for p in CORE.rglob("*") if p.suffix in (".c", ".h") and p.is_file())


def violations(text: str) -> list[str]:
    return [m.group(0) for m in FORBIDDEN.finditer(text)]


@pytest.mark.parametrize(
    "snippet",
    [
        "#include <Python.h>",
        '#include "Python.h"',
        "#  include <Python.h>",
        "static PyObject *x;",
        "Py_INCREF(o);",
        "Py_DECREF(o);",
        "PyGILState_STATE s = PyGILState_Ensure();",
    ],
)
def test_checker_catches(snippet):
    assert violations(f"int a;\n{snippet}\nint b;\n")


def test_checker_ignores_plain_c():
    assert violations('#include <uv.h>\n#include "llhttp.h"\nint hr_client_new(void);\n') == []


def test_core_has_sources():
    assert CORE.is_dir(), f"{CORE} does not exist"
    assert any(p.suffix == ".c" for p in core_sources()), "src/core holds no .c file"


def test_core_never_touches_python():
    bad = {}
    for path in core_sources():
        found = violations(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            bad[str(path.relative_to(ROOT))] = sorted(set(found))
    assert not bad, f"src/core must stay pure C; found CPython API in: {bad}"
