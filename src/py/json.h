/*
 * json.h — the native JSON decoder behind Response.json() (binding side: uses Python.h).
 */
#ifndef HR_PY_JSON_H
#define HR_PY_JSON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hr.h"

/* Parse the JSON document buf[0..len) (UTF-8, need not be NUL-terminated).
 *
 * Returns a new reference to what json.loads() returns for the same text, or NULL with an
 * exception set: ValueError for a document it rejects *or is not sure about* (invalid JSON,
 * nesting deeper than HR_JSON_MAX_DEPTH, an integer over Python's digit limit), MemoryError
 * as usual. The caller decides a ValueError with json itself, which words the error. The GIL
 * must be held; no Python code runs during the call. */
PyObject *hr_json_loads(const char *buf, Py_ssize_t len);

/* The same for a document the engine read ahead (hr_json_tape_parse() of buf[0..len)): the
 * Python objects are built from the tape, strings decoded from buf. Same results and errors
 * as hr_json_loads() (ValueError when a string in it is invalid). */
PyObject *hr_json_from_tape(const hr_json_tape_t *tape, const char *buf, Py_ssize_t len);

/* Containers nested deeper than this are left to json (whose limit is the recursion limit,
 * which depends on the caller's stack depth: below it, both accept the same documents). */
#define HR_JSON_MAX_DEPTH 512

#endif
