/*
 * The value types' loaders in C: a base file's __values entry carries each
 * hash, set, sorted set and list as its type's state() list, and loading
 * turned each back into an object with the type's from_state classmethod,
 * a Python frame and a dozen attribute stores per key (3.6 us a small sorted
 * set, 1.1 us a hash; 0.8 s of a 2M-key snapshot's 2.3-2.9 s load).
 *
 * Replaying a command file has the same cost per key: the records that create
 * most keys (HSET, SADD, ZADD, RPUSH, LPUSH of a new key) went through the
 * apply loop, the handler, Database.set and the type's constructor, 4-10 us
 * each.  The makers below build the value such a record creates, for the
 * _speedups replay loop (load_plain_sets) to store.
 *
 * Ownership: none of its own.  It builds the objects of the classes given to
 * configure() exactly as their from_state does, or as the command's handler
 * does for a new key (the twins, which the tests compare with these), writing
 * their __slots__ directly.  Anything unusual goes to the twin: from_state
 * takes a hash with field TTLs or a hashtable encoding; a maker answers None
 * (the handler runs the record) for anything but the plain small case: an
 * option, a score or member that might be an integer or need strtod's corner
 * cases, a value that would not be a listpack.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* A class whose instances are built here, and the offsets of its slots. */
typedef struct {
    PyTypeObject *type;
    Py_ssize_t off[8];
} Layout;

static Layout zset_l, ranked_l, scan_l, set_l, hash_l, list_l;
static PyObject *zset_enc, *set_enc;             /* b"name" -> the module's shared str */
static PyObject *skiplist, *z_listpack, *s_listpack, *s_intset, *s_hashtable;
static PyObject *hash_fallback, *deque_type, *array_type;
static PyObject *hash_limits, *set_limits, *zset_limits, *list_fill, *entries_size;
static PyObject *k_h_entries, *k_h_value, *k_s_entries, *k_s_value, *k_s_ints, *k_z_entries, *k_z_value;
static Py_ssize_t ranked_load;
static int configured;

static int layout(Layout *l, PyObject *type, const char *const *names) {
    int i;
    if (!PyType_Check(type)) { PyErr_SetString(PyExc_TypeError, "configure(): expected a class"); return -1; }
    for (i = 0; names[i]; i++) {
        PyObject *d = PyObject_GetAttrString(type, names[i]);
        if (!d) return -1;
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type) || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            Py_DECREF(d);
            PyErr_Format(PyExc_TypeError, "configure(): %s.%s is not a __slots__ entry", ((PyTypeObject *)type)->tp_name, names[i]);
            return -1;
        }
        l->off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
    }
    Py_INCREF(type);
    Py_XSETREF(l->type, (PyTypeObject *)type);
    return 0;
}

/* A fresh instance: object.__new__ without __init__, every slot unset. */
static PyObject *alloc(Layout *l) {
    return l->type->tp_alloc(l->type, 0);
}

/* Store a new reference in a fresh instance's slot (steals v). */
static inline void put(PyObject *o, Layout *l, int i, PyObject *v) {
    *(PyObject **)((char *)o + l->off[i]) = v;
}

static inline PyObject *ref(PyObject *v) {
    Py_INCREF(v);
    return v;
}

enum { Z_ENC, Z_SCORES, Z_INDEX, Z_SCAN };
enum { R_BLOCKS, R_BSCORES, R_MAXES, R_MSCORES, R_TREE, R_SIZE, R_STEPS };
enum { S_ITEMS, S_POS, S_HOLES };
enum { T_ENC, T_INTS, T_SMALL, T_BIG };
enum { H_D, H_BUCKETS, H_TTL, H_HEAP, H_INDEXED };
enum { L_ITEMS, L_LP_BYTES, L_NODES, L_FILL };

static PyObject *configure(PyObject *self, PyObject *args) {
    static const char *const zn[] = {"enc", "scores", "index", "scan_list", NULL};
    static const char *const rn[] = {"blocks", "bscores", "maxes", "mscores", "tree", "size", "steps", NULL};
    static const char *const sn[] = {"items", "pos", "holes", NULL};
    static const char *const tn[] = {"enc", "ints", "small", "big", NULL};
    static const char *const hn[] = {"d", "buckets", "ttl", "heap", "indexed", NULL};
    static const char *const ln[] = {"items", "lp_bytes", "nodes", "fill", NULL};
    PyObject *z, *r, *s, *t, *h, *l, *dq, *ze, *te, *hl, *tl, *zl, *fill, *esize, *load, *fb, *v[5] = {NULL, NULL, NULL, NULL, NULL};
    long n;
    if (!PyArg_ParseTuple(args, "OOOOOOOO!O!O!O!O!O!O:configure", &z, &r, &s, &t, &h, &l, &dq, &PyDict_Type, &ze, &PyDict_Type, &te,
                          &PyDict_Type, &hl, &PyDict_Type, &tl, &PyDict_Type, &zl, &PyList_Type, &fill, &esize))
        return NULL;
    if (!k_h_entries) {
        if (!(k_h_entries = PyUnicode_InternFromString("entries")) || !(k_h_value = PyUnicode_InternFromString("value")) ||
            !(k_s_entries = PyUnicode_InternFromString("set-max-listpack-entries")) ||
            !(k_s_value = PyUnicode_InternFromString("set-max-listpack-value")) ||
            !(k_s_ints = PyUnicode_InternFromString("set-max-intset-entries")) ||
            !(k_z_entries = PyUnicode_InternFromString("zset-max-listpack-entries")) ||
            !(k_z_value = PyUnicode_InternFromString("zset-max-listpack-value")))
            return NULL;
    }
    if (layout(&zset_l, z, zn) < 0 || layout(&ranked_l, r, rn) < 0 || layout(&scan_l, s, sn) < 0 ||
        layout(&set_l, t, tn) < 0 || layout(&hash_l, h, hn) < 0 || layout(&list_l, l, ln) < 0)
        return NULL;
    if (!array_type) {
        PyObject *mod = PyImport_ImportModule("array");
        if (!mod) return NULL;
        array_type = PyObject_GetAttrString(mod, "array");
        Py_DECREF(mod);
        if (!array_type) return NULL;
    }
    if (!(load = PyObject_GetAttrString(r, "LOAD"))) return NULL;
    n = PyLong_AsLong(load);
    Py_DECREF(load);
    if (n <= 0) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "configure(): LOAD must be positive"); return NULL; }
    if (!(fb = PyObject_GetAttrString(h, "from_state"))) return NULL;
    {
        PyObject *k[4] = {PyBytes_FromString("skiplist"), PyBytes_FromString("listpack"), PyBytes_FromString("intset"), PyBytes_FromString("hashtable")};
        int i, bad = 0;
        for (i = 0; i < 4; i++) if (!k[i]) bad = 1;
        if (!bad) {
            v[0] = PyDict_GetItemWithError(ze, k[0]);
            for (i = 1; i < 4; i++) v[i] = PyDict_GetItemWithError(te, k[i]);
            if (!PyErr_Occurred()) v[4] = PyDict_GetItemWithError(ze, k[1]);
        }
        for (i = 0; i < 4; i++) Py_XDECREF(k[i]);
        if (bad || PyErr_Occurred()) { Py_DECREF(fb); return NULL; }
        for (i = 0; i < 5; i++) {
            if (!v[i] || !PyUnicode_CheckExact(v[i])) { Py_DECREF(fb); PyErr_SetString(PyExc_ValueError, "configure(): an encoding is missing"); return NULL; }
        }
    }
    ranked_load = n;
    Py_XSETREF(hash_limits, ref(hl));
    Py_XSETREF(set_limits, ref(tl));
    Py_XSETREF(zset_limits, ref(zl));
    Py_XSETREF(list_fill, ref(fill));
    Py_XSETREF(entries_size, ref(esize));
    Py_XSETREF(hash_fallback, fb);
    Py_XSETREF(deque_type, ref(dq));
    Py_XSETREF(zset_enc, ref(ze));
    Py_XSETREF(set_enc, ref(te));
    Py_XSETREF(skiplist, ref(v[0]));
    Py_XSETREF(z_listpack, ref(v[4]));
    Py_XSETREF(s_listpack, ref(v[1]));
    Py_XSETREF(s_intset, ref(v[2]));
    Py_XSETREF(s_hashtable, ref(v[3]));
    configured = 1;
    Py_RETURN_NONE;
}

static int check(PyObject *state, Py_ssize_t n, const char *what) {
    if (!configured) { PyErr_SetString(PyExc_RuntimeError, "_build.configure() was not called"); return -1; }
    if (!PyList_CheckExact(state) || PyList_GET_SIZE(state) != n) {
        PyErr_Format(PyExc_ValueError, "a %s state is a list of %zd items", what, n);
        return -1;
    }
    return 0;
}

/* The module's shared name for an encoding (dict[bytes, str]); ValueError when unknown. */
static PyObject *encoding(PyObject *names, PyObject *enc, const char *what) {
    PyObject *name = PyDict_GetItemWithError(names, enc);
    if (!name && !PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "unknown %s encoding %R", what, enc);
    return name;
}

/* A ScanList holding ``members`` in order (a repeat is added once, as add() does). */
static PyObject *scan_list(PyObject *members) {
    Py_ssize_t i, n = PyList_GET_SIZE(members);
    PyObject *sl, *items, *pos;
    if (!(sl = alloc(&scan_l))) return NULL;
    items = PyList_New(0);
    pos = PyDict_New();
    put(sl, &scan_l, S_ITEMS, items);
    put(sl, &scan_l, S_POS, pos);
    put(sl, &scan_l, S_HOLES, PyLong_FromLong(0));
    if (!items || !pos) { Py_DECREF(sl); return NULL; }
    for (i = 0; i < n; i++) {
        PyObject *m = PyList_GET_ITEM(members, i), *at;
        int had = PyDict_Contains(pos, m);
        if (had < 0) { Py_DECREF(sl); return NULL; }
        if (had) continue;
        if (!(at = PyLong_FromSsize_t(PyList_GET_SIZE(items)))) { Py_DECREF(sl); return NULL; }
        if (PyDict_SetItem(pos, m, at) < 0 || PyList_Append(items, m) < 0) { Py_DECREF(at); Py_DECREF(sl); return NULL; }
        Py_DECREF(at);
    }
    return sl;
}

/* array('d') of the scores of the (score, member) tuples items[lo:hi] */
static PyObject *score_array(PyObject *items, Py_ssize_t lo, Py_ssize_t hi) {
    PyObject *raw = PyBytes_FromStringAndSize(NULL, (hi - lo) * (Py_ssize_t)sizeof(double)), *arr;
    double *out;
    Py_ssize_t i;
    if (!raw) return NULL;
    out = (double *)PyBytes_AS_STRING(raw);
    for (i = lo; i < hi; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyFloat_CheckExact(PyTuple_GET_ITEM(item, 0))) {
            Py_DECREF(raw);
            PyErr_SetString(PyExc_TypeError, "a sorted set's items are (float, member) tuples");
            return NULL;
        }
        out[i - lo] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(item, 0));
    }
    arr = PyObject_CallFunction(array_type, "sO", "d", raw);
    Py_DECREF(raw);
    return arr;
}

/* Append block items[lo:hi] (block itself when given) with its scores and its last item. */
static int ranked_block(PyObject *blocks, PyObject *bscores, PyObject *maxes, PyObject *items, Py_ssize_t lo, Py_ssize_t hi, PyObject *block) {
    PyObject *scores = score_array(items, lo, hi);
    int rc;
    if (!scores) return -1;
    if (!block && !(block = PyList_GetSlice(items, lo, hi))) { Py_DECREF(scores); return -1; }
    else if (block == items) Py_INCREF(block);
    rc = PyList_Append(blocks, block) < 0 || PyList_Append(bscores, scores) < 0 || PyList_Append(maxes, PyList_GET_ITEM(items, hi - 1)) < 0 ? -1 : 0;
    Py_DECREF(block);
    Py_DECREF(scores);
    return rc;
}

/* RankedList.from_sorted(data): blocks of LOAD items with their scores, their last
 * items and those items' scores, no tree yet. */
static PyObject *ranked(PyObject *data) {
    Py_ssize_t n = PyList_GET_SIZE(data), i;
    PyObject *r, *blocks, *bscores, *maxes, *mscores;
    if (!(r = alloc(&ranked_l))) { Py_DECREF(data); return NULL; }
    blocks = PyList_New(0);
    bscores = PyList_New(0);
    maxes = PyList_New(0);
    put(r, &ranked_l, R_BLOCKS, blocks);
    put(r, &ranked_l, R_BSCORES, bscores);
    put(r, &ranked_l, R_MAXES, maxes);
    put(r, &ranked_l, R_TREE, ref(Py_None));
    put(r, &ranked_l, R_SIZE, PyLong_FromSsize_t(n));
    put(r, &ranked_l, R_STEPS, PyLong_FromLong(0));
    if (!blocks || !bscores || !maxes) goto fail;
    if (n <= ranked_load) {  /* the common case: the list itself is the one block */
        if (n && ranked_block(blocks, bscores, maxes, data, 0, n, data) < 0) goto fail;
    } else {
        for (i = 0; i < n; i += ranked_load) {
            if (ranked_block(blocks, bscores, maxes, data, i, i + ranked_load < n ? i + ranked_load : n, NULL) < 0) goto fail;
        }
    }
    if (!(mscores = score_array(maxes, 0, PyList_GET_SIZE(maxes)))) goto fail;
    put(r, &ranked_l, R_MSCORES, mscores);
    Py_DECREF(data);
    return r;
fail:
    Py_DECREF(data);
    Py_DECREF(r);
    return NULL;
}

/* ZSetValue.from_state([enc, [member, score, ...]]) */
static PyObject *zset_from_state(PyObject *self, PyObject *state) {
    PyObject *enc, *flat, *z, *scores, *data, *index, *members = NULL;
    Py_ssize_t i, n;
    if (check(state, 2, "sorted set") < 0) return NULL;
    flat = PyList_GET_ITEM(state, 1);
    if (!PyList_CheckExact(flat) || PyList_GET_SIZE(flat) % 2) {
        PyErr_SetString(PyExc_ValueError, "a sorted set's state holds member, score pairs");
        return NULL;
    }
    if (!(enc = encoding(zset_enc, PyList_GET_ITEM(state, 0), "sorted set"))) return NULL;
    n = PyList_GET_SIZE(flat) / 2;
    if (!(z = alloc(&zset_l))) return NULL;
    put(z, &zset_l, Z_ENC, ref(enc));
    scores = PyDict_New();
    put(z, &zset_l, Z_SCORES, scores);
    data = PyList_New(n);
    if (!scores || !data) goto fail;
    for (i = 0; i < n; i++) {
        PyObject *m = PyList_GET_ITEM(flat, 2 * i), *s = PyList_GET_ITEM(flat, 2 * i + 1), *pair;
        s = PyFloat_CheckExact(s) ? ref(s) : PyNumber_Float(s);
        if (!s) goto fail;
        if (PyDict_SetItem(scores, m, s) < 0 || !(pair = PyTuple_Pack(2, s, m))) { Py_DECREF(s); goto fail; }
        Py_DECREF(s);
        PyList_SET_ITEM(data, i, pair);
    }
    if (enc == skiplist) {
        if (!(members = PyList_New(n))) goto fail;
        for (i = 0; i < n; i++) PyList_SET_ITEM(members, i, ref(PyList_GET_ITEM(flat, 2 * i)));
    }
    index = ranked(data);  /* takes data */
    data = NULL;
    if (!index) goto fail;
    put(z, &zset_l, Z_INDEX, index);
    if (members) {
        PyObject *sl = scan_list(members);
        Py_CLEAR(members);
        if (!sl) goto fail;
        put(z, &zset_l, Z_SCAN, sl);
    } else {
        put(z, &zset_l, Z_SCAN, ref(Py_None));
    }
    return z;
fail:
    Py_XDECREF(data);
    Py_XDECREF(members);
    Py_DECREF(z);
    return NULL;
}

/* SetValue.from_state([enc, items]) */
static PyObject *set_from_state(PyObject *self, PyObject *state) {
    PyObject *enc, *items, *s, *small = NULL;
    Py_ssize_t i, n;
    if (check(state, 2, "set") < 0) return NULL;
    items = PyList_GET_ITEM(state, 1);
    if (!PyList_CheckExact(items)) { PyErr_SetString(PyExc_ValueError, "a set's state holds a list of members"); return NULL; }
    if (!(enc = encoding(set_enc, PyList_GET_ITEM(state, 0), "set"))) return NULL;
    if (!(s = alloc(&set_l))) return NULL;
    put(s, &set_l, T_ENC, ref(enc));
    if (enc == s_intset) {
        put(s, &set_l, T_INTS, ref(items));
        put(s, &set_l, T_SMALL, PyDict_New());
        put(s, &set_l, T_BIG, ref(Py_None));
        if (!*(PyObject **)((char *)s + set_l.off[T_SMALL])) { Py_DECREF(s); return NULL; }
        return s;
    }
    put(s, &set_l, T_INTS, PyList_New(0));
    if (enc == s_listpack) {
        n = PyList_GET_SIZE(items);
        small = PyDict_New();
        put(s, &set_l, T_SMALL, small);
        put(s, &set_l, T_BIG, ref(Py_None));
        if (!small) { Py_DECREF(s); return NULL; }
        for (i = 0; i < n; i++) {
            if (PyDict_SetItem(small, PyList_GET_ITEM(items, i), Py_None) < 0) { Py_DECREF(s); return NULL; }
        }
    } else {  /* hashtable */
        PyObject *big = scan_list(items);
        put(s, &set_l, T_SMALL, PyDict_New());
        put(s, &set_l, T_BIG, big);
        if (!big || !*(PyObject **)((char *)s + set_l.off[T_SMALL])) { Py_DECREF(s); return NULL; }
    }
    if (!*(PyObject **)((char *)s + set_l.off[T_INTS])) { Py_DECREF(s); return NULL; }
    return s;
}

/* A listpack Hash of the field, value pairs in items[start:] (an even count; a repeated
 * field: the last value wins), no field TTLs. */
static PyObject *new_hash(PyObject *items, Py_ssize_t start) {
    Py_ssize_t i, n = PyList_GET_SIZE(items);
    PyObject *h, *d;
    if (!(h = alloc(&hash_l))) return NULL;
    d = PyDict_New();
    put(h, &hash_l, H_D, d);
    put(h, &hash_l, H_BUCKETS, ref(Py_None));
    put(h, &hash_l, H_TTL, PyDict_New());
    put(h, &hash_l, H_HEAP, PyList_New(0));
    put(h, &hash_l, H_INDEXED, ref(Py_None));
    if (!d || !*(PyObject **)((char *)h + hash_l.off[H_TTL]) || !*(PyObject **)((char *)h + hash_l.off[H_HEAP])) { Py_DECREF(h); return NULL; }
    for (i = start; i < n; i += 2) {
        if (PyDict_SetItem(d, PyList_GET_ITEM(items, i), PyList_GET_ITEM(items, i + 1)) < 0) { Py_DECREF(h); return NULL; }
    }
    return h;
}

/* Hash.from_state([table, [field, value, ...], ttls]); a hashtable or field TTLs: from_state itself. */
static PyObject *hash_from_state(PyObject *self, PyObject *state) {
    PyObject *flat, *ttls;
    Py_ssize_t n;
    int table;
    if (check(state, 3, "hash") < 0) return NULL;
    flat = PyList_GET_ITEM(state, 1);
    ttls = PyList_GET_ITEM(state, 2);
    if ((table = PyObject_IsTrue(PyList_GET_ITEM(state, 0))) < 0) return NULL;
    if (table || !PyList_CheckExact(ttls) || PyList_GET_SIZE(ttls) || !PyList_CheckExact(flat))
        return PyObject_CallOneArg(hash_fallback, state);
    n = PyList_GET_SIZE(flat);
    if (n % 2) { PyErr_SetString(PyExc_ValueError, "a hash's state holds field, value pairs"); return NULL; }
    return new_hash(flat, 0);
}

/* ListValue.from_state([items, lp_bytes, nodes or None]) */
static PyObject *list_from_state(PyObject *self, PyObject *state) {
    PyObject *l, *items, *nodes;
    if (check(state, 3, "list") < 0) return NULL;
    if (PyList_GET_SIZE(list_fill) < 1) { PyErr_SetString(PyExc_ValueError, "list_fill is empty"); return NULL; }
    if (!(items = PyObject_CallOneArg(deque_type, PyList_GET_ITEM(state, 0)))) return NULL;
    nodes = PyList_GET_ITEM(state, 2);
    if (nodes == Py_None) {
        Py_INCREF(nodes);
    } else if (!(nodes = PyObject_CallOneArg(deque_type, nodes))) {
        Py_DECREF(items);
        return NULL;
    }
    if (!(l = alloc(&list_l))) { Py_DECREF(items); Py_DECREF(nodes); return NULL; }
    put(l, &list_l, L_ITEMS, items);
    put(l, &list_l, L_LP_BYTES, ref(PyList_GET_ITEM(state, 1)));
    put(l, &list_l, L_NODES, nodes);
    put(l, &list_l, L_FILL, ref(PyList_GET_ITEM(list_fill, 0)));  /* a loaded quicklist takes the configuration of the load */
    return l;
}


/* ---- the values records create: the makers ------------------------------ */

/* A LIMITS entry (CONFIG SET may change it between calls); -1 with an exception on a bad one. */
static Py_ssize_t limit(PyObject *limits, PyObject *name) {
    PyObject *v = PyDict_GetItemWithError(limits, name);
    if (!v) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "no limit %R", name);
        return -1;
    }
    return PyLong_AsSsize_t(v);
}

/* argv[2:] are bytes; their longest length. */
static Py_ssize_t longest(PyObject *argv) {
    Py_ssize_t i, n = PyList_GET_SIZE(argv), most = 0;
    for (i = 2; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(argv, i);
        if (!PyBytes_CheckExact(a)) return -1;
        if (PyBytes_GET_SIZE(a) > most) most = PyBytes_GET_SIZE(a);
    }
    return most;
}

#define NOT_MINE() Py_RETURN_NONE

/* HSET/HMSET key field value ...: the listpack hash Hash.small_from builds, else None. */
static PyObject *hset_new(PyObject *self, PyObject *argv) {
    Py_ssize_t n, most, entries, value;
    if (!configured || !PyList_CheckExact(argv)) NOT_MINE();
    n = PyList_GET_SIZE(argv);
    if (n < 4 || n % 2 || (most = longest(argv)) < 0) NOT_MINE();
    if ((entries = limit(hash_limits, k_h_entries)) < 0 || (value = limit(hash_limits, k_h_value)) < 0) return NULL;
    if (n - 2 > 2 * entries || most > value) NOT_MINE();
    return new_hash(argv, 2);
}

/* SADD key member ...: the listpack set SetValue.small_from builds, else None.  A first
 * member that might be an integer (an intset) is left to the handler. */
static PyObject *sadd_new(PyObject *self, PyObject *argv) {
    Py_ssize_t n, most, entries, value, ints, i;
    PyObject *s, *small;
    char c;
    if (!configured || !PyList_CheckExact(argv)) NOT_MINE();
    n = PyList_GET_SIZE(argv);
    if (n < 3 || (most = longest(argv)) < 0) NOT_MINE();
    if ((entries = limit(set_limits, k_s_entries)) < 0 || (value = limit(set_limits, k_s_value)) < 0 ||
        (ints = limit(set_limits, k_s_ints)) < 0)
        return NULL;
    if (n - 2 > entries || most > value) NOT_MINE();
    c = PyBytes_GET_SIZE(PyList_GET_ITEM(argv, 2)) ? PyBytes_AS_STRING(PyList_GET_ITEM(argv, 2))[0] : 'x';
    if (n - 2 <= ints && (c == '-' || (c >= '0' && c <= '9'))) NOT_MINE();
    if (!(s = alloc(&set_l))) return NULL;
    small = PyDict_New();
    put(s, &set_l, T_ENC, ref(s_listpack));
    put(s, &set_l, T_INTS, PyList_New(0));
    put(s, &set_l, T_SMALL, small);
    put(s, &set_l, T_BIG, ref(Py_None));
    if (!small || !*(PyObject **)((char *)s + set_l.off[T_INTS])) { Py_DECREF(s); return NULL; }
    for (i = 2; i < n; i++) {
        if (PyDict_SetItem(small, PyList_GET_ITEM(argv, i), Py_None) < 0) { Py_DECREF(s); return NULL; }
    }
    return s;
}

/* A score in the plain form -?digits[.digits] (what float() and Valkey's strtod read
 * alike, with no overflow, underflow or NaN to check); 0 for anything else. */
static int plain_score(PyObject *b, double *out) {
    const char *p = PyBytes_AS_STRING(b), *end;
    Py_ssize_t len = PyBytes_GET_SIZE(b), i = 0, digits = 0;
    char *stop;
    if (len == 0 || len > 24) return 0;
    if (p[0] == '-') i = 1;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) digits++;
    if (!digits) return 0;
    if (i < len) {
        if (p[i] != '.' || i + 1 == len) return 0;
        for (i++; i < len; i++) if (p[i] < '0' || p[i] > '9') return 0;
    }
    end = p + len;
    *out = PyOS_string_to_double(p, &stop, NULL);
    if (*out == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
    return stop == end;
}

/* ZADD key score member ... (no option): the listpack sorted set ZSetValue.small_from builds, else None. */
static PyObject *zadd_new(PyObject *self, PyObject *argv) {
    Py_ssize_t n, most = 0, entries, value, i;
    PyObject *z, *scores, *data, *index, *key, *score;
    if (!configured || !PyList_CheckExact(argv)) NOT_MINE();
    n = PyList_GET_SIZE(argv);
    if (n < 4 || n % 2) NOT_MINE();
    for (i = 2; i < n; i += 2) {
        PyObject *sc = PyList_GET_ITEM(argv, i), *m = PyList_GET_ITEM(argv, i + 1);
        if (!PyBytes_CheckExact(sc) || !PyBytes_CheckExact(m)) NOT_MINE();
        if (PyBytes_GET_SIZE(m) > most) most = PyBytes_GET_SIZE(m);
    }
    if ((entries = limit(zset_limits, k_z_entries)) < 0 || (value = limit(zset_limits, k_z_value)) < 0) return NULL;
    if ((n - 2) / 2 > entries || most > value) NOT_MINE();
    if (!(z = alloc(&zset_l))) return NULL;
    scores = PyDict_New();
    put(z, &zset_l, Z_ENC, ref(z_listpack));
    if (!scores) goto fail;
    for (i = 2; i < n; i += 2) {
        double d;
        if (!plain_score(PyList_GET_ITEM(argv, i), &d)) {  /* not the plain form: the handler's */
            Py_DECREF(scores);
            Py_DECREF(z);
            NOT_MINE();
        }
        if (d == 0.0) d = 0.0;  /* a listpack stores -0 as the integer 0, as small_from does */
        if (!(score = PyFloat_FromDouble(d))) goto fail;
        if (PyDict_SetItem(scores, PyList_GET_ITEM(argv, i + 1), score) < 0) { Py_DECREF(score); goto fail; }
        Py_DECREF(score);
    }
    if (!(data = PyList_New(PyDict_GET_SIZE(scores)))) goto fail;
    {
        Py_ssize_t pos = 0, j = 0;
        while (PyDict_Next(scores, &pos, &key, &score)) {
            PyObject *pair = PyTuple_Pack(2, score, key);
            if (!pair) { Py_DECREF(data); goto fail; }
            PyList_SET_ITEM(data, j++, pair);
        }
    }
    if (PyList_Sort(data) < 0) { Py_DECREF(data); goto fail; }
    put(z, &zset_l, Z_SCORES, scores);
    scores = NULL;
    if (!(index = ranked(data))) goto fail;  /* takes data */
    put(z, &zset_l, Z_INDEX, index);
    put(z, &zset_l, Z_SCAN, ref(Py_None));
    return z;
fail:
    Py_XDECREF(scores);
    Py_DECREF(z);
    return NULL;
}

/* RPUSH/LPUSH key element ... onto a new key: the listpack ListValue.push builds, else None. */
static PyObject *push_new(PyObject *argv, int tail) {
    Py_ssize_t n, i, add = 0, size, count, fill_v;
    PyObject *fill, *values, *items, *lp, *l, *sz;
    static const Py_ssize_t levels[] = {4096, 8192, 16384, 32768, 65536};
    int too_big;
    if (!configured || !PyList_CheckExact(argv)) NOT_MINE();
    n = PyList_GET_SIZE(argv);
    if (n < 3 || longest(argv) < 0 || PyList_GET_SIZE(list_fill) < 1) NOT_MINE();
    for (i = 2; i < n; i++) add += PyBytes_GET_SIZE(PyList_GET_ITEM(argv, i));
    fill = PyList_GET_ITEM(list_fill, 0);
    fill_v = PyLong_AsSsize_t(fill);
    if (fill_v == -1 && PyErr_Occurred()) return NULL;
    size = 7 + add;  /* an empty listpack's header and end byte, then the raw elements */
    count = n - 2;
    if (fill_v < 0) too_big = size > levels[-fill_v - 1 < 4 ? -fill_v - 1 : 4];
    else too_big = size > 8192 || count > (fill_v ? fill_v : 1);
    if (too_big) NOT_MINE();  /* a quicklist: the handler tracks its nodes */
    if (!(values = PyList_GetSlice(argv, 2, n))) return NULL;
    if (!tail && PyList_Reverse(values) < 0) { Py_DECREF(values); return NULL; }
    items = PyObject_CallOneArg(deque_type, values);
    sz = PyObject_CallOneArg(entries_size, values);
    Py_DECREF(values);
    if (!items || !sz) { Py_XDECREF(items); Py_XDECREF(sz); return NULL; }
    size = PyLong_AsSsize_t(sz);
    Py_DECREF(sz);
    if ((size == -1 && PyErr_Occurred()) || !(lp = PyLong_FromSsize_t(7 + size))) { Py_DECREF(items); return NULL; }
    if (!(l = alloc(&list_l))) { Py_DECREF(items); Py_DECREF(lp); return NULL; }
    put(l, &list_l, L_ITEMS, items);
    put(l, &list_l, L_LP_BYTES, lp);
    put(l, &list_l, L_NODES, ref(Py_None));
    put(l, &list_l, L_FILL, ref(fill));
    return l;
}

static PyObject *rpush_new(PyObject *self, PyObject *argv) { return push_new(argv, 1); }
static PyObject *lpush_new(PyObject *self, PyObject *argv) { return push_new(argv, 0); }

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(ZSetValue, RankedList, ScanList, SetValue, Hash, ListValue, deque, zset_encodings, set_encodings, "
     "hash_limits, set_limits, zset_limits, list_fill, entries_size)"},
    {"hset_new", hset_new, METH_O, "The value HSET/HMSET of a new key creates, or None: the handler must run."},
    {"sadd_new", sadd_new, METH_O, "The value SADD of a new key creates, or None: the handler must run."},
    {"zadd_new", zadd_new, METH_O, "The value ZADD of a new key creates, or None: the handler must run."},
    {"rpush_new", rpush_new, METH_O, "The value RPUSH of a new key creates, or None: the handler must run."},
    {"lpush_new", lpush_new, METH_O, "The value LPUSH of a new key creates, or None: the handler must run."},
    {"zset_from_state", zset_from_state, METH_O, "ZSetValue.from_state in C."},
    {"set_from_state", set_from_state, METH_O, "SetValue.from_state in C."},
    {"hash_from_state", hash_from_state, METH_O, "Hash.from_state in C (a hashtable or field TTLs: Hash.from_state)."},
    {"list_from_state", list_from_state, METH_O, "ListValue.from_state in C."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_build", "The value types' loaders in C.", -1, methods};

PyMODINIT_FUNC PyInit__build(void) {
    return PyModule_Create(&module);
}
