/* JSON lines from a compiled plan, outside the interpreter's per-operation cost.
 *
 * A flood of events asks for one JSON line per couple of microseconds; formatted
 * in Python (a %-template, a memo lookup per field) the line alone took about a
 * third of espia's CPU per event.  json_writer.py compiles a gadget's fields once
 * into a Plan: a list of steps (a constant prefix, a path of attributes from the
 * event to the value, the value's kind), and this renders whole batches into one
 * bytes object, read straight from the events.
 *
 * Strings are written as json.encoder.encode_basestring does with
 * ensure_ascii=False (quote, backslash, \n \r \t \b \f and \u00XX for the other
 * control characters; everything else as UTF-8), except that a surrogate code
 * point is written as its \uXXXX escape: a byte that was not UTF-8, decoded by
 * espia as U+DC80+byte ("surrogateescape"), reads back as that byte, and the line
 * stays valid UTF-8.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <time.h>

enum kind { K_INT, K_STR, K_BOOL, K_MEMO, K_CALL, K_TIME, K_LIST, K_COUNT };

typedef struct {
    PyObject *prefix;  /* bytes */
    int kind;
    PyObject *path;    /* tuple of interned str */
    PyObject *arg;     /* the memo, callable or clock; NULL if none */
    /* A timestamp's last second: its start on the boot clock and its text. */
    int have_second;
    long long second_start;
    char second_text[48];
    Py_ssize_t second_len;
} Step;

typedef struct {
    PyObject_HEAD
    Step *steps;
    Py_ssize_t count;
    PyObject *tail;     /* bytes */
    PyObject *offset_name;
} Plan;

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buffer;

static int reserve(Buffer *b, Py_ssize_t more) {
    if (b->len + more <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *data = PyMem_Realloc(b->data, cap);
    if (!data) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int put(Buffer *b, const char *s, Py_ssize_t n) {
    if (reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static const char HEX[] = "0123456789abcdef";

/* One code point as UTF-8, a surrogate as its JSON escape. */
static void put_code(Buffer *b, Py_UCS4 c) {
    char *o = b->data + b->len;
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xc0 | (c >> 6));
        *o++ = (char)(0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
        *o++ = '\\';
        *o++ = 'u';
        *o++ = HEX[(c >> 12) & 0xf];
        *o++ = HEX[(c >> 8) & 0xf];
        *o++ = HEX[(c >> 4) & 0xf];
        *o++ = HEX[c & 0xf];
    } else if (c < 0x10000) {
        *o++ = (char)(0xe0 | (c >> 12));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (c >> 18));
        *o++ = (char)(0x80 | ((c >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    }
    b->len = o - b->data;
}

/* Text that is already JSON (a memo's or a renderer's): as UTF-8, surrogates escaped. */
static int put_text(Buffer *b, PyObject *text) {
    if (PyBytes_Check(text))
        return put(b, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text));
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "a JSON renderer returned %.100s, not str",
                     Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n); /* kept by the str: memos pay once */
    if (utf8) return put(b, utf8, n);
    PyErr_Clear(); /* surrogates */
    n = PyUnicode_GET_LENGTH(text);
    if (reserve(b, n * 6) < 0) return -1;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) put_code(b, PyUnicode_READ(kind, data, i));
    return 0;
}

/* A str as a quoted JSON string (see the top of this file). */
static int put_string(Buffer *b, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "a string field holds %.100s, not str",
                     Py_TYPE(text)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (reserve(b, n * 6 + 2) < 0) return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (c < 0x80) {
                *o++ = (char)c;
            } else {
                b->len = o - b->data;
                put_code(b, c);
                o = b->data + b->len;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = HEX[c >> 4];
            *o++ = HEX[c & 0xf];
        }
    }
    *o++ = '"';
    b->len = o - b->data;
    return 0;
}

static PyObject *percent_d; /* "%d": ints beyond 64 bits, and int-like values */

/* An int as %d writes it: a decimal, any size. */
static int put_int(Buffer *b, PyObject *value) {
    int overflow = 1;
    long long v = 0;
    if (PyLong_CheckExact(value) || PyBool_Check(value)) {
        v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
    }
    if (overflow) {
        PyObject *text = PyUnicode_Format(percent_d, value);
        if (!text) return -1;
        int rc = put_text(b, text);
        Py_DECREF(text);
        return rc;
    }
    char digits[24], *end = digits + sizeof digits, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return put(b, p, end - p);
}

/* A boot-clock time as BootClock.quoted writes it: "2026-11-25T12:00:00.123456789Z".
 * The date's text is made only when a second begins; the clock's offset is read then. */
static int put_time(Plan *plan, Step *step, Buffer *b, PyObject *value) {
    PyObject *clock = step->arg;
    int overflow = 1;
    long long boot = PyLong_Check(value) ? PyLong_AsLongLongAndOverflow(value, &overflow) : 0;
    if (boot == -1 && PyErr_Occurred()) return -1;
    long long nanos = 0;
    int fresh = !overflow && step->have_second &&
                !__builtin_sub_overflow(boot, step->second_start, &nanos) && nanos >= 0 &&
                nanos < 1000000000LL;
    if (!overflow && !fresh) {
        PyObject *offset = PyObject_GetAttr(clock, plan->offset_name);
        if (!offset) return -1;
        int offset_overflow;
        long long off = PyLong_AsLongLongAndOverflow(offset, &offset_overflow);
        Py_DECREF(offset);
        if (off == -1 && PyErr_Occurred()) return -1;
        long long wall;
        struct tm tm;
        if (!offset_overflow && !__builtin_add_overflow(boot, off, &wall)) {
            long long seconds = wall / 1000000000LL;
            nanos = wall % 1000000000LL;
            if (nanos < 0) {
                nanos += 1000000000LL;
                seconds -= 1;
            }
            time_t t = (time_t)seconds;
            size_t n;
            if (gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 1000 && tm.tm_year + 1900 <= 9999 &&
                (n = strftime(step->second_text, sizeof step->second_text,
                              "\"%Y-%m-%dT%H:%M:%S.", &tm)) > 0) {
                step->second_len = (Py_ssize_t)n;
                step->second_start = boot - nanos;
                step->have_second = 1;
                fresh = 1;
            }
        }
    }
    if (!fresh) { /* beyond 64 bits or years of four digits: the clock's own text */
        PyObject *text = PyObject_CallMethod(clock, "quoted", "O", value);
        if (!text) return -1;
        int rc = put_text(b, text);
        Py_DECREF(text);
        return rc;
    }
    if (reserve(b, step->second_len + 11) < 0) return -1;
    memcpy(b->data + b->len, step->second_text, step->second_len);
    char *o = b->data + b->len + step->second_len;
    for (int i = 8; i >= 0; i--) {
        o[i] = (char)('0' + nanos % 10);
        nanos /= 10;
    }
    o[9] = 'Z';
    o[10] = '"';
    b->len += step->second_len + 11;
    return 0;
}

/* A list of strings, each written as a string field. */
static int put_list(Buffer *b, PyObject *items) {
    PyObject *seq = PySequence_Fast(items, "a list field's value is not a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **item = PySequence_Fast_ITEMS(seq);
    int rc = put(b, "[", 1);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        if (i) rc = put(b, ",", 1);
        if (rc == 0) rc = put_string(b, item[i]);
    }
    if (rc == 0) rc = put(b, "]", 1);
    Py_DECREF(seq);
    return rc;
}

static int render_one(Plan *plan, Buffer *b, PyObject *event) {
    for (Py_ssize_t i = 0; i < plan->count; i++) {
        Step *step = &plan->steps[i];
        if (put(b, PyBytes_AS_STRING(step->prefix), PyBytes_GET_SIZE(step->prefix)) < 0)
            return -1;
        PyObject *value = Py_NewRef(event);
        Py_ssize_t depth = PyTuple_GET_SIZE(step->path);
        for (Py_ssize_t j = 0; j < depth; j++) {
            PyObject *next = PyObject_GetAttr(value, PyTuple_GET_ITEM(step->path, j));
            Py_DECREF(value);
            if (!next) return -1;
            value = next;
        }
        int rc = 0;
        PyObject *text;
        switch (step->kind) {
        case K_INT: rc = put_int(b, value); break;
        case K_STR: rc = put_string(b, value); break;
        case K_BOOL:
            rc = PyObject_IsTrue(value);
            rc = rc < 0 ? -1 : rc ? put(b, "true", 4) : put(b, "false", 5);
            break;
        case K_TIME: rc = put_time(plan, step, b, value); break;
        case K_MEMO:
        case K_CALL:
        case K_LIST:
            text = step->kind == K_MEMO ? PyObject_GetItem(step->arg, value)
                                        : PyObject_CallOneArg(step->arg, value);
            rc = !text ? -1 : step->kind == K_LIST ? put_list(b, text) : put_text(b, text);
            Py_XDECREF(text);
            break;
        }
        Py_DECREF(value);
        if (rc < 0) return -1;
    }
    return put(b, PyBytes_AS_STRING(plan->tail), PyBytes_GET_SIZE(plan->tail));
}

static PyObject *finish(Buffer *b, int ok) {
    PyObject *out = ok ? PyBytes_FromStringAndSize(b->data, b->len) : NULL;
    PyMem_Free(b->data);
    return out;
}

static PyObject *Plan_render(Plan *self, PyObject *event) {
    Buffer b = {0};
    return finish(&b, render_one(self, &b, event) == 0);
}

static PyObject *Plan_lines(Plan *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "lines(events, separator=b'')");
        return NULL;
    }
    const char *sep = "";
    Py_ssize_t sep_len = 0;
    if (nargs == 2) {
        if (!PyBytes_Check(args[1])) {
            PyErr_SetString(PyExc_TypeError, "the separator must be bytes");
            return NULL;
        }
        sep = PyBytes_AS_STRING(args[1]);
        sep_len = PyBytes_GET_SIZE(args[1]);
    }
    PyObject *seq = PySequence_Fast(args[0], "events must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **events = PySequence_Fast_ITEMS(seq);
    Buffer b = {0};
    int ok = reserve(&b, n * 256) == 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        if (i && sep_len) ok = put(&b, sep, sep_len) == 0;
        ok = ok && render_one(self, &b, events[i]) == 0;
    }
    Py_DECREF(seq);
    return finish(&b, ok);
}

static void Plan_dealloc(Plan *self) {
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_XDECREF(self->steps[i].prefix);
        Py_XDECREF(self->steps[i].path);
        Py_XDECREF(self->steps[i].arg);
    }
    PyMem_Free(self->steps);
    Py_XDECREF(self->tail);
    Py_XDECREF(self->offset_name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Plan_init(Plan *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"steps", "tail", NULL};
    PyObject *steps, *tail;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OS", names, &steps, &tail)) return -1;
    if (self->steps) {
        PyErr_SetString(PyExc_TypeError, "a Plan is made once");
        return -1;
    }
    PyObject *seq = PySequence_Fast(steps, "steps must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    self->steps = PyMem_Calloc(n ? n : 1, sizeof(Step));
    if (!self->steps) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Step *step = &self->steps[i];
        PyObject *prefix, *path, *arg;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "SiO!O;a step is (prefix, kind, path, arg)",
                              &prefix, &step->kind, &PyTuple_Type, &path, &arg))
            goto fail;
        if (step->kind < 0 || step->kind >= K_COUNT) {
            PyErr_Format(PyExc_ValueError, "step %zd: no kind %d", i, step->kind);
            goto fail;
        }
        int needs_arg = step->kind >= K_MEMO;
        if (needs_arg == (arg == Py_None)) {
            PyErr_Format(PyExc_ValueError, "step %zd: kind %d %s an argument", i, step->kind,
                         needs_arg ? "needs" : "takes no");
            goto fail;
        }
        step->path = PyTuple_New(PyTuple_GET_SIZE(path));
        if (!step->path) goto fail;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(path); j++) {
            PyObject *name = PyTuple_GET_ITEM(path, j);
            if (!PyUnicode_Check(name)) {
                PyErr_Format(PyExc_TypeError, "step %zd: a path holds names (str)", i);
                goto fail;
            }
            Py_INCREF(name);
            PyUnicode_InternInPlace(&name);
            PyTuple_SET_ITEM(step->path, j, name);
        }
        step->prefix = Py_NewRef(prefix);
        step->arg = needs_arg ? Py_NewRef(arg) : NULL;
        self->count = i + 1;
    }
    Py_DECREF(seq);
    self->tail = Py_NewRef(tail);
    self->offset_name = PyUnicode_InternFromString("offset_ns");
    return self->offset_name ? 0 : -1;
fail:
    self->count = n; /* the dealloc releases what was set */
    Py_DECREF(seq);
    return -1;
}

static PyMethodDef Plan_methods[] = {
    {"render", (PyCFunction)Plan_render, METH_O, "render(event) -> bytes: one line."},
    {"lines", (PyCFunction)(void (*)(void))Plan_lines, METH_FASTCALL,
     "lines(events, separator=b'') -> bytes: each event's line, separated."},
    {NULL},
};

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "espia.output._jsonfmt.Plan",
    .tp_basicsize = sizeof(Plan),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Plan(steps, tail): JSON lines rendered from (prefix, kind, path, arg) steps.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Plan_init,
    .tp_dealloc = (destructor)Plan_dealloc,
    .tp_methods = Plan_methods,
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_jsonfmt",
    .m_doc = "JSON lines rendered from a compiled plan.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__jsonfmt(void) {
    if (PyType_Ready(&PlanType) < 0) return NULL;
    percent_d = PyUnicode_InternFromString("%d");
    if (!percent_d) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    static const char *kinds[] = {"INT", "STR", "BOOL", "MEMO", "CALL", "TIME", "LIST"};
    for (int i = 0; i < K_COUNT; i++)
        if (PyModule_AddIntConstant(m, kinds[i], i) < 0) goto fail;
    if (PyModule_AddObjectRef(m, "Plan", (PyObject *)&PlanType) < 0) goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
