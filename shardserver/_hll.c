/* HyperLogLog hot paths for shardserver: the C twin of shardserver/shard/hyperloglog.py.
 *
 * Every function here has a pure-Python definition in hyperloglog.py (py_*) with
 * identical results; tests compare the two.  The value layout (header, dense and
 * sparse encodings) is described there.  Buffers are plain heap arrays kept one
 * zero byte longer than their length, so reading the byte after a register or a
 * truncated opcode sees 0, as a NUL-terminated string would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define P 14
#define Q (64 - P)
#define NREG (1 << P)
#define PMASK (NREG - 1)
#define HDR 16
#define DENSE_BYTES (NREG * 6 / 8)
#define DENSE_SIZE (HDR + DENSE_BYTES)
#define ENC_DENSE 0
#define ENC_SPARSE 1
#define SEED 0xadc83b19ULL
#define VAL_MAX 32
#define ALPHA_INF 0.721347520444481703680

static const unsigned char EMPTY[HDR + 2] = {'H', 'Y', 'L', 'L', ENC_SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff};

/* ------------------------------------------------------------------ hashing */

static uint64_t load_le64(const unsigned char *p) {
    uint64_t k = 0;
    int i;
    for (i = 7; i >= 0; i--) k = (k << 8) | p[i];
    return k;
}

static uint64_t murmur(const unsigned char *data, Py_ssize_t len, uint64_t seed) {
    const uint64_t mul = 0xc6a4a7935bd1e995ULL;
    uint64_t h = seed ^ ((uint64_t)len * mul);
    Py_ssize_t whole = len & ~(Py_ssize_t)7, i;
    for (i = 0; i < whole; i += 8) {
        uint64_t k = load_le64(data + i);
        k *= mul;
        k ^= k >> 47;
        k *= mul;
        h ^= k;
        h *= mul;
    }
    if (len & 7) {
        uint64_t tail = 0;
        Py_ssize_t j;
        for (j = len - 1; j >= whole; j--) tail = (tail << 8) | data[j];
        h ^= tail;
        h *= mul;
    }
    h ^= h >> 47;
    h *= mul;
    h ^= h >> 47;
    return h;
}

static int pat_len(const unsigned char *ele, Py_ssize_t len, long *index) {
    uint64_t h = murmur(ele, len, SEED);
    uint64_t rest;
    int count = 1;
    *index = (long)(h & PMASK);
    rest = (h >> P) | ((uint64_t)1 << Q);
    while (!(rest & 1)) {
        rest >>= 1;
        count++;
    }
    return count;
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
    unsigned char *p;
    size_t len, cap; /* cap > len always: p[len] is a readable zero */
} buf_t;

static int buf_init(buf_t *b, const unsigned char *src, size_t len) {
    size_t cap = (len > DENSE_SIZE ? len : DENSE_SIZE) + 8;
    b->p = PyMem_Calloc(cap, 1);
    if (!b->p) return -1;
    memcpy(b->p, src, len);
    b->len = len;
    b->cap = cap;
    return 0;
}

static int buf_reserve(buf_t *b, size_t need) {
    if (need + 1 <= b->cap) return 0;
    size_t cap = b->cap * 2 > need + 8 ? b->cap * 2 : need + 8;
    unsigned char *p = PyMem_Realloc(b->p, cap);
    if (!p) return -1;
    memset(p + b->cap, 0, cap - b->cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

static void buf_free(buf_t *b) {
    PyMem_Free(b->p);
    b->p = NULL;
}

/* ------------------------------------------------------------------ dense */

static int dense_get(const unsigned char *regs, long i) {
    long pos = i * 6 / 8;
    int fb = (int)(i * 6 & 7);
    return ((regs[pos] >> fb) | (regs[pos + 1] << (8 - fb))) & 63;
}

static void dense_put(unsigned char *regs, long i, int v) {
    long pos = i * 6 / 8;
    int fb = (int)(i * 6 & 7);
    regs[pos] = (unsigned char)((regs[pos] & ~(63 << fb)) | (v << fb));
    if (fb > 2) regs[pos + 1] = (unsigned char)((regs[pos + 1] & ~(63 >> (8 - fb))) | (v >> (8 - fb)));
}

static int dense_update(unsigned char *regs, long i, int count) {
    if (count > dense_get(regs, i)) {
        dense_put(regs, i, count);
        return 1;
    }
    return 0;
}

static void dense_unpack(const unsigned char *regs, unsigned char *raw) {
    long i;
    for (i = 0; i < NREG / 4; i++) {
        const unsigned char *r = regs + 3 * i;
        unsigned char *t = raw + 4 * i;
        t[0] = r[0] & 63;
        t[1] = ((r[0] >> 6) | (r[1] << 2)) & 63;
        t[2] = ((r[1] >> 4) | (r[2] << 4)) & 63;
        t[3] = (r[2] >> 2) & 63;
    }
}

static void dense_pack(unsigned char *regs, const unsigned char *raw) {
    long i;
    for (i = 0; i < NREG / 4; i++) {
        unsigned char *r = regs + 3 * i;
        const unsigned char *t = raw + 4 * i;
        int a = t[0] & 63, b = t[1] & 63, c = t[2] & 63, d = t[3] & 63;
        r[0] = (unsigned char)(a | (b << 6));
        r[1] = (unsigned char)((b >> 2) | (c << 4));
        r[2] = (unsigned char)((c >> 4) | (d << 2));
    }
}

/* ------------------------------------------------------------------ sparse */

#define IS_ZERO(b) (((b) & 0xc0) == 0)
#define IS_XZERO(b) (((b) & 0xc0) == 0x40)
#define IS_VAL(b) ((b) & 0x80)
#define VAL_VALUE(b) ((((b) >> 2) & 0x1f) + 1)
#define VAL_RUN(b) (((b) & 3) + 1)
#define MAKE_VAL(v, n) ((unsigned char)(0x80 | (((v) - 1) << 2) | ((n) - 1)))

/* Register values of a sparse HLL (data = the whole value); -1 when corrupt. */
static int sparse_unpack(const unsigned char *data, size_t len, unsigned char *raw) {
    size_t p = HDR;
    long idx = 0;
    while (p < len) {
        unsigned char b = data[p];
        long run;
        int val = 0;
        if (IS_ZERO(b)) {
            run = (b & 0x3f) + 1;
            p += 1;
        } else if (IS_XZERO(b)) {
            run = ((((long)b & 0x3f) << 8) | (p + 1 < len ? data[p + 1] : 0)) + 1;
            p += 2;
        } else {
            run = VAL_RUN(b);
            val = VAL_VALUE(b);
            p += 1;
        }
        if (idx + run > NREG) return -1;
        if (raw) memset(raw + idx, val, (size_t)run);
        idx += run;
    }
    return idx == NREG ? 0 : -1;
}

static int to_dense(buf_t *b) {
    unsigned char raw[NREG];
    if (b->p[4] == ENC_DENSE) return 0;
    if (sparse_unpack(b->p, b->len, raw) < 0) return -1;
    if (buf_reserve(b, DENSE_SIZE) < 0) return -2;
    b->p[4] = ENC_DENSE;
    dense_pack(b->p + HDR, raw);
    b->len = DENSE_SIZE;
    b->p[b->len] = 0;
    return 0;
}

static int put_zeros(unsigned char *seq, long n) {
    if (n > 64) {
        n -= 1;
        seq[0] = (unsigned char)(0x40 | (n >> 8));
        seq[1] = (unsigned char)(n & 0xff);
        return 2;
    }
    seq[0] = (unsigned char)(n - 1);
    return 1;
}

static int merge_window(buf_t *b, long prev, size_t end) {
    size_t p = prev >= 0 ? (size_t)prev : HDR;
    int scan = 5;
    unsigned char *d = b->p;
    while (p < end && scan > 0) {
        unsigned char c = d[p];
        scan--;
        if (IS_XZERO(c)) {
            p += 2;
            continue;
        }
        if (IS_ZERO(c)) {
            p += 1;
            continue;
        }
        if (p + 1 < end && IS_VAL(d[p + 1])) {
            unsigned char c2 = d[p + 1];
            if (VAL_VALUE(c) == VAL_VALUE(c2)) {
                int run = VAL_RUN(c) + VAL_RUN(c2);
                if (run <= 4) {
                    d[p + 1] = MAKE_VAL(VAL_VALUE(c), run);
                    memmove(d + p, d + p + 1, end - p - 1);
                    end--;
                    b->len = end;
                    d[end] = 0;
                    continue;
                }
            }
        }
        p++;
    }
    d[15] |= 0x80;
    return 1;
}

static int promote(buf_t *b, long index, int count) {
    int r = to_dense(b);
    if (r < 0) return r == -2 ? -2 : -1;
    dense_update(b->p + HDR, index, count);
    return 1;
}

/* 1 changed, 0 unchanged, -1 corrupt, -2 out of memory. */
static int sparse_update(buf_t *b, long index, int count, size_t sparse_max) {
    unsigned char *d;
    size_t end, p = HDR;
    long first = 0, prev = -1, span = 0, last;
    int oplen = 1, is_val, is_xzero, cur = 0, n = 0, old, delta;
    unsigned char seq[5];

    if (count > VAL_MAX) return promote(b, index, count);
    d = b->p;
    end = b->len;
    while (p < end) {
        unsigned char c = d[p];
        if (IS_ZERO(c)) {
            span = (c & 0x3f) + 1;
            oplen = 1;
        } else if (IS_VAL(c)) {
            span = VAL_RUN(c);
            oplen = 1;
        } else {
            span = ((((long)c & 0x3f) << 8) | d[p + 1]) + 1; /* d[end] is 0 */
            oplen = 2;
        }
        if (index <= first + span - 1) break;
        prev = (long)p;
        p += oplen;
        first += span;
    }
    if (span == 0 || p >= end) return -1;
    is_val = IS_VAL(d[p]) != 0;
    is_xzero = IS_XZERO(d[p]);
    if (is_val) {
        cur = VAL_VALUE(d[p]);
        if (cur >= count) return 0;
        if (span == 1) {
            d[p] = MAKE_VAL(count, 1);
            return merge_window(b, prev, end);
        }
    } else if (!is_xzero && span == 1) {
        d[p] = MAKE_VAL(count, 1);
        return merge_window(b, prev, end);
    }
    last = first + span - 1;
    if (is_val) {
        if (index != first) seq[n++] = MAKE_VAL(cur, index - first);
        seq[n++] = MAKE_VAL(count, 1);
        if (index != last) seq[n++] = MAKE_VAL(cur, last - index);
    } else {
        if (index != first) n += put_zeros(seq + n, index - first);
        seq[n++] = MAKE_VAL(count, 1);
        if (index != last) n += put_zeros(seq + n, last - index);
    }
    old = is_xzero ? 2 : 1;
    delta = n - old;
    if (delta > 0 && end + (size_t)delta > sparse_max) return promote(b, index, count);
    if (buf_reserve(b, end + 3) < 0) return -2;
    d = b->p;
    if (p + old < end) memmove(d + p + old + delta, d + p + old, end - p - old);
    if (p + old <= end) {
        memcpy(d + p, seq, (size_t)n);
    } else { /* a truncated XZERO: keep the length Valkey gives it */
        memcpy(d + p, seq, (size_t)(end + delta - p));
    }
    b->len = end + delta;
    d[b->len] = 0;
    return merge_window(b, prev, b->len);
}

/* ------------------------------------------------------------------ estimate */

static double sigma(double x) {
    double zp, y = 1, z = x;
    if (x == 1.) return INFINITY;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (zp != z);
    return z;
}

static double tau(double x) {
    double zp, y = 1.0, z;
    if (x == 0. || x == 1.) return 0.;
    z = 1 - x;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
    } while (zp != z);
    return z / 3;
}

static long long estimate(const long *hist) {
    double m = NREG, z, e;
    int j;
    z = m * tau((m - hist[Q + 1]) / m);
    for (j = Q; j >= 1; --j) {
        z += hist[j];
        z *= 0.5;
    }
    z += m * sigma(hist[0] / m);
    e = ALPHA_INF * m * m / z;
    if (isinf(e) || isnan(e)) return 0;
    {
        double r = floor(e);
        if (e - r >= 0.5) r += 1;
        return (long long)r;
    }
}

static long long count_raw_regs(const unsigned char *raw) {
    long hist[64] = {0};
    long i;
    for (i = 0; i < NREG; i++) hist[raw[i] & 63]++;
    return estimate(hist);
}

/* ------------------------------------------------------------------ Python API */

static PyObject *py_murmur64a(PyObject *self, PyObject *args) {
    Py_buffer data;
    unsigned long long seed = SEED;
    uint64_t h;
    if (!PyArg_ParseTuple(args, "y*|K", &data, &seed)) return NULL;
    h = murmur(data.buf, data.len, seed);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(h);
}

static PyObject *finish(buf_t *b) {
    PyObject *out = PyBytes_FromStringAndSize((const char *)b->p, (Py_ssize_t)b->len);
    buf_free(b);
    return out;
}

static PyObject *py_pfadd(PyObject *self, PyObject *args) {
    Py_buffer value;
    PyObject *elements, *seq, *out;
    Py_ssize_t sparse_max, i, n;
    buf_t b;
    long updated = 0;
    int corrupt = 0;

    if (!PyArg_ParseTuple(args, "y*On", &value, &elements, &sparse_max)) return NULL;
    if (value.len < HDR) {
        PyBuffer_Release(&value);
        PyErr_SetString(PyExc_ValueError, "not an HLL");
        return NULL;
    }
    seq = PySequence_Fast(elements, "elements must be a sequence");
    if (!seq) {
        PyBuffer_Release(&value);
        return NULL;
    }
    if (buf_init(&b, value.buf, (size_t)value.len) < 0) {
        PyBuffer_Release(&value);
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    PyBuffer_Release(&value);
    n = PySequence_Fast_GET_SIZE(seq);
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        char *ele;
        Py_ssize_t len;
        long index;
        int count, r;
        if (PyBytes_AsStringAndSize(item, &ele, &len) < 0) {
            buf_free(&b);
            Py_DECREF(seq);
            return NULL;
        }
        count = pat_len((const unsigned char *)ele, len, &index);
        if (b.p[4] == ENC_DENSE)
            r = dense_update(b.p + HDR, index, count);
        else
            r = sparse_update(&b, index, count, (size_t)(sparse_max < 0 ? 0 : sparse_max));
        if (r == -2) {
            buf_free(&b);
            Py_DECREF(seq);
            return PyErr_NoMemory();
        }
        if (r < 0) {
            corrupt = 1;
            break;
        }
        updated += r;
    }
    Py_DECREF(seq);
    if (updated && !corrupt) b.p[15] |= 0x80;
    out = finish(&b);
    if (!out) return NULL;
    return Py_BuildValue("(NlO)", out, updated, corrupt ? Py_True : Py_False);
}

static int unpack_value(const unsigned char *data, Py_ssize_t len, unsigned char *raw) {
    if (data[4] == ENC_DENSE) {
        if (len != DENSE_SIZE) return -1;
        dense_unpack(data + HDR, raw);
        return 0;
    }
    return sparse_unpack(data, (size_t)len, raw);
}

static PyObject *py_registers(PyObject *self, PyObject *arg) {
    Py_buffer value;
    unsigned char raw[NREG];
    int r;
    if (!PyArg_Parse(arg, "y*", &value)) return NULL;
    r = value.len >= HDR ? unpack_value(value.buf, value.len, raw) : -1;
    PyBuffer_Release(&value);
    if (r < 0) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)raw, NREG);
}

static PyObject *py_count(PyObject *self, PyObject *arg) {
    Py_buffer value;
    unsigned char raw[NREG];
    int r;
    if (!PyArg_Parse(arg, "y*", &value)) return NULL;
    r = value.len >= HDR ? unpack_value(value.buf, value.len, raw) : -1;
    PyBuffer_Release(&value);
    if (r < 0) return PyLong_FromLong(-1);
    return PyLong_FromLongLong(count_raw_regs(raw));
}

static PyObject *py_count_raw(PyObject *self, PyObject *arg) {
    Py_buffer raw;
    long long card;
    if (!PyArg_Parse(arg, "y*", &raw)) return NULL;
    if (raw.len != NREG) {
        PyBuffer_Release(&raw);
        PyErr_SetString(PyExc_ValueError, "16384 registers expected");
        return NULL;
    }
    card = count_raw_regs(raw.buf);
    PyBuffer_Release(&raw);
    return PyLong_FromLongLong(card);
}

static PyObject *py_merge(PyObject *self, PyObject *args) {
    Py_buffer target, value;
    unsigned char regs[NREG];
    unsigned char *t;
    int r;
    long i;
    if (!PyArg_ParseTuple(args, "w*y*", &target, &value)) return NULL;
    if (target.len != NREG) {
        PyBuffer_Release(&target);
        PyBuffer_Release(&value);
        PyErr_SetString(PyExc_ValueError, "16384 registers expected");
        return NULL;
    }
    r = value.len >= HDR ? unpack_value(value.buf, value.len, regs) : -1;
    if (r == 0) {
        t = target.buf;
        for (i = 0; i < NREG; i++)
            if (regs[i] > t[i]) t[i] = regs[i];
    }
    PyBuffer_Release(&target);
    PyBuffer_Release(&value);
    return PyBool_FromLong(r == 0);
}

static PyObject *py_raw_max(PyObject *self, PyObject *args) {
    Py_buffer target, raw;
    unsigned char *t;
    const unsigned char *r;
    long i;
    if (!PyArg_ParseTuple(args, "w*y*", &target, &raw)) return NULL;
    if (target.len != NREG || raw.len != NREG) {
        PyBuffer_Release(&target);
        PyBuffer_Release(&raw);
        PyErr_SetString(PyExc_ValueError, "16384 registers expected");
        return NULL;
    }
    t = target.buf;
    r = raw.buf;
    for (i = 0; i < NREG; i++)
        if (r[i] > t[i]) t[i] = r[i];
    PyBuffer_Release(&target);
    PyBuffer_Release(&raw);
    Py_RETURN_NONE;
}

static PyObject *py_to_dense(PyObject *self, PyObject *arg) {
    Py_buffer value;
    buf_t b;
    int r;
    if (!PyArg_Parse(arg, "y*", &value)) return NULL;
    if (value.len < HDR) {
        PyBuffer_Release(&value);
        Py_RETURN_NONE;
    }
    if (buf_init(&b, value.buf, (size_t)value.len) < 0) {
        PyBuffer_Release(&value);
        return PyErr_NoMemory();
    }
    PyBuffer_Release(&value);
    r = to_dense(&b);
    if (r < 0) {
        buf_free(&b);
        if (r == -2) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    return finish(&b);
}

static PyObject *py_store(PyObject *self, PyObject *args) {
    PyObject *dest;
    Py_buffer raw;
    int use_dense;
    Py_ssize_t sparse_max;
    buf_t b;
    const unsigned char *src;
    Py_ssize_t srclen;
    long i;

    if (!PyArg_ParseTuple(args, "Oy*pn", &dest, &raw, &use_dense, &sparse_max)) return NULL;
    if (raw.len != NREG) {
        PyBuffer_Release(&raw);
        PyErr_SetString(PyExc_ValueError, "16384 registers expected");
        return NULL;
    }
    if (dest == Py_None) {
        src = EMPTY;
        srclen = sizeof(EMPTY);
    } else {
        char *s;
        if (PyBytes_AsStringAndSize(dest, &s, &srclen) < 0) {
            PyBuffer_Release(&raw);
            return NULL;
        }
        src = (const unsigned char *)s;
    }
    if (srclen < HDR || buf_init(&b, src, (size_t)srclen) < 0) {
        PyBuffer_Release(&raw);
        if (srclen < HDR) Py_RETURN_NONE;
        return PyErr_NoMemory();
    }
    if (use_dense) {
        int r = to_dense(&b);
        if (r < 0) {
            buf_free(&b);
            PyBuffer_Release(&raw);
            if (r == -2) return PyErr_NoMemory();
            Py_RETURN_NONE;
        }
        dense_pack(b.p + HDR, raw.buf);
    } else {
        const unsigned char *regs = raw.buf;
        for (i = 0; i < NREG; i++) {
            if (!regs[i]) continue;
            if (b.p[4] == ENC_DENSE) {
                dense_update(b.p + HDR, i, regs[i]);
            } else if (sparse_update(&b, i, regs[i], (size_t)(sparse_max < 0 ? 0 : sparse_max)) == -2) {
                buf_free(&b);
                PyBuffer_Release(&raw);
                return PyErr_NoMemory();
            }
        }
    }
    PyBuffer_Release(&raw);
    b.p[15] |= 0x80;
    return finish(&b);
}

static PyMethodDef methods[] = {
    {"murmur64a", py_murmur64a, METH_VARARGS, "MurmurHash64A(data, seed=0xadc83b19) as Valkey computes it."},
    {"pfadd", py_pfadd, METH_VARARGS, "pfadd(value, elements, sparse_max) -> (new value, changed registers, corrupt)."},
    {"count", py_count, METH_O, "The estimate of a valid HLL value, -1 when a sparse one is corrupt."},
    {"count_raw", py_count_raw, METH_O, "The estimate from 16384 one-byte registers."},
    {"merge", py_merge, METH_VARARGS, "merge(registers bytearray, value) -> False when value is corrupt."},
    {"raw_max", py_raw_max, METH_VARARGS, "raw_max(registers bytearray, registers): element-wise maximum in place."},
    {"store", py_store, METH_VARARGS, "store(dest or None, registers, use_dense, sparse_max) -> new value or None."},
    {"to_dense", py_to_dense, METH_O, "The dense form of an HLL value, None when corrupt."},
    {"registers", py_registers, METH_O, "16384 one-byte registers of a valid HLL value, None when corrupt."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hll", "HyperLogLog hot paths in C.", -1, methods};

PyMODINIT_FUNC PyInit__hll(void) {
    return PyModule_Create(&module);
}
