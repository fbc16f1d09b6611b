/*
 * C speedups for shardserver's hot paths: the request parser (front) and
 * key_slot (front and shards).  Both have pure-Python twins that tests compare.
 *
 * Request parser:
 *
 * Same semantics, limits and error texts as shardserver.resp.RequestParser
 * (which follows Valkey's processMultibulkBuffer / processInlineBuffer); a
 * property test checks that the two agree.  Sans-IO: feed() bytes, drain()
 * complete commands.  drain() returns (commands, error) where error is None
 * or the bytes of Valkey's error text; after an error the parser stays failed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <ctype.h>
#include <limits.h>
#include <time.h>

#define INLINE_MAX (64 * 1024)

typedef struct {
    PyObject_HEAD
    char *buf;
    Py_ssize_t len, cap, pos;
    long long max_bulk;
    long long max_buffer;
    long long remaining; /* args left in the current multibulk; 0 = between commands */
    long long bulklen;   /* -1 = next bulk header not read yet */
    Py_ssize_t cmd_start; /* buffer offset where the command being parsed began */
    PyObject *args;      /* list under construction */
    PyObject *error;     /* bytes, once failed */
    int strict;          /* AOF replay: records must be multibulk; '#' lines are annotations */
} Parser;

static int string2ll(const char *s, Py_ssize_t slen, long long *value) {
    const char *p = s;
    Py_ssize_t plen = 0;
    int negative = 0;
    unsigned long long v;
    if (plen == slen || slen > 20) return 0;
    if (slen == 1 && p[0] == '0') { *value = 0; return 1; }
    if (p[0] == '-') { negative = 1; p++; plen++; if (plen == slen) return 0; }
    if (p[0] >= '1' && p[0] <= '9') { v = p[0] - '0'; p++; plen++; }
    else return 0;
    while (plen < slen && p[0] >= '0' && p[0] <= '9') {
        if (v > (ULLONG_MAX / 10)) return 0;
        v *= 10;
        if (v > (ULLONG_MAX - (p[0] - '0'))) return 0;
        v += p[0] - '0';
        p++; plen++;
    }
    if (plen < slen) return 0;
    if (negative) {
        if (v > ((unsigned long long)(-(LLONG_MIN + 1)) + 1)) return 0;
        *value = -(long long)v;
    } else {
        if (v > LLONG_MAX) return 0;
        *value = (long long)v;
    }
    return 1;
}

static void fail(Parser *self, const char *text) {
    Py_XDECREF(self->error);
    self->error = PyBytes_FromString(text);
}

static int is_hex(int c) { return isxdigit(c); }
static int hex_val(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Valkey's sdssplitargs over a NUL-free copy; returns a list or NULL (unbalanced). */
static PyObject *split_args(const char *line, Py_ssize_t n) {
    PyObject *out = PyList_New(0);
    char *cur = PyMem_Malloc(n + 1);
    const char *p = line, *end = line + n;
    if (!out || !cur) { Py_XDECREF(out); PyMem_Free(cur); return PyErr_NoMemory(); }
    while (1) {
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p >= end) break;
        {
            int inq = 0, insq = 0, done = 0;
            Py_ssize_t clen = 0;
            while (!done) {
                int c = p < end ? (unsigned char)*p : 0;
                int c1 = p + 1 < end ? (unsigned char)p[1] : 0;
                if (inq) {
                    if (c == '\\' && c1 == 'x' && p + 3 < end && is_hex((unsigned char)p[2]) && is_hex((unsigned char)p[3])) {
                        cur[clen++] = (char)(hex_val((unsigned char)p[2]) * 16 + hex_val((unsigned char)p[3]));
                        p += 3;
                    } else if (c == '\\' && c1) {
                        p++;
                        switch (c1) {
                        case 'n': cur[clen++] = '\n'; break;
                        case 'r': cur[clen++] = '\r'; break;
                        case 't': cur[clen++] = '\t'; break;
                        case 'b': cur[clen++] = '\b'; break;
                        case 'a': cur[clen++] = '\a'; break;
                        default: cur[clen++] = (char)c1; break;
                        }
                    } else if (c == '"') {
                        inq = 0;  /* Valkey 9: text right after a closing quote continues the argument */
                    } else if (!c) {
                        goto err;
                    } else {
                        cur[clen++] = (char)c;
                    }
                } else if (insq) {
                    if (c == '\\' && c1 == '\'') {
                        p++;
                        cur[clen++] = '\'';
                    } else if (c == '\'') {
                        insq = 0;
                    } else if (!c) {
                        goto err;
                    } else {
                        cur[clen++] = (char)c;
                    }
                } else {
                    switch (c) {
                    case ' ': case '\n': case '\r': case '\t': case '\0': done = 1; break;
                    case '"': inq = 1; break;
                    case '\'': insq = 1; break;
                    default: cur[clen++] = (char)c; break;
                    }
                }
                if (p < end) p++;
            }
            {
                PyObject *arg = PyBytes_FromStringAndSize(cur, clen);
                if (!arg || PyList_Append(out, arg) < 0) { Py_XDECREF(arg); goto oom; }
                Py_DECREF(arg);
            }
        }
    }
    PyMem_Free(cur);
    return out;
err:
    PyMem_Free(cur);
    Py_DECREF(out);
    Py_RETURN_NONE;
oom:
    PyMem_Free(cur);
    Py_DECREF(out);
    return NULL;
}

/* Parse one command if complete.  Returns 1 and sets *cmd (may be NULL for an
 * empty command), 0 when more bytes are needed, -1 on a protocol error (set in
 * self->error), -2 on a Python error. */
static int parse_one(Parser *self, PyObject **cmd) {
    *cmd = NULL;
    if (self->remaining == 0) {
        const char *start = self->buf + self->pos;
        self->cmd_start = self->pos;
        Py_ssize_t avail = self->len - self->pos;
        if (avail <= 0) return 0;
        if (start[0] == '*') {
            const char *nl = memchr(start, '\r', avail);
            long long ll;
            if (!nl) {
                if (avail > INLINE_MAX) { fail(self, "ERR Protocol error: too big mbulk count string"); return -1; }
                return 0;
            }
            if (nl - start > avail - 2) return 0;
            if (nl[1] != '\n') { fail(self, "ERR Protocol error: invalid CRLF in request"); return -1; }
            if (!string2ll(start + 1, nl - (start + 1), &ll) || ll > INT_MAX) {
                fail(self, "ERR Protocol error: invalid multibulk length");
                return -1;
            }
            if (ll <= 0 && self->strict) { fail(self, "ERR Bad file format reading the append only file"); return -1; }
            self->pos = (nl - self->buf) + 2;
            if (ll <= 0) return 1;
            self->remaining = ll;
            self->bulklen = -1;
            self->args = PyList_New(0);
            if (!self->args) return -2;
        } else if (self->strict) {
            const char *nl;
            if (start[0] != '#') { fail(self, "ERR Bad file format reading the append only file"); return -1; }
            nl = memchr(start, '\n', avail);
            if (!nl) return 0;
            self->pos += (nl - start) + 1;
            return 1;
        } else {
            const char *nl = memchr(start, '\n', avail);
            const char *nul = memchr(start, '\0', nl ? (Py_ssize_t)(nl - start) : avail);
            const char *lineend;
            Py_ssize_t linefeed = 1, qlen, zero;
            PyObject *args;
            if (nul) nl = NULL;  /* Valkey finds the newline with strchr: a NUL hides it */
            if (!nl) {
                if (avail > INLINE_MAX) { fail(self, "ERR Protocol error: too big inline request"); return -1; }
                return 0;
            }
            lineend = nl;
            if (lineend != start && lineend[-1] == '\r') { lineend--; linefeed++; }
            qlen = lineend - start;
            /* sdssplitargs stops at a NUL byte like any C string */
            for (zero = 0; zero < qlen && start[zero]; zero++) {}
            args = split_args(start, zero);
            if (!args) return -2;
            if (args == Py_None) {
                Py_DECREF(args);
                fail(self, "ERR Protocol error: unbalanced quotes in request");
                return -1;
            }
            self->pos += qlen + linefeed;
            if (PyList_GET_SIZE(args) == 0) { Py_DECREF(args); return 1; }
            *cmd = args;
            return 1;
        }
    }
    while (self->remaining) {
        const char *start = self->buf + self->pos;
        Py_ssize_t avail = self->len - self->pos;
        if (self->bulklen == -1) {
            const char *nl;
            long long ll;
            if (avail <= 0) return 0;
            nl = memchr(start, '\r', avail);
            if (!nl) {
                if (avail > INLINE_MAX) { fail(self, "ERR Protocol error: too big bulk count string"); return -1; }
                return 0;
            }
            if (nl - start > avail - 2) return 0;
            if (start[0] != '$') {
                static const char head[] = "ERR Protocol error: expected '$', got '";
                char text[sizeof head + 2];
                memcpy(text, head, sizeof head - 1);
                text[sizeof head - 1] = start[0];  /* the raw byte, as Valkey sends it */
                text[sizeof head] = '\'';
                Py_XDECREF(self->error);
                self->error = PyBytes_FromStringAndSize(text, sizeof head + 1);
                return -1;
            }
            if (nl[1] != '\n') { fail(self, "ERR Protocol error: invalid CRLF in request"); return -1; }
            if (!string2ll(start + 1, nl - (start + 1), &ll) || ll < 0 || ll > self->max_bulk) {
                fail(self, "ERR Protocol error: invalid bulk length");
                return -1;
            }
            self->pos = (nl - self->buf) + 2;
            self->bulklen = ll;
            start = self->buf + self->pos;
            avail = self->len - self->pos;
        }
        if (avail < self->bulklen + 2) return 0;
        if (start[self->bulklen] != '\r' || start[self->bulklen + 1] != '\n') {
            fail(self, "ERR Protocol error: invalid CRLF in request");
            return -1;
        }
        {
            PyObject *arg = PyBytes_FromStringAndSize(start, (Py_ssize_t)self->bulklen);
            if (!arg) return -2;
            if (PyList_Append(self->args, arg) < 0) { Py_DECREF(arg); return -2; }
            Py_DECREF(arg);
        }
        self->pos += self->bulklen + 2;
        self->bulklen = -1;
        self->remaining--;
    }
    *cmd = self->args;
    self->args = NULL;
    return 1;
}

static PyObject *Parser_feed(Parser *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    {
        /* keep the bytes of a partly parsed command: drain_routed forwards them raw */
        Py_ssize_t keep = self->remaining ? self->cmd_start : self->pos;
        if (keep > 0 && (keep == self->len || self->len + view.len > self->cap)) {
            memmove(self->buf, self->buf + keep, self->len - keep);
            self->len -= keep;
            self->pos -= keep;
            self->cmd_start -= keep;
        }
    }
    if (self->len + view.len > self->cap) {
        Py_ssize_t ncap = self->cap ? self->cap : 16384;
        char *nbuf;
        while (ncap < self->len + view.len) ncap *= 2;
        nbuf = PyMem_Realloc(self->buf, ncap);
        if (!nbuf) { PyBuffer_Release(&view); return PyErr_NoMemory(); }
        self->buf = nbuf;
        self->cap = ncap;
    }
    memcpy(self->buf + self->len, view.buf, view.len);
    self->len += view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *Parser_drain(Parser *self, PyObject *unused) {
    PyObject *out = PyList_New(0);
    PyObject *result;
    if (!out) return NULL;
    while (!self->error) {
        PyObject *cmd;
        int rc = parse_one(self, &cmd);
        if (rc == -2) { Py_DECREF(out); return NULL; }
        if (rc <= 0) break;
        if (cmd) {
            if (PyList_Append(out, cmd) < 0) { Py_DECREF(cmd); Py_DECREF(out); return NULL; }
            Py_DECREF(cmd);
        }
    }
    /* give memory back after a big request */
    if (self->pos == self->len && self->remaining == 0 && self->cap > (1 << 20)) {
        PyMem_Free(self->buf);
        self->buf = NULL;
        self->cap = self->len = self->pos = 0;
    }
    result = PyTuple_Pack(2, out, self->error ? self->error : Py_None);
    Py_DECREF(out);
    return result;
}

static unsigned short crc16(const unsigned char *buf, Py_ssize_t len);

static long slot_of_buf(const unsigned char *k, Py_ssize_t len) {
    const unsigned char *open = len > 0 ? memchr(k, '{', len) : NULL, *close;
    if (open) {
        close = memchr(open + 1, '}', len - (open + 1 - k));
        if (close && close != open + 1) return crc16(open + 1, close - open - 1) & 16383;
    }
    return crc16(k, len) & 16383;
}

static long slot_of(PyObject *key) {
    return slot_of_buf((const unsigned char *)PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key));
}

/* writes the decimal digits of v at p; returns the new end */
static char *put_ll(char *p, long long v) {
    char digits[24];
    int len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    if (v < 0) *p++ = '-';
    do { digits[len++] = (char)('0' + u % 10); u /= 10; } while (u);
    while (len) *p++ = digits[--len];
    return p;
}

/* writes "<c><n>\r\n" at p (a RESP header or integer reply); returns the new
 * end (at most 23 bytes; sprintf is slow here) */
static char *put_header(char *p, char c, long long n) {
    *p++ = c;
    p = put_ll(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* A growable byte buffer. */
typedef struct { char *p; Py_ssize_t len, cap; } Buf;

static int buf_add(Buf *b, const char *data, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t ncap = b->cap ? b->cap : 256;
        char *np;
        while (ncap < b->len + n) ncap *= 2;
        np = PyMem_Realloc(b->p, ncap);
        if (!np) { PyErr_NoMemory(); return -1; }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* The commands routed so far since the last slow command: their shard order
 * and, per shard, their raw bytes. */
typedef struct {
    Buf order;
    Buf *raw;   /* nshards buffers */
    int nshards;
    PyObject *last_name;
} Group;

/* Emit the group as (order, [raw or None per shard], last_name) and reset it. */
static int group_flush(Group *g, PyObject *out) {
    PyObject *raws, *order, *item;
    int i;
    if (g->order.len == 0) return 0;
    raws = PyList_New(g->nshards);
    if (!raws) return -1;
    for (i = 0; i < g->nshards; i++) {
        PyObject *r;
        if (g->raw[i].len) {
            r = PyBytes_FromStringAndSize(g->raw[i].p, g->raw[i].len);
            if (!r) { Py_DECREF(raws); return -1; }
            g->raw[i].len = 0;
        } else {
            r = Py_None;
            Py_INCREF(r);
        }
        PyList_SET_ITEM(raws, i, r);
    }
    order = PyBytes_FromStringAndSize(g->order.p, g->order.len);
    if (!order) { Py_DECREF(raws); return -1; }
    g->order.len = 0;
    item = PyTuple_Pack(3, order, raws, g->last_name);
    Py_DECREF(order);
    Py_DECREF(raws);
    if (!item) return -1;
    if (PyList_Append(out, item) < 0) { Py_DECREF(item); return -1; }
    Py_DECREF(item);
    return 0;
}

/* RESP bulk string header and body into b */
static int buf_bulk(Buf *b, const char *data, Py_ssize_t n) {
    char head[32];
    int h = (int)(put_header(head, '$', n) - head);
    return buf_add(b, head, h) < 0 || buf_add(b, data, n) < 0 || buf_add(b, "\r\n", 2) < 0 ? -1 : 0;
}

/*
 * SPLIT commands (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH) whose keys span
 * shards, consecutive ones of a read gathered into one item
 * (merges, orders, raws, names): per command its merge (a byte of
 * ``merges``: the table's SPLIT_MERGES number, with bit 0x40 when the front
 * wants the write under an intent), ``orders[i]`` one byte per
 * key naming its shard, ``names[i]``; ``raws[s]`` the RESP of shard s's
 * sub-commands (each the command's name and the keys, with their values,
 * that live on s, in order), or None.  A chunk of pipelined MSETs thus
 * travels as one run per shard, not one per command and shard.
 */
typedef struct {
    Buf *raw;          /* nshards buffers */
    Buf merges;
    PyObject *orders;  /* list, or NULL while empty */
    PyObject *names;
} Splits;

/* One split command, its arguments as n (pointer, length) pairs (arg[0] the
 * name, ``name`` the same as bytes), into the gathered ones. */
static int split_add(Splits *sp, const char *const *arg, const Py_ssize_t *alen, Py_ssize_t n, PyObject *name, long first, long step, long merge, const unsigned short *owners, int nshards) {
    Py_ssize_t pos;
    PyObject *order = NULL;
    Buf *body = PyMem_Calloc(nshards, sizeof(Buf)), ord = {0};
    Py_ssize_t *units = PyMem_Calloc(nshards, sizeof(Py_ssize_t));
    unsigned char m = (unsigned char)merge;
    int s, rc = -1;
    if (!body || !units) { PyErr_NoMemory(); goto done; }
    if (!sp->orders && (!(sp->orders = PyList_New(0)) || !(sp->names = PyList_New(0)))) goto done;
    for (pos = first; pos < n; pos += step) {
        unsigned char shard = (unsigned char)owners[slot_of_buf((const unsigned char *)arg[pos], alen[pos])];
        long k;
        if (shard >= nshards) shard = 0;
        if (buf_add(&ord, (const char *)&shard, 1) < 0) goto done;
        for (k = 0; k < step; k++) {
            if (buf_bulk(&body[shard], arg[pos + k], alen[pos + k]) < 0) goto done;
        }
        units[shard]++;
    }
    for (s = 0; s < nshards; s++) {
        char star[32];
        int h;
        if (!units[s]) continue;
        h = (int)(put_header(star, '*', 1 + units[s] * step) - star);
        if (buf_add(&sp->raw[s], star, h) < 0 || buf_bulk(&sp->raw[s], PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)) < 0 ||
            buf_add(&sp->raw[s], body[s].p, body[s].len) < 0) goto done;
    }
    order = PyBytes_FromStringAndSize(ord.p, ord.len);
    if (!order || PyList_Append(sp->orders, order) < 0 || PyList_Append(sp->names, name) < 0 || buf_add(&sp->merges, (const char *)&m, 1) < 0) goto done;
    rc = 0;
done:
    Py_XDECREF(order);
    if (body) for (s = 0; s < nshards; s++) PyMem_Free(body[s].p);
    PyMem_Free(body);
    PyMem_Free(units);
    PyMem_Free(ord.p);
    return rc;
}

/* Emit the gathered split commands as one item and reset. */
static int split_flush(Splits *sp, int nshards, PyObject *out) {
    PyObject *raws, *merges, *item;
    int s;
    if (!sp->orders) return 0;
    raws = PyList_New(nshards);
    if (!raws) return -1;
    for (s = 0; s < nshards; s++) {
        PyObject *r = Py_None;
        if (sp->raw[s].len) {
            r = PyBytes_FromStringAndSize(sp->raw[s].p, sp->raw[s].len);
            if (!r) { Py_DECREF(raws); return -1; }
            sp->raw[s].len = 0;
        } else {
            Py_INCREF(r);
        }
        PyList_SET_ITEM(raws, s, r);
    }
    merges = PyBytes_FromStringAndSize(sp->merges.p, sp->merges.len);
    if (!merges) { Py_DECREF(raws); return -1; }
    sp->merges.len = 0;
    item = PyTuple_Pack(4, merges, sp->orders, raws, sp->names);
    Py_DECREF(merges);
    Py_DECREF(raws);
    Py_CLEAR(sp->orders);
    Py_CLEAR(sp->names);
    if (!item) return -1;
    if (PyList_Append(out, item) < 0) { Py_DECREF(item); return -1; }
    Py_DECREF(item);
    return 0;
}

/* the end of the RESP reply element at p (below end), or NULL if it is not a
 * complete bulk string, null or integer (what MGET's array holds) */
static const char *element_end(const char *p, const char *end) {
    const char *crlf;
    if (p >= end) return NULL;
    crlf = memchr(p, '\r', end - p);
    if (!crlf || crlf + 1 >= end || crlf[1] != '\n') return NULL;
    if (*p == '$') {
        long long len = strtoll(p + 1, NULL, 10);
        if (len < 0) return crlf + 2;  /* $-1 */
        if (len > end - (crlf + 2) - 2) return NULL;
        return crlf + 2 + len + 2;
    }
    if (*p == '_' || *p == ':' || *p == '+') return crlf + 2;
    return NULL;
}

/*
 * One split command's reply into out, from its shards' replies (part[s],
 * plen[s]; part[s] NULL for a shard without keys of it): the first error,
 * taking shards in the order of their first key, else for merge 1 +OK, 2 the
 * sum of the integers, 3 one array with each value where its key was
 * (``order``).  -1 with ValueError when a part is not what the merge expects.
 */
static int merge_one(int merge, const unsigned char *order, Py_ssize_t norder, const char **part, const Py_ssize_t *plen, int nparts, Buf *out) {
    unsigned char seen[256] = {0};
    const char *at[256], *stop[256];
    Py_ssize_t i;
    char num[40];
    int h;
    for (i = 0; i < norder; i++) {  /* errors first, shards by their first key */
        unsigned char s = order[i];
        if (s >= nparts || !part[s]) { PyErr_SetString(PyExc_ValueError, "a shard's part is missing"); return -1; }
        if (seen[s]) continue;
        seen[s] = 1;
        if (plen[s] && (part[s][0] == '-' || part[s][0] == '!')) return buf_add(out, part[s], plen[s]);
    }
    if (merge == 1) return buf_add(out, "+OK\r\n", 5);
    if (merge == 2) {
        long long sum = 0;
        for (i = 0; i < nparts; i++) {
            char *endp;
            if (!seen[i]) continue;
            if (plen[i] < 4 || part[i][0] != ':') { PyErr_SetString(PyExc_ValueError, "a part is not an integer"); return -1; }
            sum += strtoll(part[i] + 1, &endp, 10);
            if (*endp != '\r') { PyErr_SetString(PyExc_ValueError, "a part is not an integer"); return -1; }
        }
        h = (int)(put_header(num, ':', sum) - num);
        return buf_add(out, num, h);
    }
    if (merge != 3) { PyErr_SetString(PyExc_ValueError, "unknown merge"); return -1; }
    for (i = 0; i < nparts; i++) {
        const char *nl;
        at[i] = NULL;
        if (!seen[i]) continue;
        if (plen[i] < 4 || part[i][0] != '*' || !(nl = memchr(part[i], '\n', plen[i]))) { PyErr_SetString(PyExc_ValueError, "a part is not an array"); return -1; }
        at[i] = nl + 1;
        stop[i] = part[i] + plen[i];
    }
    h = (int)(put_header(num, '*', norder) - num);
    if (buf_add(out, num, h) < 0) return -1;
    for (i = 0; i < norder; i++) {
        unsigned char s = order[i];
        const char *e = element_end(at[s], stop[s]);
        if (!e) { PyErr_SetString(PyExc_ValueError, "a part has too few values"); return -1; }
        if (buf_add(out, at[s], e - at[s]) < 0) return -1;
        at[s] = e;
    }
    for (i = 0; i < nparts; i++) {
        if (at[i] && at[i] != stop[i]) { PyErr_SetString(PyExc_ValueError, "a part has too many values"); return -1; }
    }
    return 0;
}

/*
 * merge_splits(merges, orders, parts) -> bytes
 *
 * The replies of the split commands one item of drain_routed gathered, in
 * order: ``parts[s]`` is (joined replies, u32 lengths) of shard s's
 * sub-commands, or None; each command takes the next reply of each shard it
 * has keys on.  ValueError when the parts do not match the commands.
 */
static PyObject *merge_splits(PyObject *self, PyObject *args) {
    Py_buffer merges;
    PyObject *orders, *parts, *result = NULL;
    const char *data[256], *part[256];
    const unsigned int *lens[256];
    Py_ssize_t dlen[256], nlen[256], pos[256], idx[256], plen[256], nparts, i, c;
    Buf out = {0};
    if (!PyArg_ParseTuple(args, "y*O!O!", &merges, &PyList_Type, &orders, &PyList_Type, &parts)) return NULL;
    nparts = PyList_GET_SIZE(parts);
    if (nparts > 256 || PyList_GET_SIZE(orders) != merges.len) { PyErr_SetString(PyExc_ValueError, "parts do not match the commands"); goto done; }
    for (i = 0; i < nparts; i++) {
        PyObject *p = PyList_GET_ITEM(parts, i);
        data[i] = NULL;
        pos[i] = idx[i] = nlen[i] = dlen[i] = 0;
        if (p == Py_None) continue;
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(p, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(p, 1))) {
            PyErr_SetString(PyExc_TypeError, "parts[s] must be (bytes, bytes) or None");
            goto done;
        }
        data[i] = PyBytes_AS_STRING(PyTuple_GET_ITEM(p, 0));
        dlen[i] = PyBytes_GET_SIZE(PyTuple_GET_ITEM(p, 0));
        lens[i] = (const unsigned int *)PyBytes_AS_STRING(PyTuple_GET_ITEM(p, 1));
        nlen[i] = PyBytes_GET_SIZE(PyTuple_GET_ITEM(p, 1)) / 4;
    }
    for (c = 0; c < merges.len; c++) {
        PyObject *order = PyList_GET_ITEM(orders, c);
        const unsigned char *o;
        Py_ssize_t k, no;
        if (!PyBytes_Check(order)) { PyErr_SetString(PyExc_TypeError, "orders must be bytes"); goto done; }
        o = (const unsigned char *)PyBytes_AS_STRING(order);
        no = PyBytes_GET_SIZE(order);
        for (i = 0; i < nparts; i++) part[i] = NULL;
        for (k = 0; k < no; k++) {  /* this command's reply from each of its shards: the next one */
            unsigned char s = o[k];
            if (s >= nparts || !data[s] || (part[s] == NULL && idx[s] >= nlen[s])) { PyErr_SetString(PyExc_ValueError, "parts do not match the commands"); goto done; }
            if (part[s]) continue;
            plen[s] = lens[s][idx[s]++];
            if (pos[s] + plen[s] > dlen[s]) { PyErr_SetString(PyExc_ValueError, "reply lengths exceed data"); goto done; }
            part[s] = data[s] + pos[s];
            pos[s] += plen[s];
        }
        /* & 0x3f: the front's TX bit (a write under an intent) is not part of the merge */
        if (merge_one(((const unsigned char *)merges.buf)[c] & 0x3f, o, no, part, plen, (int)nparts, &out) < 0) goto done;
    }
    for (i = 0; i < nparts; i++) {
        if (data[i] && (idx[i] != nlen[i] || pos[i] != dlen[i])) { PyErr_SetString(PyExc_ValueError, "parts not fully used"); goto done; }
    }
    result = PyBytes_FromStringAndSize(out.p ? out.p : "", out.len);
done:
    PyMem_Free(out.p);
    PyBuffer_Release(&merges);
    return result;
}

/*
 * A look at the whole multibulk command at buf[p:n] without building its
 * argv: at most SCAN_ARGS arguments, every bulk length within max_bulk and
 * every CRLF in place.  Returns the number of arguments (their offsets and
 * lengths in at/len) and sets *end, or 0 for anything else (incomplete,
 * inline, malformed, too many arguments).  The router routes from it (and
 * parse_one takes what it refuses, errors included); the shard's prefetching
 * reads keys with it.
 */
#define SCAN_ARGS 64
static int scan_command(const char *buf, Py_ssize_t p, Py_ssize_t n, long long max_bulk, Py_ssize_t *at, Py_ssize_t *len, Py_ssize_t *end) {
    const char *nl;
    long long argc, i;
    if (p >= n || buf[p] != '*') return 0;
    nl = memchr(buf + p, '\r', n - p);
    if (!nl || nl + 1 >= buf + n || nl[1] != '\n' || !string2ll(buf + p + 1, nl - (buf + p + 1), &argc) || argc < 1 || argc > SCAN_ARGS) return 0;
    p = nl - buf + 2;
    for (i = 0; i < argc; i++) {
        long long bl;
        if (p >= n || buf[p] != '$') return 0;
        nl = memchr(buf + p, '\r', n - p);
        if (!nl || nl + 1 >= buf + n || nl[1] != '\n' || !string2ll(buf + p + 1, nl - (buf + p + 1), &bl) || bl < 0 || bl > max_bulk) return 0;
        p = nl - buf + 2;
        if (bl > n - p - 2 || buf[p + bl] != '\r' || buf[p + bl + 1] != '\n') return 0;
        at[i] = p;
        len[i] = (Py_ssize_t)bl;
        p += bl + 2;
    }
    *end = p;
    return (int)argc;
}

/* the group's last command name (the front's CLIENT LIST cmd=) */
static void set_last(Group *g, PyObject *name) {
    Py_INCREF(name);
    Py_DECREF(g->last_name);
    g->last_name = name;
}

/* a command scan_command read and the router took: consumed up to end */
static void scanned(Parser *self, Group *g, PyObject *name, Py_ssize_t end) {
    set_last(g, name);
    self->cmd_start = self->pos;
    self->pos = end;
}

/* fast[name], else fast[name lower-cased]; borrowed, NULL when neither (an error set on failure) */
static PyObject *lower_bytes(PyObject *b);

static PyObject *route_info(PyObject *fast, PyObject *name) {
    PyObject *info = PyDict_GetItemWithError(fast, name), *lname;
    if (info || PyErr_Occurred() || PyBytes_GET_SIZE(name) >= 64) return info;  /* no command name is that long */
    if (!(lname = lower_bytes(name))) return NULL;
    info = PyDict_GetItemWithError(fast, lname);
    Py_DECREF(lname);
    return info;
}

/*
 * drain_routed(fast, owner, nshards) -> (items, error)
 *
 * The front's hot path in one call.  ``fast`` maps a command name (bytes, as
 * sent or lower-cased) to (first_key, last_key, step, arity, merge) for key commands
 * that run on one shard when all their keys do (last_key < 0 counts from the end);
 * ``owner`` is the slot map (16384 native u16).  Such commands between two
 * slow ones form a group ``(order, raws, last_name)``: ``order`` has one byte
 * per command naming its shard, ``raws[s]`` is the RESP bytes of shard s's
 * commands in order (forwarded untouched), or None.  Every other command is
 * returned as its argv list, for the Python slow path, in its place.  A name
 * mapped to bytes (PING) is answered by the front with those bytes when sent
 * without arguments: consecutive ones become one item (None, replies, count).
 * Commands whose table entry has a merge (its 5th item: MGET, MSET, DEL...)
 * and whose keys span shards become split items (see Splits), consecutive
 * ones one item.
 */
static PyObject *Parser_drain_routed(Parser *self, PyObject *args) {
    PyObject *fast, *owner_obj, *out = NULL, *result = NULL;
    int nshards, i;
    Py_buffer owner;
    const unsigned short *owners;
    Group g;
    Splits sp;
    PyObject *cname = NULL;  /* the last name the byte scan looked up, and its route */
    long cfirst = 0, clast = 0, cstep = 0, car = 0, cmerge = 0;
    int cvalid = 0;
    if (!PyArg_ParseTuple(args, "O!Oi", &PyDict_Type, &fast, &owner_obj, &nshards)) return NULL;
    if (nshards < 1 || nshards > 255) {
        PyErr_SetString(PyExc_ValueError, "nshards must be 1..255");
        return NULL;
    }
    if (PyObject_GetBuffer(owner_obj, &owner, PyBUF_SIMPLE) < 0) return NULL;
    if (owner.len < 16384 * 2) {
        PyBuffer_Release(&owner);
        PyErr_SetString(PyExc_ValueError, "owner must hold 16384 u16 entries");
        return NULL;
    }
    owners = (const unsigned short *)owner.buf;
    memset(&g, 0, sizeof g);
    memset(&sp, 0, sizeof sp);
    g.nshards = nshards;
    g.raw = PyMem_Calloc(nshards, sizeof(Buf));
    sp.raw = PyMem_Calloc(nshards, sizeof(Buf));
    g.last_name = Py_None;
    Py_INCREF(g.last_name);
    out = PyList_New(0);
    if (!g.raw || !sp.raw || !out) { PyErr_NoMemory(); goto done; }
    while (!self->error) {
        PyObject *cmd, *name, *info;
        Py_ssize_t n;
        int rc;
        if (self->remaining == 0) {
            /* a one-shard key command routed from its bytes, without building its argv */
            Py_ssize_t at[SCAN_ARGS], ln[SCAN_ARGS], end;
            int argc = scan_command(self->buf, self->pos, self->len, self->max_bulk, at, ln, &end);
            if (argc >= 2) {
                if (!cname || ln[0] != PyBytes_GET_SIZE(cname) || memcmp(PyBytes_AS_STRING(cname), self->buf + at[0], ln[0]) != 0) {
                    PyObject *hit;
                    Py_XDECREF(cname);
                    cname = PyBytes_FromStringAndSize(self->buf + at[0], ln[0]);
                    if (!cname) goto fail;
                    hit = route_info(fast, cname);
                    if (!hit && PyErr_Occurred()) goto fail;
                    cvalid = hit && PyTuple_Check(hit) && PyTuple_GET_SIZE(hit) == 5;
                    if (cvalid) {
                        cfirst = PyLong_AsLong(PyTuple_GET_ITEM(hit, 0));
                        clast = PyLong_AsLong(PyTuple_GET_ITEM(hit, 1));
                        cstep = PyLong_AsLong(PyTuple_GET_ITEM(hit, 2));
                        car = PyLong_AsLong(PyTuple_GET_ITEM(hit, 3));
                        cmerge = PyLong_AsLong(PyTuple_GET_ITEM(hit, 4));
                        if (PyErr_Occurred()) goto fail;
                    }
                }
                if (cvalid && ((car >= 0 && argc == car) || (car < 0 && argc >= -car)) && cfirst > 0 && cfirst < argc && cstep > 0) {
                    long last = clast < 0 ? clast + argc : clast, pos;
                    unsigned char shard = 0;
                    int same = 1;
                    if (nshards > 1) {
                        shard = (unsigned char)owners[slot_of_buf((const unsigned char *)self->buf + at[cfirst], ln[cfirst])];
                        for (pos = cfirst + cstep; pos <= last && pos < argc; pos += cstep) {
                            if ((unsigned char)owners[slot_of_buf((const unsigned char *)self->buf + at[pos], ln[pos])] != shard) { same = 0; break; }
                        }
                    }
                    if (same) {
                        if (shard >= nshards) shard = 0;
                        if (split_flush(&sp, nshards, out) < 0 || buf_add(&g.order, (const char *)&shard, 1) < 0 ||
                            buf_add(&g.raw[shard], self->buf + self->pos, end - self->pos) < 0) goto fail;
                        scanned(self, &g, cname, end);
                        continue;
                    }
                    if (cmerge > 0 && last == argc - 1 && (argc - cfirst) % cstep == 0) {
                        /* keys on several shards: split from the bytes too */
                        const char *arg[SCAN_ARGS];
                        int k;
                        for (k = 0; k < argc; k++) arg[k] = self->buf + at[k];
                        if (group_flush(&g, out) < 0 || split_add(&sp, arg, ln, argc, cname, cfirst, cstep, cmerge, owners, nshards) < 0) goto fail;
                        scanned(self, &g, cname, end);
                        continue;
                    }
                }
            }
        }
        rc = parse_one(self, &cmd);
        if (rc == -2) goto fail;
        if (rc <= 0) break;
        if (!cmd) continue;  /* empty command: nothing to forward */
        n = PyList_GET_SIZE(cmd);
        name = PyList_GET_ITEM(cmd, 0);
        info = route_info(fast, name);
        if (PyErr_Occurred()) { Py_DECREF(cmd); goto fail; }
        if (info && PyBytes_Check(info) && n == 1) {
            /* a constant reply the front answers itself (PING): batch consecutive ones */
            Py_ssize_t last = PyList_GET_SIZE(out) - 1;
            PyObject *prev = (g.order.len == 0 && !sp.orders && last >= 0) ? PyList_GET_ITEM(out, last) : NULL;
            if (group_flush(&g, out) < 0 || split_flush(&sp, nshards, out) < 0) { Py_DECREF(cmd); goto fail; }
            if (prev && PyTuple_Check(prev) && PyTuple_GET_SIZE(prev) == 3 && PyTuple_GET_ITEM(prev, 0) == Py_None) {
                PyObject *joined = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(PyTuple_GET_ITEM(prev, 1)) + PyBytes_GET_SIZE(info));
                PyObject *item;
                if (!joined) { Py_DECREF(cmd); goto fail; }
                memcpy(PyBytes_AS_STRING(joined), PyBytes_AS_STRING(PyTuple_GET_ITEM(prev, 1)), PyBytes_GET_SIZE(PyTuple_GET_ITEM(prev, 1)));
                memcpy(PyBytes_AS_STRING(joined) + PyBytes_GET_SIZE(PyTuple_GET_ITEM(prev, 1)), PyBytes_AS_STRING(info), PyBytes_GET_SIZE(info));
                item = Py_BuildValue("(ONl)", Py_None, joined, PyLong_AsLong(PyTuple_GET_ITEM(prev, 2)) + 1);
                if (!item || PyList_SetItem(out, last, item) < 0) { Py_DECREF(cmd); goto fail; }
            } else {
                PyObject *item = Py_BuildValue("(OOl)", Py_None, info, 1L);
                if (!item || PyList_Append(out, item) < 0) { Py_XDECREF(item); Py_DECREF(cmd); goto fail; }
                Py_DECREF(item);
            }
            set_last(&g, name);
            Py_DECREF(cmd);
            continue;
        }
        if (info && PyTuple_Check(info) && PyTuple_GET_SIZE(info) == 5) {
            long first = PyLong_AsLong(PyTuple_GET_ITEM(info, 0));
            long last = PyLong_AsLong(PyTuple_GET_ITEM(info, 1));
            long step = PyLong_AsLong(PyTuple_GET_ITEM(info, 2));
            long ar = PyLong_AsLong(PyTuple_GET_ITEM(info, 3));
            long merge = PyLong_AsLong(PyTuple_GET_ITEM(info, 4));
            int same = 1;
            unsigned char shard = 0;
            if (last < 0) last += (long)n;
            if (((ar >= 0 && n == ar) || (ar < 0 && n >= -ar)) && first > 0 && first < n && step > 0) {
                if (nshards > 1) {
                    long pos;
                    shard = (unsigned char)owners[slot_of(PyList_GET_ITEM(cmd, first))];
                    for (pos = first + step; pos <= last && pos < n; pos += step) {
                        if ((unsigned char)owners[slot_of(PyList_GET_ITEM(cmd, pos))] != shard) { same = 0; break; }
                    }
                }
            } else {
                same = 0;
            }
            if (same) {
                if (shard >= nshards) shard = 0;
                if (split_flush(&sp, nshards, out) < 0 || buf_add(&g.order, (const char *)&shard, 1) < 0 ||
                    buf_add(&g.raw[shard], self->buf + self->cmd_start, self->pos - self->cmd_start) < 0) {
                    Py_DECREF(cmd);
                    goto fail;
                }
                set_last(&g, name);
                Py_DECREF(cmd);
                continue;
            }
            if (merge > 0 && nshards > 1 && last == n - 1 && first < n && (n - first) % step == 0 &&
                ((ar >= 0 && n == ar) || (ar < 0 && n >= -ar))) {
                /* keys on several shards: one sub-command per shard, merged by the front */
                const char **arg = PyMem_Malloc(n * sizeof(char *));
                Py_ssize_t *alen = PyMem_Malloc(n * sizeof(Py_ssize_t)), k;
                int bad = !arg || !alen;
                if (bad) PyErr_NoMemory();
                for (k = 0; !bad && k < n; k++) {
                    arg[k] = PyBytes_AS_STRING(PyList_GET_ITEM(cmd, k));
                    alen[k] = PyBytes_GET_SIZE(PyList_GET_ITEM(cmd, k));
                }
                bad = bad || group_flush(&g, out) < 0 || split_add(&sp, arg, alen, n, name, first, step, merge, owners, nshards) < 0;
                PyMem_Free((void *)arg);
                PyMem_Free(alen);
                if (bad) { Py_DECREF(cmd); goto fail; }
                set_last(&g, name);
                Py_DECREF(cmd);
                continue;
            }
        }
        if (group_flush(&g, out) < 0 || split_flush(&sp, nshards, out) < 0 || PyList_Append(out, cmd) < 0) { Py_DECREF(cmd); goto fail; }
        Py_DECREF(cmd);
    }
    if (group_flush(&g, out) < 0 || split_flush(&sp, nshards, out) < 0) goto fail;
    if (self->pos == self->len && self->remaining == 0 && self->cap > (1 << 20)) {
        PyMem_Free(self->buf);
        self->buf = NULL;
        self->cap = self->len = self->pos = self->cmd_start = 0;
    }
    result = PyTuple_Pack(2, out, self->error ? self->error : Py_None);
    goto done;
fail:
    result = NULL;
done:
    Py_XDECREF(out);
    PyBuffer_Release(&owner);
    Py_XDECREF(g.last_name);
    if (g.raw) {
        for (i = 0; i < nshards; i++) PyMem_Free(g.raw[i].p);
        PyMem_Free(g.raw);
    }
    PyMem_Free(g.order.p);
    if (sp.raw) {
        for (i = 0; i < nshards; i++) PyMem_Free(sp.raw[i].p);
        PyMem_Free(sp.raw);
    }
    PyMem_Free(sp.merges.p);
    Py_XDECREF(sp.orders);
    Py_XDECREF(sp.names);
    Py_XDECREF(cname);
    return result;
}

/*
 * interleave(order, parts) -> bytes
 *
 * Rebuild one connection's replies in request order: ``parts[s]`` is
 * (joined replies, lengths) from shard s, ``lengths`` a native u32 array with
 * one entry per reply; ``order`` says which shard answers each request.
 */
static PyObject *interleave(PyObject *self, PyObject *args) {
    Py_buffer order;
    PyObject *parts, *result = NULL;
    Py_ssize_t nparts, i, total = 0;
    const char **data = NULL;
    const unsigned int **lens = NULL;
    Py_ssize_t *pos = NULL, *idx = NULL, *nlen = NULL, *dlen = NULL;
    char *dst;
    if (!PyArg_ParseTuple(args, "y*O!", &order, &PyList_Type, &parts)) return NULL;
    nparts = PyList_GET_SIZE(parts);
    data = PyMem_Calloc(nparts + 1, sizeof(char *));
    lens = PyMem_Calloc(nparts + 1, sizeof(unsigned int *));
    pos = PyMem_Calloc(nparts + 1, sizeof(Py_ssize_t));
    idx = PyMem_Calloc(nparts + 1, sizeof(Py_ssize_t));
    nlen = PyMem_Calloc(nparts + 1, sizeof(Py_ssize_t));
    dlen = PyMem_Calloc(nparts + 1, sizeof(Py_ssize_t));
    if (!data || !lens || !pos || !idx || !nlen || !dlen) { PyErr_NoMemory(); goto done; }
    for (i = 0; i < nparts; i++) {
        PyObject *part = PyList_GET_ITEM(parts, i), *joined, *lengths;
        if (part == Py_None) continue;
        if (!PyTuple_Check(part) || PyTuple_GET_SIZE(part) != 2) { PyErr_SetString(PyExc_TypeError, "parts[i] must be (bytes, bytes)"); goto done; }
        joined = PyTuple_GET_ITEM(part, 0);
        lengths = PyTuple_GET_ITEM(part, 1);
        if (!PyBytes_Check(joined) || !PyBytes_Check(lengths)) { PyErr_SetString(PyExc_TypeError, "parts[i] must be (bytes, bytes)"); goto done; }
        data[i] = PyBytes_AS_STRING(joined);
        dlen[i] = PyBytes_GET_SIZE(joined);
        lens[i] = (const unsigned int *)PyBytes_AS_STRING(lengths);
        nlen[i] = PyBytes_GET_SIZE(lengths) / 4;
        total += dlen[i];
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (!result) goto done;
    dst = PyBytes_AS_STRING(result);
    for (i = 0; i < order.len; i++) {
        unsigned char s = ((const unsigned char *)order.buf)[i];
        Py_ssize_t l;
        if (s >= nparts || !data[s] || idx[s] >= nlen[s]) { Py_CLEAR(result); PyErr_SetString(PyExc_ValueError, "order does not match parts"); goto done; }
        l = lens[s][idx[s]++];
        if (pos[s] + l > dlen[s]) { Py_CLEAR(result); PyErr_SetString(PyExc_ValueError, "reply lengths exceed data"); goto done; }
        memcpy(dst, data[s] + pos[s], l);
        dst += l;
        pos[s] += l;
    }
    if (dst != PyBytes_AS_STRING(result) + total) { Py_CLEAR(result); PyErr_SetString(PyExc_ValueError, "parts not fully used"); }
done:
    PyBuffer_Release(&order);
    PyMem_Free(data);
    PyMem_Free((void *)lens);
    PyMem_Free(pos);
    PyMem_Free(idx);
    PyMem_Free(nlen);
    PyMem_Free(dlen);
    return result;
}

static PyObject *Parser_buffered(Parser *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->len - self->pos);
}

static PyObject *Parser_unfinished(Parser *self, PyObject *unused) {
    /* bytes from the start of the record in progress (or the failed one) to the end */
    return PyLong_FromSsize_t(self->len - (self->remaining ? self->cmd_start : self->pos));
}

static PyObject *Parser_at_boundary(Parser *self, PyObject *unused) {
    return PyBool_FromLong(self->remaining == 0 && self->pos == self->len);
}

static int Parser_init(Parser *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_bulk_len", "max_buffer", NULL};
    self->max_bulk = 512LL * 1024 * 1024;
    self->max_buffer = 1LL << 30;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|LL", kwlist, &self->max_bulk, &self->max_buffer)) return -1;
    self->bulklen = -1;
    return 0;
}

static void Parser_dealloc(Parser *self) {
    PyMem_Free(self->buf);
    Py_XDECREF(self->args);
    Py_XDECREF(self->error);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *get_max_bulk(Parser *self, void *c) { return PyLong_FromLongLong(self->max_bulk); }
static int set_max_bulk(Parser *self, PyObject *v, void *c) {
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    self->max_bulk = x;
    return 0;
}
static PyObject *get_strict(Parser *self, void *c) { return PyBool_FromLong(self->strict); }
static int set_strict(Parser *self, PyObject *v, void *c) {
    int b = PyObject_IsTrue(v);
    if (b < 0) return -1;
    self->strict = b;
    return 0;
}
static PyObject *get_max_buffer(Parser *self, void *c) { return PyLong_FromLongLong(self->max_buffer); }
static int set_max_buffer(Parser *self, PyObject *v, void *c) {
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) return -1;
    self->max_buffer = x;
    return 0;
}

static PyGetSetDef Parser_getset[] = {
    {"max_bulk_len", (getter)get_max_bulk, (setter)set_max_bulk, "largest bulk accepted", NULL},
    {"max_buffer", (getter)get_max_buffer, (setter)set_max_buffer, "query buffer limit", NULL},
    {"strict", (getter)get_strict, (setter)set_strict, "AOF mode: multibulk records only", NULL},
    {NULL}
};

static PyMethodDef Parser_methods[] = {
    {"feed", (PyCFunction)Parser_feed, METH_O, "Append bytes."},
    {"drain", (PyCFunction)Parser_drain, METH_NOARGS, "Return (commands, error or None)."},
    {"drain_routed", (PyCFunction)Parser_drain_routed, METH_VARARGS, "Return (runs and slow commands, error or None)."},
    {"buffered", (PyCFunction)Parser_buffered, METH_NOARGS, "Bytes not yet consumed."},
    {"at_boundary", (PyCFunction)Parser_at_boundary, METH_NOARGS, "True between commands."},
    {"unfinished", (PyCFunction)Parser_unfinished, METH_NOARGS, "Bytes from the current record's start to the end."},
    {NULL}
};

static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shardserver._speedups.Parser",
    .tp_basicsize = sizeof(Parser),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Parser_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_methods = Parser_methods,
    .tp_getset = Parser_getset,
};

/* CRC16-XMODEM (poly 0x1021), as Valkey Cluster and binascii.crc_hqx(key, 0).
 * Sliced by 4: crc16_table[k][x] is the CRC of byte x followed by k zero bytes,
 * and a CRC is linear, so four bytes take four independent lookups (keys are
 * hashed on every routed command; the byte-wise loop was a tenth of the
 * front's time at MSET -P 16). */
static unsigned short crc16_table[4][256];

static void crc16_init(void) {
    int i, j, k;
    for (i = 0; i < 256; i++) {
        unsigned short crc = (unsigned short)(i << 8);
        for (j = 0; j < 8; j++) crc = (crc & 0x8000) ? (unsigned short)((crc << 1) ^ 0x1021) : (unsigned short)(crc << 1);
        crc16_table[0][i] = crc;
    }
    for (k = 1; k < 4; k++)
        for (i = 0; i < 256; i++) {
            unsigned short prev = crc16_table[k - 1][i];
            crc16_table[k][i] = (unsigned short)((prev << 8) ^ crc16_table[0][prev >> 8]);
        }
}

static unsigned short crc16(const unsigned char *buf, Py_ssize_t len) {
    unsigned short crc = 0;
    Py_ssize_t i = 0;
    for (; i + 4 <= len; i += 4)
        crc = (unsigned short)(crc16_table[3][(crc >> 8) ^ buf[i]] ^ crc16_table[2][(crc & 0xff) ^ buf[i + 1]] ^
                               crc16_table[1][buf[i + 2]] ^ crc16_table[0][buf[i + 3]]);
    for (; i < len; i++) crc = (unsigned short)((crc << 8) ^ crc16_table[0][((crc >> 8) ^ buf[i]) & 0xff]);
    return crc;
}

static PyObject *key_slot(PyObject *self, PyObject *arg) {
    const unsigned char *key;
    Py_ssize_t len, s, e;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "key_slot() expects bytes");
        return NULL;
    }
    key = (const unsigned char *)PyBytes_AS_STRING(arg);
    len = PyBytes_GET_SIZE(arg);
    for (s = 0; s < len; s++) if (key[s] == '{') break;
    if (s < len) {
        for (e = s + 1; e < len; e++) if (key[e] == '}') break;
        if (e < len && e != s + 1) return PyLong_FromLong(crc16(key + s + 1, e - s - 1) & 16383);
    }
    return PyLong_FromLong(crc16(key, len) & 16383);
}

/* Listpack entry sizes (shardserver/shard/types/listpack.py is the Python
 * twin): a string that is a canonical 64-bit integer (Valkey's string2ll) is
 * stored as an integer. */
static int lp_string2ll(const unsigned char *s, Py_ssize_t n, long long *out) {
    unsigned long long v = 0, limit;
    Py_ssize_t i = 0;
    int neg = 0;
    if (n == 0 || n > 20) return 0;
    if (s[0] == '-') {
        if (n == 1 || s[1] == '0') return 0;
        neg = 1;
        i = 1;
    } else if (s[0] == '0') {
        if (n > 1) return 0;
        *out = 0;
        return 1;
    }
    limit = neg ? 9223372036854775808ULL : 9223372036854775807ULL;
    for (; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') return 0;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 1;
}

/* bytes of a listpack integer entry (encoding and back-length): listpack.int_size */
static Py_ssize_t lp_int_size(long long v) {
    if (v >= 0 && v <= 127) return 2;
    if (v >= -4096 && v <= 4095) return 3;
    if (v >= -32768 && v <= 32767) return 4;
    if (v >= -8388608 && v <= 8388607) return 5;
    if (v >= -2147483648LL && v <= 2147483647LL) return 6;
    return 10;
}

static Py_ssize_t lp_entry_size(PyObject *item) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(item);
    Py_ssize_t n = PyBytes_GET_SIZE(item), enc;
    long long v;
    if (n > 0 && n <= 20 && ((s[0] >= '0' && s[0] <= '9') || s[0] == '-') && lp_string2ll(s, n, &v))
        return lp_int_size(v);
    enc = n <= 63 ? 1 + n : n <= 4095 ? 2 + n : 5 + n;
    return enc + (enc <= 127 ? 1 : enc < 16383 ? 2 : enc < 2097151 ? 3 : enc < 268435455 ? 4 : 5);
}

static PyObject *entry_size(PyObject *self, PyObject *arg) {
    if (!PyBytes_Check(arg)) { PyErr_SetString(PyExc_TypeError, "entry_size() expects bytes"); return NULL; }
    return PyLong_FromSsize_t(lp_entry_size(arg));
}

/* stream_entry_bytes(master, fv, ms_delta, seq_delta): the listpack bytes one stream
 * entry adds to its node (stream.py_entry_bytes' twin): flags, the ID's deltas, the
 * values alone when the fields are the master entry's, else the field count and
 * every field and value, then the entry's element count. */
/* the same for fields and values already checked to be bytes */
static Py_ssize_t stream_entry_size(PyObject *master, PyObject *fv, long long ms_d, long long seq_d) {
    Py_ssize_t n = PyTuple_GET_SIZE(fv), nfields = n / 2, i, size;
    int same = nfields == PyTuple_GET_SIZE(master);
    for (i = 0; same && i < nfields; i++) {
        PyObject *a = PyTuple_GET_ITEM(fv, 2 * i), *b = PyTuple_GET_ITEM(master, i);
        if (a != b && (!PyBytes_Check(b) || PyBytes_GET_SIZE(a) != PyBytes_GET_SIZE(b) || memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), PyBytes_GET_SIZE(a))))
            same = 0;
    }
    size = lp_int_size(same ? 2 : 0) + lp_int_size(ms_d) + lp_int_size(seq_d);
    if (same) {
        for (i = 1; i < n; i += 2) size += lp_entry_size(PyTuple_GET_ITEM(fv, i));
        return size + lp_int_size(nfields + 3);
    }
    size += lp_int_size(nfields);
    for (i = 0; i < n; i++) size += lp_entry_size(PyTuple_GET_ITEM(fv, i));
    return size + lp_int_size(2 * nfields + 4);
}

static PyObject *stream_entry_bytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t n, i;
    long long ms_d, seq_d;
    if (nargs != 4 || !PyTuple_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "stream_entry_bytes(master: tuple, fv: tuple, ms_delta, seq_delta)");
        return NULL;
    }
    ms_d = PyLong_AsLongLong(args[2]);
    if (ms_d == -1 && PyErr_Occurred()) return NULL;
    seq_d = PyLong_AsLongLong(args[3]);
    if (seq_d == -1 && PyErr_Occurred()) return NULL;
    n = PyTuple_GET_SIZE(args[1]);
    for (i = 0; i < n; i++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(args[1], i))) { PyErr_SetString(PyExc_TypeError, "stream_entry_bytes(): fields and values must be bytes"); return NULL; }
    return PyLong_FromSsize_t(stream_entry_size(args[0], args[1], ms_d, seq_d));
}

static PyObject *entries_size(PyObject *self, PyObject *arg) {
    PyObject *seq = PySequence_Fast(arg, "entries_size() expects a sequence of bytes"), **items;
    Py_ssize_t i, n, total = 0;
    if (!seq) return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    for (i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) { Py_DECREF(seq); PyErr_SetString(PyExc_TypeError, "entries_size() expects bytes"); return NULL; }
        total += lp_entry_size(items[i]);
    }
    Py_DECREF(seq);
    return PyLong_FromSsize_t(total);
}

/* The shard's slot index (slot -> set of keys, for SCAN and slot moves):
 * one key in or out, or many keys in (loading a base file).  Keys must be bytes. */
/*
 * Prefetching the keyspace dicts.  A random key's lookup is a chain of cache
 * misses (the dict's index slot, its entry, the key and value objects): at
 * -P 16 over half of the shard's time went to the first lookup of each key.
 * Before running a window of commands, strings_loop hashes their keys and
 * walks that chain for all of them a stage at a time, so the misses of the
 * window overlap instead of following each other (offline: 275 -> 98 ns per
 * lookup in a 100k-key dict, 650 -> 262 ns at 1M keys, 16 keys a window).
 * Only reads, only hints: a wrong guess costs a wasted prefetch, never a
 * wrong answer.  It needs CPython 3.11's private dict layout (pycore_dict.h),
 * so other versions skip it.
 */
#define PREFETCH_WINDOW 16
#define PREFETCH_AHEAD 8  /* how many keys ahead a storing loop prefetches */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && (defined(__GNUC__) || defined(__clang__))
#define HAVE_DICT_PREFETCH 1
typedef struct {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;  /* 0: DICT_KEYS_GENERAL, the only kind with these entries */
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} DictKeys311;
typedef struct { Py_hash_t me_hash; PyObject *me_key; PyObject *me_value; } DictEntry311;

static DictKeys311 *prefetchable(PyObject *d) {
    DictKeys311 *k;
    if (!PyDict_GET_SIZE(d) || ((PyDictObject *)d)->ma_values) return NULL;
    k = (DictKeys311 *)((PyDictObject *)d)->ma_keys;
    return k->dk_kind == 0 ? k : NULL;
}

static inline Py_ssize_t dk_slot(const DictKeys311 *k, size_t i) {
    int s = k->dk_log2_size;
    if (s < 8) return ((const int8_t *)k->dk_indices)[i];
    if (s < 16) return ((const int16_t *)k->dk_indices)[i];
    if (s < 32) return ((const int32_t *)k->dk_indices)[i];
    return ((const int64_t *)k->dk_indices)[i];
}

/* stage 0: the first index slot of each hash; 1: its entry; 2: the key and value it holds */
static void dict_prefetch(DictKeys311 *k, const Py_hash_t *hs, int n, int stage) {
    size_t mask = ((size_t)1 << k->dk_log2_size) - 1;
    int s = k->dk_log2_size, width = s < 8 ? 1 : s < 16 ? 2 : s < 32 ? 4 : 8, i;
    DictEntry311 *entries = (DictEntry311 *)(k->dk_indices + ((size_t)1 << k->dk_log2_index_bytes));
    for (i = 0; i < n; i++) {
        size_t slot = (size_t)hs[i] & mask;
        Py_ssize_t ix;
        if (stage == 0) { __builtin_prefetch(k->dk_indices + slot * width); continue; }
        ix = dk_slot(k, slot);
        if (ix < 0 || ix >= k->dk_nentries) continue;
        if (stage == 1) { __builtin_prefetch(&entries[ix]); continue; }
        if (entries[ix].me_hash == hs[i] && entries[ix].me_key) {
            /* a short bytes object's header and text can straddle two lines */
            __builtin_prefetch(entries[ix].me_key);
            __builtin_prefetch((char *)entries[ix].me_key + 48);
            if (entries[ix].me_value) {
                __builtin_prefetch(entries[ix].me_value);
                __builtin_prefetch((char *)entries[ix].me_value + 48);
            }
        }
    }
    /* GCC deems a function that only prefetches free of side effects and drops
     * its calls (and with them the hashing): this empty volatile asm keeps them. */
    __asm__ __volatile__("" ::: "memory");
}
#endif

/*
 * The key object a dict of bytes keys already holds for the bytes p[:n] (borrowed),
 * or NULL: not there, or no answer (another layout, the self-test failed).
 * The fast path looks its keys up with that object, so every later lookup
 * (data, access time, TTLs) matches it by identity instead of comparing bytes,
 * and a key already stored needs no new bytes object.  Only a hint: a NULL
 * sends the caller to a fresh bytes object and the public API, and a key found
 * is equal to p[:n] by the memcmp here, so the dict's answer cannot change.
 * It probes as CPython 3.11's generic lookup does (dictobject.c); a self-test
 * at import (stored_key_selftest) turns it off if the two ever disagree.
 */
#ifdef HAVE_DICT_PREFETCH
static int stored_key_ok = 0;

static PyObject *stored_key(PyObject *d, const char *p, Py_ssize_t n, Py_hash_t h) {
    DictKeys311 *k;
    DictEntry311 *entries;
    size_t mask, perturb = (size_t)h, i, probes;
    if (!stored_key_ok || !(k = prefetchable(d))) return NULL;
    mask = ((size_t)1 << k->dk_log2_size) - 1;
    entries = (DictEntry311 *)(k->dk_indices + ((size_t)1 << k->dk_log2_index_bytes));
    /* Bounded, so a hint never hangs: the perturbation runs out after at most 13 shifts,
     * then i*5+1 visits every slot within mask+1 steps (a bound of mask alone missed
     * keys far along their probe chain in small dicts, for some hash seeds). */
    for (i = (size_t)h & mask, probes = 0; probes <= mask + 64; probes++) {
        Py_ssize_t ix = dk_slot(k, i);
        if (ix == -1) return NULL;  /* DKIX_EMPTY: not in the dict */
        if (ix >= 0) {
            PyObject *key;
            if (ix >= k->dk_nentries) return NULL;  /* not the layout assumed */
            key = entries[ix].me_key;
            if (entries[ix].me_hash == h && key && PyBytes_CheckExact(key) && PyBytes_GET_SIZE(key) == n && memcmp(PyBytes_AS_STRING(key), p, (size_t)n) == 0)
                return key;
        }
        perturb >>= 5;  /* PERTURB_SHIFT */
        i = mask & (i * 5 + perturb + 1);
    }
    return NULL;
}

/* 1: stored_key finds every key of a dict (with deletions and a resize behind
 * it) as the very object stored, and none of the keys absent; 0: it does not. */
static int stored_key_selftest(void) {
    PyObject *d = PyDict_New(), *keys = PyList_New(0), *probe;
    int i, ok = d && keys;
    char text[32];
    for (i = 0; ok && i < 3000; i++) {
        PyObject *key = PyBytes_FromFormat("key:%d", i);
        ok = key && PyDict_SetItem(d, key, Py_None) == 0 && PyList_Append(keys, key) == 0;
        Py_XDECREF(key);
    }
    for (i = 0; ok && i < 3000; i += 3) ok = PyDict_DelItem(d, PyList_GET_ITEM(keys, i)) == 0;
    stored_key_ok = 1;
    for (i = 0; ok && i < 6000; i++) {
        int n = snprintf(text, sizeof text, "key:%d", i);
        Py_hash_t h;
        PyObject *found;
        if (!(probe = PyBytes_FromStringAndSize(text, n)) || (h = PyObject_Hash(probe)) == -1) { Py_XDECREF(probe); ok = 0; break; }
        found = stored_key(d, text, n, h);
        ok = i < 3000 && i % 3 ? found == PyList_GET_ITEM(keys, i) : found == NULL;
        Py_DECREF(probe);
    }
    stored_key_ok = 0;
    Py_XDECREF(d);
    Py_XDECREF(keys);
    PyErr_Clear();
    return ok;
}
#else
static PyObject *stored_key(PyObject *d, const char *p, Py_ssize_t n, Py_hash_t h) { (void)d; (void)p; (void)n; (void)h; return NULL; }
#endif

/* Prefetch where a lookup of key in d starts (its index slot): a loop that
 * stores many keys calls this a few keys ahead, so the misses overlap. */
static void prefetch_key(PyObject *d, PyObject *key) {
#ifdef HAVE_DICT_PREFETCH
    DictKeys311 *k;
    Py_hash_t h;
    if (!PyBytes_CheckExact(key) || !(k = prefetchable(d))) return;
    h = PyObject_Hash(key);  /* a bytes object caches it: the store reuses it */
    if (h == -1) { PyErr_Clear(); return; }
    dict_prefetch(k, &h, 1, 0);
#else
    (void)d; (void)key;
#endif
}

/*
 * SlotIndex: which keys of a database live in each slot (SCAN's stable cursor,
 * RANDOMKEY, per-slot counts, moving slots between shards).  shardserver/
 * slots.py's PySlotIndex is the twin.
 *
 * Per slot a count of live keys and a list that holds every live key, and
 * possibly keys deleted since (and a key deleted then added again twice):
 * adding is an append and deleting a decrement, no hashing into a per-slot set
 * (that set was a cache miss per key, a quarter of loading a snapshot).  A
 * list is compacted (dead keys dropped, repeats merged) whenever it grows past
 * twice its live count plus 8, so it never holds more than that, and dropped
 * when its slot empties.  A key is live while it is in ``data``.  The caller
 * adds a key only when it enters ``data`` and discards it only when it
 * leaves, so the counts are exact.
 */
#define NSLOT 16384

typedef struct {
    PyObject_HEAD
    PyObject *data;      /* the database's key -> value dict */
    PyObject **lists;    /* NSLOT lists or NULL; allocated on the first add */
    unsigned int *counts;
    Py_ssize_t nonempty; /* slots with a live key */
} SlotIndex;

static PyTypeObject SlotIndexType;

static int slot_compact(SlotIndex *self, long slot) {
    PyObject *old = self->lists[slot], *fresh, *seen;
    Py_ssize_t i, n = PyList_GET_SIZE(old);
    fresh = PyList_New(0);
    seen = PySet_New(NULL);
    if (!fresh || !seen) { Py_XDECREF(fresh); Py_XDECREF(seen); return -1; }
    for (i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(old, i);
        int live = PyDict_Contains(self->data, key), dup;
        if (live < 0) goto fail;
        if (!live) continue;
        dup = PySet_Contains(seen, key);
        if (dup < 0 || (!dup && (PySet_Add(seen, key) < 0 || PyList_Append(fresh, key) < 0))) goto fail;
    }
    Py_DECREF(seen);
    self->lists[slot] = fresh;
    Py_DECREF(old);
    return 0;
fail:
    Py_DECREF(fresh);
    Py_DECREF(seen);
    return -1;
}

static int slot_index_add(SlotIndex *self, PyObject *key) {
    long slot;
    PyObject *list;
    if (!PyBytes_Check(key)) { PyErr_SetString(PyExc_TypeError, "keys must be bytes"); return -1; }
    if (!self->lists) {
        self->lists = PyMem_Calloc(NSLOT, sizeof(PyObject *));
        self->counts = PyMem_Calloc(NSLOT, sizeof(unsigned int));
        if (!self->lists || !self->counts) { PyErr_NoMemory(); return -1; }
    }
    slot = slot_of(key);
    list = self->lists[slot];
    if (!list) {
        list = self->lists[slot] = PyList_New(0);
        if (!list) return -1;
    } else if (PyList_GET_SIZE(list) > 2 * (Py_ssize_t)self->counts[slot] + 8) {
        if (slot_compact(self, slot) < 0) return -1;  /* before the append: the new key is not in data yet */
        list = self->lists[slot];
    }
    if (PyList_Append(list, key) < 0) return -1;
    if (self->counts[slot]++ == 0) self->nonempty++;
    return 0;
}

static int slot_index_discard(SlotIndex *self, PyObject *key) {
    long slot;
    if (!PyBytes_Check(key)) { PyErr_SetString(PyExc_TypeError, "keys must be bytes"); return -1; }
    if (!self->lists) return 0;
    slot = slot_of(key);
    if (!self->counts[slot]) return 0;
    if (--self->counts[slot] == 0) {
        Py_CLEAR(self->lists[slot]);
        self->nonempty--;
    } else if (PyList_GET_SIZE(self->lists[slot]) > 2 * (Py_ssize_t)self->counts[slot] + 8) {
        return slot_compact(self, slot);
    }
    return 0;
}

/* A loading loop's hint for a key it will index soon: stage 0 (2 x AHEAD keys
 * ahead) the key's slot list object, stage 1 (AHEAD keys ahead) the end of its
 * items, where slot_index_add appends.  Keys come in random slots: each
 * append would otherwise miss the cache twice. */
static void slot_prefetch(SlotIndex *self, PyObject *key, int stage) {
    PyObject *list;
    if (!self->lists || !PyBytes_CheckExact(key)) return;
    list = self->lists[slot_of(key)];
    if (!list) return;
    if (stage == 0)
        __builtin_prefetch(list);
    else
        __builtin_prefetch(((PyListObject *)list)->ob_item + PyList_GET_SIZE(list));
    __asm__ __volatile__("" ::: "memory");  /* keep the calls (see dict_prefetch) */
}

static PyObject *SlotIndex_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    SlotIndex *self;
    PyObject *data;
    if (!PyArg_ParseTuple(args, "O!:SlotIndex", &PyDict_Type, &data)) return NULL;
    self = (SlotIndex *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    Py_INCREF(data);
    self->data = data;
    return (PyObject *)self;
}

static void SlotIndex_dealloc(SlotIndex *self) {
    if (self->lists) {
        long i;
        for (i = 0; i < NSLOT; i++) Py_XDECREF(self->lists[i]);
        PyMem_Free(self->lists);
    }
    PyMem_Free(self->counts);
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static long slot_arg(PyObject *arg) {
    long slot = PyLong_AsLong(arg);
    if (slot == -1 && PyErr_Occurred()) return -1;
    if (slot < 0 || slot >= NSLOT) { PyErr_SetString(PyExc_ValueError, "slot out of range"); return -1; }
    return slot;
}

static PyObject *SlotIndex_add(SlotIndex *self, PyObject *key) {
    if (slot_index_add(self, key) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *SlotIndex_discard(SlotIndex *self, PyObject *key) {
    if (slot_index_discard(self, key) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *SlotIndex_count(SlotIndex *self, PyObject *arg) {
    long slot = slot_arg(arg);
    if (slot < 0) return NULL;
    return PyLong_FromUnsignedLong(self->lists ? self->counts[slot] : 0);
}

static PyObject *SlotIndex_keys(SlotIndex *self, PyObject *arg) {
    long slot = slot_arg(arg);
    if (slot < 0) return NULL;
    if (!self->lists || !self->lists[slot]) return PyList_New(0);
    if (PyList_GET_SIZE(self->lists[slot]) != (Py_ssize_t)self->counts[slot] && slot_compact(self, slot) < 0) return NULL;
    return PyList_GetSlice(self->lists[slot], 0, PY_SSIZE_T_MAX);
}

static PyObject *SlotIndex_slots(SlotIndex *self, PyObject *unused) {
    PyObject *out = PyList_New(0);
    long i;
    if (!out || !self->lists) return out;
    for (i = 0; i < NSLOT; i++) {
        if (self->counts[i]) {
            PyObject *n = PyLong_FromLong(i);
            if (!n || PyList_Append(out, n) < 0) { Py_XDECREF(n); Py_DECREF(out); return NULL; }
            Py_DECREF(n);
        }
    }
    return out;
}

static PyObject *SlotIndex_get_nonempty(SlotIndex *self, void *c) { return PyLong_FromSsize_t(self->nonempty); }

static PyMethodDef SlotIndex_methods[] = {
    {"add", (PyCFunction)SlotIndex_add, METH_O, "Index a key that just entered the database."},
    {"discard", (PyCFunction)SlotIndex_discard, METH_O, "Forget a key that just left the database."},
    {"count", (PyCFunction)SlotIndex_count, METH_O, "The number of keys in a slot."},
    {"keys", (PyCFunction)SlotIndex_keys, METH_O, "The keys in a slot (a new list)."},
    {"slots", (PyCFunction)SlotIndex_slots, METH_NOARGS, "The slots that hold keys, ascending."},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef SlotIndex_getset[] = {
    {"nonempty", (getter)SlotIndex_get_nonempty, NULL, "The number of slots that hold keys.", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyTypeObject SlotIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shardserver._speedups.SlotIndex",
    .tp_basicsize = sizeof(SlotIndex),
    .tp_dealloc = (destructor)SlotIndex_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SlotIndex(data): the keys of a database's dict by slot.",
    .tp_methods = SlotIndex_methods,
    .tp_getset = SlotIndex_getset,
    .tp_new = SlotIndex_new,
};

static SlotIndex *as_index(PyObject *o) {
    if (!PyObject_TypeCheck(o, &SlotIndexType)) { PyErr_SetString(PyExc_TypeError, "expected a SlotIndex"); return NULL; }
    return (SlotIndex *)o;
}

/* AOF replay's fast path: apply records[start:] while each creates a new key:
 * a plain "SET key value" (any case) for a key not in data is stored and
 * indexed; with ``makers`` (a dict: command name as spelled -> maker(argv)),
 * a record whose name has a maker, for a key not in data, stores the value
 * the maker builds (types/_build.c: the value the handler would create, with
 * no on_store to run) or, when the maker answers None, ends the run.
 * Returns the index of the first record it did not apply; the caller runs that
 * one through the command's handler (TTLs, options, an existing key) and calls
 * again.  Access times are not recorded (a loaded key's is the load time). */
static PyObject *load_plain_sets(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *data, *records, *makers = NULL;
    SlotIndex *by_slot;
    Py_ssize_t i, n;
    if ((nargs != 4 && nargs != 5) || !PyDict_CheckExact(args[0]) || !PyList_CheckExact(args[2]) ||
        (nargs == 5 && args[4] != Py_None && !PyDict_CheckExact(args[4]))) {
        PyErr_SetString(PyExc_TypeError, "load_plain_sets(data: dict, by_slot: SlotIndex, records: list, start: int, makers: dict | None = None)");
        return NULL;
    }
    data = args[0];
    if (!(by_slot = as_index(args[1]))) return NULL;
    records = args[2];
    if (nargs == 5 && args[4] != Py_None && PyDict_GET_SIZE(args[4])) makers = args[4];
    i = PyLong_AsSsize_t(args[3]);
    if (i == -1 && PyErr_Occurred()) return NULL;
    n = PyList_GET_SIZE(records);
    for (; i < n; i++) {
        PyObject *argv = PyList_GET_ITEM(records, i), *name, *key, *value, *maker;
        const char *c;
        Py_ssize_t before, size;
        int has;
        if (!PyList_CheckExact(argv) || (size = PyList_GET_SIZE(argv)) < 2) break;
        name = PyList_GET_ITEM(argv, 0);
        key = PyList_GET_ITEM(argv, 1);
        if (!PyBytes_CheckExact(name) || !PyBytes_CheckExact(key)) break;
        if (i + PREFETCH_AHEAD < n) {
            PyObject *ahead = PyList_GET_ITEM(records, i + PREFETCH_AHEAD);
            if (PyList_CheckExact(ahead) && PyList_GET_SIZE(ahead) >= 2) {
                prefetch_key(data, PyList_GET_ITEM(ahead, 1));
                slot_prefetch(by_slot, PyList_GET_ITEM(ahead, 1), 1);
            }
        }
        if (i + 2 * PREFETCH_AHEAD < n) {
            PyObject *ahead = PyList_GET_ITEM(records, i + 2 * PREFETCH_AHEAD);
            if (PyList_CheckExact(ahead) && PyList_GET_SIZE(ahead) >= 2) slot_prefetch(by_slot, PyList_GET_ITEM(ahead, 1), 0);
        }
        c = PyBytes_AS_STRING(name);
        if (size == 3 && PyBytes_GET_SIZE(name) == 3 && (c[0] | 0x20) == 's' && (c[1] | 0x20) == 'e' && (c[2] | 0x20) == 't') {
            value = PyList_GET_ITEM(argv, 2);
            if (!PyBytes_CheckExact(value)) break;
            before = PyDict_GET_SIZE(data);
            if (!PyDict_SetDefault(data, key, value)) return NULL;  /* one lookup: stores only a new key */
            if (PyDict_GET_SIZE(data) == before) break;  /* an existing key: SET's handler replaces it */
            if (slot_index_add(by_slot, key) < 0) return NULL;
            continue;
        }
        if (!makers) break;
        if (!(maker = PyDict_GetItemWithError(makers, name))) {
            if (PyErr_Occurred()) return NULL;
            break;
        }
        if ((has = PyDict_Contains(data, key)) < 0) return NULL;
        if (has) break;  /* an existing key: the handler adds to it (or refuses its type) */
        if (!(value = PyObject_CallOneArg(maker, argv))) return NULL;
        if (value == Py_None) { Py_DECREF(value); break; }
        if (PyDict_SetItem(data, key, value) < 0) { Py_DECREF(value); return NULL; }
        Py_DECREF(value);
        if (slot_index_add(by_slot, key) < 0) return NULL;
    }
    return PyLong_FromSsize_t(i);
}

/* A base file's plain strings: flat is [key, value, key, value, ...]; each
 * pair is stored in data and its key indexed by slot (replacing any value). */
static PyObject *store_flat(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *data, *flat;
    SlotIndex *by_slot;
    Py_ssize_t i, n;
    if (nargs != 3 || !PyDict_CheckExact(args[0]) || !PyList_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "store_flat(data: dict, by_slot: SlotIndex, flat: list)");
        return NULL;
    }
    data = args[0];
    if (!(by_slot = as_index(args[1]))) return NULL;
    flat = args[2];
    n = PyList_GET_SIZE(flat);
    if (n % 2) { PyErr_SetString(PyExc_ValueError, "store_flat(): an odd number of items"); return NULL; }
    for (i = 0; i < n; i += 2) {
        PyObject *key = PyList_GET_ITEM(flat, i), *value = PyList_GET_ITEM(flat, i + 1);
        PyObject *stored;
        Py_ssize_t before;
        if (!PyBytes_CheckExact(key) || !PyBytes_CheckExact(value)) { PyErr_SetString(PyExc_TypeError, "store_flat(): keys and values must be bytes"); return NULL; }
        if (i + 2 * PREFETCH_AHEAD < n) {
            prefetch_key(data, PyList_GET_ITEM(flat, i + 2 * PREFETCH_AHEAD));
            slot_prefetch(by_slot, PyList_GET_ITEM(flat, i + 2 * PREFETCH_AHEAD), 1);
        }
        if (i + 4 * PREFETCH_AHEAD < n) slot_prefetch(by_slot, PyList_GET_ITEM(flat, i + 4 * PREFETCH_AHEAD), 0);
        before = PyDict_GET_SIZE(data);
        /* one lookup for a new key; the size says whether it was (identity cannot: b"x" is shared) */
        stored = PyDict_SetDefault(data, key, value);
        if (!stored) return NULL;
        if (PyDict_GET_SIZE(data) == before ? PyDict_SetItem(data, key, value) < 0 : slot_index_add(by_slot, key) < 0) return NULL;
    }
    Py_RETURN_NONE;
}

/* A base file's __values entries [key, kind, state, pexpireat or -1, flags, ...]
 * into a database nobody watches (shard/keyspace.py's py_load_values is the
 * twin): a new key is stored, indexed and filed by its value's on_store; an
 * existing key goes through replace(key, value), an entry expired by now
 * through replace(key, None).  A string's value is its state (string_from(
 * state, flags) when flags say raw or embstr); another kind's is
 * loaders[kind](state). */
static PyObject *str_on_store;

static PyObject *make_loaded(PyObject *kind, PyObject *state, PyObject *flags, PyObject *loaders, PyObject *string_from) {
    PyObject *loader, *value;
    if (PyBytes_CheckExact(kind) && PyBytes_GET_SIZE(kind) == 6 && memcmp(PyBytes_AS_STRING(kind), "string", 6) == 0) {
        long f;
        if (!PyBytes_CheckExact(state) || !PyLong_CheckExact(flags)) {
            PyErr_SetString(PyExc_TypeError, "a string entry's state must be bytes and its flags an int");
            return NULL;
        }
        f = PyLong_AsLong(flags);
        if (f == -1 && PyErr_Occurred()) return NULL;
        if (f == 0) { Py_INCREF(state); return state; }
        return PyObject_CallFunctionObjArgs(string_from, state, flags, NULL);
    }
    loader = PyObject_GetItem(loaders, kind);
    if (!loader) return NULL;
    value = PyObject_CallOneArg(loader, state);
    Py_DECREF(loader);
    return value;
}

static PyObject *load_values(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *db, *data, *expires, *entries, *loaders, *string_from, *replace;
    SlotIndex *by_slot;
    long long now;
    Py_ssize_t i, n;
    if (nargs != 9 || !PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[2]) || !PyList_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "load_values(db, data: dict, expires: dict, by_slot: SlotIndex, entries: list, loaders, string_from, now: int, replace)");
        return NULL;
    }
    if (!(by_slot = as_index(args[3]))) return NULL;
    db = args[0]; data = args[1]; expires = args[2]; entries = args[4]; loaders = args[5]; string_from = args[6]; replace = args[8];
    now = PyLong_AsLongLong(args[7]);
    if (now == -1 && PyErr_Occurred()) return NULL;
    n = PyList_GET_SIZE(entries);
    if (n % 5) { PyErr_SetString(PyExc_ValueError, "load_values(): entries come in fives"); return NULL; }
    for (i = 0; i < n; i += 5) {
        PyObject *key = PyList_GET_ITEM(entries, i), *when = PyList_GET_ITEM(entries, i + 3);
        PyObject *value, *stored, *r;
        Py_ssize_t before;
        long long w;
        if (!PyBytes_CheckExact(key) || !PyLong_CheckExact(when)) {
            PyErr_SetString(PyExc_TypeError, "load_values(): a key must be bytes and its expiry an int");
            return NULL;
        }
        w = PyLong_AsLongLong(when);
        if (w == -1 && PyErr_Occurred()) return NULL;
        if (i + 5 * PREFETCH_AHEAD < n) {
            prefetch_key(data, PyList_GET_ITEM(entries, i + 5 * PREFETCH_AHEAD));
            slot_prefetch(by_slot, PyList_GET_ITEM(entries, i + 5 * PREFETCH_AHEAD), 1);
        }
        if (i + 10 * PREFETCH_AHEAD < n) slot_prefetch(by_slot, PyList_GET_ITEM(entries, i + 10 * PREFETCH_AHEAD), 0);
        if (w != -1 && w <= now) {
            int has = PyDict_Contains(data, key);
            if (has < 0) return NULL;
            if (has) {
                r = PyObject_CallFunctionObjArgs(replace, key, Py_None, NULL);
                if (!r) return NULL;
                Py_DECREF(r);
            }
            continue;
        }
        value = make_loaded(PyList_GET_ITEM(entries, i + 1), PyList_GET_ITEM(entries, i + 2), PyList_GET_ITEM(entries, i + 4), loaders, string_from);
        if (!value) return NULL;
        before = PyDict_GET_SIZE(data);
        stored = PyDict_SetDefault(data, key, value);  /* borrowed; stored only if new */
        if (!stored) { Py_DECREF(value); return NULL; }
        if (PyDict_GET_SIZE(data) == before) {  /* not new (identity cannot tell: b"x" is shared) */
            r = PyObject_CallFunctionObjArgs(replace, key, value, NULL);
            if (!r) { Py_DECREF(value); return NULL; }
            Py_DECREF(r);
        } else {
            PyObject *hook;
            if (slot_index_add(by_slot, key) < 0) { Py_DECREF(value); return NULL; }
            hook = _PyType_Lookup(Py_TYPE(value), str_on_store);  /* borrowed; no exception when absent */
            if (hook) {
                r = PyObject_CallMethodObjArgs(value, str_on_store, db, key, NULL);
                if (!r) { Py_DECREF(value); return NULL; }
                Py_DECREF(r);
            }
        }
        Py_DECREF(value);
        if (w != -1 && PyDict_SetItem(expires, key, when) < 0) return NULL;
    }
    Py_RETURN_NONE;
}

/*
 * The shard's fast path for the hottest commands: strings_loop executes the
 * leading "GET key", "MGET key ...", "SET key value", "MSET key value ...",
 * "INCR/DECR key" and "INCRBY/DECRBY key n" commands of a run of RESP forwarded by the front (validated there), exactly
 * as their Python handlers would, and stops at the first command it does not
 * take (any other command or spelling than all upper or all lower case, an
 * inline command, an expired or non-string key, anything that would be an
 * error reply, a write when set_ok is false).  Python runs the rest.
 *
 * Like the Python loop it replaces: replies are appended to f->parts; a SET
 * appends its record (its own bytes: the reader below takes only canonical
 * RESP) to f->log (the AOF buffer, None when the AOF is off) and its reply's
 * index to f->logged; each command's duration goes to its statistics entry
 * ``names[spelling]`` ([calls, nanos, failed, rejected, histogram]; calls are
 * the histogram's sum) and, when >= slow_ns, (nanos, argv, client id) to
 * ``slow``; with ``names`` None (a split command's part: the front counts it)
 * neither.  *pos_io is where Python takes over, *count_io the commands run.
 * run_raw_runs (below) is its Python entry.
 */
static int lp_string2ll(const unsigned char *s, Py_ssize_t n, long long *out);
static PyObject *reply_ok;

/* The commands strings_loop takes, under the two spellings clients use. */
enum { FAST_GET, FAST_SET, FAST_INCR, FAST_INCRBY, FAST_MSET, FAST_MGET, FAST_PUSH, FAST_POP, FAST_SADD, FAST_HSET, FAST_SPOP, FAST_ZADD, FAST_ZPOP, FAST_XADD, FAST_LRANGE, FAST_SETEX, FAST_GETBIT, FAST_GETRANGE, FAST_SETBIT, FAST_SETRANGE, FAST_HGET, FAST_HGETALL, FAST_EXISTS, FAST_DEL, FAST_EXPIRE, FAST_TTL, FAST_CARD, FAST_SISMEMBER, FAST_ZSCORE, FAST_HEXISTS, FAST_HINCRBY, FAST_HMGET, FAST_BITFIELD, FAST_APPEND };
static struct fast_name {
    const char *text;
    int kind, argc;
    long long sign;  /* INCR/INCRBY +1, DECR/DECRBY -1 */
    PyObject *obj;   /* the spelling as bytes: the statistics entries are keyed by it */
} fast_names[] = {
    {"GET", FAST_GET, 2, 0, NULL}, {"get", FAST_GET, 2, 0, NULL},
    {"SET", FAST_SET, 0, 0, NULL}, {"set", FAST_SET, 0, 0, NULL},        /* argc 3, or 5 with EX|PX t (checked there) */
    {"SETEX", FAST_SETEX, 4, 1000, NULL}, {"setex", FAST_SETEX, 4, 1000, NULL},  /* sign: the time's unit in ms */
    {"PSETEX", FAST_SETEX, 4, 1, NULL}, {"psetex", FAST_SETEX, 4, 1, NULL},
    {"INCR", FAST_INCR, 2, 1, NULL}, {"incr", FAST_INCR, 2, 1, NULL},
    {"DECR", FAST_INCR, 2, -1, NULL}, {"decr", FAST_INCR, 2, -1, NULL},
    {"INCRBY", FAST_INCRBY, 3, 1, NULL}, {"incrby", FAST_INCRBY, 3, 1, NULL},
    {"DECRBY", FAST_INCRBY, 3, -1, NULL}, {"decrby", FAST_INCRBY, 3, -1, NULL},
    {"MSET", FAST_MSET, -3, 0, NULL}, {"mset", FAST_MSET, -3, 0, NULL},  /* argc: odd, at least 3 */
    {"MGET", FAST_MGET, 0, 0, NULL}, {"mget", FAST_MGET, 0, 0, NULL},     /* argc: at least 2 */
    {"LPUSH", FAST_PUSH, 0, 0, NULL}, {"lpush", FAST_PUSH, 0, 0, NULL},   /* argc: at least 3 (checked there) */
    {"RPUSH", FAST_PUSH, 0, 1, NULL}, {"rpush", FAST_PUSH, 0, 1, NULL},   /* sign 1: to the tail */
    {"LPOP", FAST_POP, 2, 0, NULL}, {"lpop", FAST_POP, 2, 0, NULL},       /* without a count */
    {"RPOP", FAST_POP, 2, 1, NULL}, {"rpop", FAST_POP, 2, 1, NULL},
    {"SADD", FAST_SADD, 0, 0, NULL}, {"sadd", FAST_SADD, 0, 0, NULL},     /* argc: at least 3 (checked there) */
    {"HSET", FAST_HSET, 0, 0, NULL}, {"hset", FAST_HSET, 0, 0, NULL},     /* argc: even, at least 4 (checked there) */
    {"SPOP", FAST_SPOP, 2, 0, NULL}, {"spop", FAST_SPOP, 2, 0, NULL},     /* without a count */
    {"ZADD", FAST_ZADD, 4, 0, NULL}, {"zadd", FAST_ZADD, 4, 0, NULL},     /* one score and member, no option */
    {"ZPOPMIN", FAST_ZPOP, 2, 0, NULL}, {"zpopmin", FAST_ZPOP, 2, 0, NULL},  /* without a count */
    {"ZPOPMAX", FAST_ZPOP, 2, 1, NULL}, {"zpopmax", FAST_ZPOP, 2, 1, NULL},
    {"LRANGE", FAST_LRANGE, 4, 0, NULL}, {"lrange", FAST_LRANGE, 4, 0, NULL},
    {"HGET", FAST_HGET, 3, 0, NULL}, {"hget", FAST_HGET, 3, 0, NULL},
    {"HGETALL", FAST_HGETALL, 2, 0, NULL}, {"hgetall", FAST_HGETALL, 2, 0, NULL},
    {"HEXISTS", FAST_HEXISTS, 3, 0, NULL}, {"hexists", FAST_HEXISTS, 3, 0, NULL},
    {"HINCRBY", FAST_HINCRBY, 4, 0, NULL}, {"hincrby", FAST_HINCRBY, 4, 0, NULL},
    {"HMGET", FAST_HMGET, 0, 0, NULL}, {"hmget", FAST_HMGET, 0, 0, NULL},  /* argc: at least 3 (checked there) */
    {"TTL", FAST_TTL, 2, 1000, NULL}, {"ttl", FAST_TTL, 2, 1000, NULL},   /* sign: ms per unit */
    {"PTTL", FAST_TTL, 2, 1, NULL}, {"pttl", FAST_TTL, 2, 1, NULL},
    {"SCARD", FAST_CARD, 2, 1, NULL}, {"scard", FAST_CARD, 2, 1, NULL},  /* sign: the type */
    {"HLEN", FAST_CARD, 2, 2, NULL}, {"hlen", FAST_CARD, 2, 2, NULL},
    {"LLEN", FAST_CARD, 2, 3, NULL}, {"llen", FAST_CARD, 2, 3, NULL},
    {"ZCARD", FAST_CARD, 2, 4, NULL}, {"zcard", FAST_CARD, 2, 4, NULL},
    {"SISMEMBER", FAST_SISMEMBER, 3, 0, NULL}, {"sismember", FAST_SISMEMBER, 3, 0, NULL},
    {"ZSCORE", FAST_ZSCORE, 3, 0, NULL}, {"zscore", FAST_ZSCORE, 3, 0, NULL},
    {"EXISTS", FAST_EXISTS, 0, 0, NULL}, {"exists", FAST_EXISTS, 0, 0, NULL},  /* argc: at least 2 */
    {"TOUCH", FAST_EXISTS, 0, 0, NULL}, {"touch", FAST_EXISTS, 0, 0, NULL},    /* EXISTS's handler */
    {"DEL", FAST_DEL, 0, 0, NULL}, {"del", FAST_DEL, 0, 0, NULL},
    {"UNLINK", FAST_DEL, 0, 0, NULL}, {"unlink", FAST_DEL, 0, 0, NULL},
    {"EXPIRE", FAST_EXPIRE, 3, 1000, NULL}, {"expire", FAST_EXPIRE, 3, 1000, NULL},  /* without options; sign: ms per unit */
    {"PEXPIRE", FAST_EXPIRE, 3, 1, NULL}, {"pexpire", FAST_EXPIRE, 3, 1, NULL},
    {"GETBIT", FAST_GETBIT, 3, 0, NULL}, {"getbit", FAST_GETBIT, 3, 0, NULL},
    {"GETRANGE", FAST_GETRANGE, 4, 0, NULL}, {"getrange", FAST_GETRANGE, 4, 0, NULL},
    {"SETBIT", FAST_SETBIT, 4, 0, NULL}, {"setbit", FAST_SETBIT, 4, 0, NULL},
    {"SETRANGE", FAST_SETRANGE, 4, 0, NULL}, {"setrange", FAST_SETRANGE, 4, 0, NULL},
    {"BITFIELD", FAST_BITFIELD, 0, 0, NULL}, {"bitfield", FAST_BITFIELD, 0, 0, NULL},  /* argc: at least 5 (checked there) */
    {"APPEND", FAST_APPEND, 3, 0, NULL}, {"append", FAST_APPEND, 3, 0, NULL},
    {"XADD", FAST_XADD, -5, 0, NULL}, {"xadd", FAST_XADD, -5, 0, NULL},  /* argc: odd, at least 5 (key * f v); no option */
};
#define N_FAST_NAMES ((int)(sizeof fast_names / sizeof fast_names[0]))

/* a canonical non-negative decimal then CRLF at raw[*pos], below end; -1 if not that */
static long long fast_number(const char *raw, Py_ssize_t *pos, Py_ssize_t end) {
    long long v = 0;
    Py_ssize_t p = *pos, start = p;
    while (p < end && raw[p] >= '0' && raw[p] <= '9') {
        if (v > (LLONG_MAX - 9) / 10) return -1;
        v = v * 10 + (raw[p] - '0');
        p++;
    }
    if (p == start || (raw[start] == '0' && p - start > 1)) return -1;
    if (p + 1 >= end || raw[p] != '\r' || raw[p + 1] != '\n') return -1;
    *pos = p + 2;
    return v;
}

/* one bulk string: its start and length in raw; 0 if not well formed */
static int fast_bulk(const char *raw, Py_ssize_t *pos, Py_ssize_t end, Py_ssize_t *at, Py_ssize_t *len) {
    Py_ssize_t p = *pos;
    long long n;
    if (p >= end || raw[p] != '$') return 0;
    p++;
    n = fast_number(raw, &p, end);
    if (n < 0 || n > end - p - 2) return 0;
    if (raw[p + n] != '\r' || raw[p + n + 1] != '\n') return 0;
    *at = p;
    *len = (Py_ssize_t)n;
    *pos = p + n + 2;
    return 1;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int bit_length(long long v) {
    int n = 0;
    if (v < 0) v = -v;
    while (v) { n++; v >>= 1; }
    return n;
}

/* entry[i] += delta for a list of ints */
static int list_add(PyObject *list, Py_ssize_t i, long long delta) {
    PyObject *old, *sum;
    if (!PyList_Check(list) || i >= PyList_GET_SIZE(list)) { PyErr_SetString(PyExc_TypeError, "bad statistics entry"); return -1; }
    old = PyList_GET_ITEM(list, i);
    if (PyLong_CheckExact(old)) {
        long long v = PyLong_AsLongLong(old);
        if (v == -1 && PyErr_Occurred()) return -1;
        sum = PyLong_FromLongLong(v + delta);
    } else {
        PyObject *d = PyLong_FromLongLong(delta);
        if (!d) return -1;
        sum = PyNumber_Add(old, d);
        Py_DECREF(d);
    }
    if (!sum) return -1;
    return PyList_SetItem(list, i, sum);  /* steals sum */
}

/* SET's store (Database.set for a string): a new key is indexed by slot, an
 * existing one loses its TTL; the access time is the current second. */
static int fast_store(PyObject *data, PyObject *expires, PyObject *atime, SlotIndex *by_slot, PyObject *sec, PyObject *key, PyObject *value) {
    int has = PyDict_Contains(data, key);
    if (has < 0) return -1;
    if (has) {
        if (PyDict_GET_SIZE(expires)) {
            PyObject *when = PyDict_GetItemWithError(expires, key);
            if ((when && PyDict_DelItem(expires, key) < 0) || (!when && PyErr_Occurred())) return -1;
        }
    } else if (slot_index_add(by_slot, key) < 0) {
        return -1;
    }
    if (PyDict_SetItem(data, key, value) < 0 || PyDict_SetItem(atime, key, sec) < 0) return -1;
    return 0;
}

/*
 * Append p[:n] to the AOF buffer (a bytearray, AofWriter.buf) in place.  It grows
 * by doubling from 8 KiB, and aof_buffer_reset empties it keeping that room, so a
 * batch's records cost a memcpy each, not an object and a join.
 */
static int aof_append(PyObject *log, const char *p, Py_ssize_t n) {
    PyByteArrayObject *b = (PyByteArrayObject *)log;
    Py_ssize_t size = Py_SIZE(b), need = size + n;
    /* room counted from the allocation's start: a partial write's tail may begin past it */
    if ((b->ob_start - b->ob_bytes) + need + 1 > b->ob_alloc) {
        /* leaves at least need + 1 bytes from ob_start; refuses a buffer exported elsewhere */
        if (PyByteArray_Resize(log, need < 4096 ? 8192 : need * 2) < 0) return -1;
    }
    Py_SET_SIZE(b, need);
    b->ob_start[need] = '\0';
    memcpy(b->ob_start + size, p, (size_t)n);
    return 0;
}

/* Writes that changed something, run in C (the AOF on or off): the shard's dirty
 * count for its save points adds these to Python's (``writes()``). */
static long long c_writes;

/* a write's AOF record (its own bytes) and its reply's index in parts */
static int fast_log(PyObject *log, PyObject *logged, PyObject *parts, const char *record_at, Py_ssize_t record_len) {
    PyObject *at;
    c_writes++;
    if (log == Py_None) return 0;
    if (aof_append(log, record_at, record_len) < 0) return -1;
    at = PyLong_FromSsize_t(PyList_GET_SIZE(parts));
    if (!at) return -1;
    if (PyList_Append(logged, at) < 0) { Py_DECREF(at); return -1; }
    Py_DECREF(at);
    return 0;
}

/* every argument of the command at raw[pos:end] (already validated), for the slow log */
static PyObject *fast_argv(const char *raw, Py_ssize_t pos, Py_ssize_t end, PyObject *name) {
    Py_ssize_t p = pos + 1, at, len, i;
    long long argc = fast_number(raw, &p, end);
    PyObject *argv = PyList_New((Py_ssize_t)argc);
    if (!argv) return NULL;
    for (i = 0; i < argc; i++) {
        PyObject *item;
        if (!fast_bulk(raw, &p, end, &at, &len)) { Py_DECREF(argv); PyErr_SetString(PyExc_ValueError, "fast_argv(): bad command"); return NULL; }
        if (i == 0) { Py_INCREF(name); item = name; }
        else if (!(item = PyBytes_FromStringAndSize(raw + at, len))) { Py_DECREF(argv); return NULL; }
        PyList_SET_ITEM(argv, i, item);
    }
    return argv;
}

static PyObject *s_data, *s_expires, *s_atime, *s_by_slot, *s_watched;

/* A database's dicts and slot index as strings_loop needs them, fetched once per
 * database a message's runs use, and again after each command a Python handler
 * ran (FLUSHDB may replace them). */
typedef struct {
    long db;  /* -1: none fetched */
    PyObject *data, *expires, *atime;
    SlotIndex *by_slot;
    int watching;
} DbFields;

static void db_fields_clear(DbFields *d) {
    Py_CLEAR(d->data);
    Py_CLEAR(d->expires);
    Py_CLEAR(d->atime);
    Py_CLEAR(d->by_slot);
    d->db = -1;
}

static int db_fields_fetch(DbFields *d, PyObject *database, long db) {
    PyObject *watched;
    db_fields_clear(d);
    d->data = PyObject_GetAttr(database, s_data);
    d->expires = PyObject_GetAttr(database, s_expires);
    d->atime = PyObject_GetAttr(database, s_atime);
    d->by_slot = (SlotIndex *)PyObject_GetAttr(database, s_by_slot);
    watched = PyObject_GetAttr(database, s_watched);
    d->watching = watched ? PyObject_IsTrue(watched) : -1;
    Py_XDECREF(watched);
    if (!d->data || !d->expires || !d->atime || !d->by_slot || d->watching < 0) return -1;
    if (!PyDict_CheckExact(d->data) || !PyDict_CheckExact(d->expires) || !PyDict_CheckExact(d->atime) || !PyObject_TypeCheck((PyObject *)d->by_slot, &SlotIndexType)) {
        PyErr_SetString(PyExc_TypeError, "run_raw_runs(): a database's dicts and SlotIndex");
        return -1;
    }
    d->db = db;
    return 0;
}

/* What the fast commands need; one per run. */
typedef struct {
    PyObject *data, *expires, *atime, *sec, *parts, *log, *logged;
    SlotIndex *by_slot;
    long long ms;
    int touch, resp3;
    const char *raw;
    Py_ssize_t end;
    Py_ssize_t prefetched;  /* raw[:prefetched] is prefetched already (run_raw_runs does it across runs) */
    /* the handlers' path (py_command); py NULL: every other command stops the loop */
    PyObject *py, *database, *db_obj;
    DbFields *d;
    long db;
    long long *log_db;   /* the database the AOF buffer is on (-1: no AOF); Python writes move it */
    int writable;        /* no MISCONF: writes are accepted */
    int ctx_ready;       /* ctx.db, clock.touch and ctx.resp3 are this run's */
} Fast;

/* 1: key has a TTL that has passed (Python must expire it), 0: not, -1: error */
static int fast_expired(Fast *f, PyObject *key) {
    PyObject *when;
    long long w;
    if (!PyDict_GET_SIZE(f->expires)) return 0;
    when = PyDict_GetItemWithError(f->expires, key);
    if (!when) return PyErr_Occurred() ? -1 : 0;
    w = PyLong_AsLongLong(when);
    if (w == -1 && PyErr_Occurred()) return -1;
    return w <= f->ms;
}

/* The statistics entry of a spelling (borrowed); NULL without an error when
 * there is none yet (Python creates it). */
static PyObject *fast_entry(PyObject *names, PyObject *name) {
    PyObject *entry = PyDict_GetItemWithError(names, name);
    if (!entry) return NULL;
    if (!PyList_Check(entry) || PyList_GET_SIZE(entry) < 5 || !PyList_Check(PyList_GET_ITEM(entry, 4)) || PyList_GET_SIZE(PyList_GET_ITEM(entry, 4)) < 64) {
        PyErr_SetString(PyExc_TypeError, "strings_loop(): bad statistics entry");
        return NULL;
    }
    return entry;
}

/* A string value's bytes: bytes, or a RawStr (a bytearray edited in place); 0 for other types */
static int str_view(PyObject *value, const char **p, Py_ssize_t *n) {
    if (PyBytes_Check(value)) { *p = PyBytes_AS_STRING(value); *n = PyBytes_GET_SIZE(value); return 1; }
    if (PyByteArray_Check(value)) { *p = PyByteArray_AS_STRING(value); *n = PyByteArray_GET_SIZE(value); return 1; }
    return 0;
}

/* "$<n>\r\n<bytes>\r\n" at q; returns the new end */
static char *fast_put_bulk(char *q, const char *p, Py_ssize_t n) {
    q = put_header(q, '$', n);
    memcpy(q, p, n);
    q += n;
    *q++ = '\r';
    *q++ = '\n';
    return q;
}

/* A reply "$<n>\r\n<bytes>\r\n" of p[:n] (a new reference, NULL on an error) */
static PyObject *bulk_reply(const char *p, Py_ssize_t n) {
    /* sized exactly: "$", the length's digits, CRLF, the bytes, CRLF (a resize is a realloc) */
    Py_ssize_t digits = 1, v;
    PyObject *reply;
    for (v = n; v >= 10; v /= 10) digits++;
    reply = PyBytes_FromStringAndSize(NULL, 1 + digits + 2 + n + 2);
    if (reply) fast_put_bulk(PyBytes_AS_STRING(reply), p, n);
    return reply;
}

/* A reply ":<v>\r\n" (a new reference, NULL on an error) */
static PyObject *int_reply(long long v) {
    char digits[32];
    return PyBytes_FromStringAndSize(digits, put_header(digits, ':', v) - digits);
}

/*
 * The hashes the prefetch window computed, for key_object to take instead of
 * hashing the same key again.  An entry is the key's place in a raw run (pointer
 * and length) and run_raw_runs empties the cache when it starts and returns, so
 * every place cached is inside a raw bytes object its runs hold alive and
 * unchanged: a match is the same bytes, hence the same hash.
 */
#define HASH_CACHE PREFETCH_WINDOW
static struct { const char *at; Py_ssize_t len; Py_hash_t h; } hash_cache[HASH_CACHE];
static int hash_cache_n, hash_cache_next;

static void hash_cache_clear(void) { hash_cache_n = hash_cache_next = 0; }

static Py_hash_t key_hash(const char *p, Py_ssize_t n) {
    int i, j;
    /* keys are looked up in the order they were hashed: the next entry is the likely one */
    for (j = 0, i = hash_cache_next; j < hash_cache_n; j++, i = i + 1 == hash_cache_n ? 0 : i + 1) {
        if (hash_cache[i].at == p && hash_cache[i].len == n) {
            hash_cache_next = i + 1 == hash_cache_n ? 0 : i + 1;
            return hash_cache[i].h;
        }
    }
    return _Py_HashBytes(p, n);
}

/* A command's key p[:n] as an object (a new reference): the one data already
 * holds when stored_key finds it, so that the lookups of data, the access
 * times and the TTLs match it by identity, else a new bytes object. */
static PyObject *key_object(PyObject *data, const char *p, Py_ssize_t n) {
#ifdef HAVE_DICT_PREFETCH
    if (stored_key_ok) {
        Py_hash_t h = key_hash(p, n);
        PyObject *key = stored_key(data, p, n, h);
        if (key) {
            Py_INCREF(key);
            return key;
        }
        key = PyBytes_FromStringAndSize(p, n);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        if (key) ((PyBytesObject *)key)->ob_shash = h;  /* the hash, as bytes_hash would cache it */
#pragma GCC diagnostic pop
        return key;
    }
#endif
    return PyBytes_FromStringAndSize(p, n);
}

/* -- LCS: the table of strings.lcs_reply, dp[i][j] = LCS length of a[:i], b[:j] ----
 * A bytes object of (len(a) + 1) * (len(b) + 1) native uint32, row by row (the
 * caller checked the size against proto-max-bulk-len, as Valkey does). */
static PyObject *lcs_table(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer A, B;
    PyObject *out;
    Py_ssize_t n, m, i, j, w;
    uint32_t *dp;
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "lcs_table(a, b)"); return NULL; }
    if (PyObject_GetBuffer(args[0], &A, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(args[1], &B, PyBUF_SIMPLE) < 0) { PyBuffer_Release(&A); return NULL; }
    n = A.len;
    m = B.len;
    w = m + 1;
    if (n + 1 > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(uint32_t) / w) {
        PyBuffer_Release(&A);
        PyBuffer_Release(&B);
        return PyErr_NoMemory();
    }
    out = PyBytes_FromStringAndSize(NULL, (n + 1) * w * (Py_ssize_t)sizeof(uint32_t));
    if (out) {
        const unsigned char *a = A.buf, *b = B.buf;
        dp = (uint32_t *)PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        memset(dp, 0, (size_t)w * sizeof(uint32_t));
        for (i = 1; i <= n; i++) {
            uint32_t *row = dp + i * w, *prev = row - w;
            unsigned char ai = a[i - 1];
            row[0] = 0;
            for (j = 1; j <= m; j++) {
                if (ai == b[j - 1]) row[j] = prev[j - 1] + 1;
                else row[j] = row[j - 1] > prev[j] ? row[j - 1] : prev[j];
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&A);
    PyBuffer_Release(&B);
    return out;
}

/* -- glob patterns: Valkey's stringmatchlen (KEYS, SCAN MATCH, CONFIG GET) ------
 * The twin of shardserver/glob.py's py_glob_match.  Characters compare as
 * bytes, ranges as C chars (signed, as stringmatchlen's), case folding is
 * ASCII.  Only the latest star is retried with a longer match: once the
 * pattern after a star fails at every later position, a longer match for an
 * earlier star cannot help (stringmatchlen's skipLongerMatches), so the time
 * is O(len(pattern) * len(subject)) where a backtracking regex is exponential
 * in the number of stars. */
static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* the one-character token at p[i] (not a star) against u: 1 match, 0 not; *next after it */
static int glob_one(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, unsigned char u, int nocase, Py_ssize_t *next) {
    int match = 0, neg = 0;
    if (p[i] == '?') { *next = i + 1; return 1; }
    if (p[i] == '[') {
        int c = (signed char)u;
        i++;
        if (i < n && p[i] == '^') { neg = 1; i++; }
        for (;;) {
            if (i < n && p[i] == '\\' && n - i >= 2) {
                i++;
                if (p[i] == u) match = 1;  /* an escaped member compares exactly, even with nocase */
            } else if (i < n && p[i] == ']') {
                break;
            } else if (i >= n) {  /* not closed: the set runs to the pattern's end */
                i--;
                break;
            } else if (n - i >= 3 && p[i + 1] == '-') {
                int lo = (signed char)p[i], hi = (signed char)p[i + 2], x = c, t;
                if (lo > hi) { t = lo; lo = hi; hi = t; }
                if (nocase) { lo = ascii_lower(lo); hi = ascii_lower(hi); x = ascii_lower(x); }
                i += 2;
                if (x >= lo && x <= hi) match = 1;
            } else if (nocase ? ascii_lower(p[i]) == ascii_lower(u) : p[i] == u) {
                match = 1;
            }
            i++;
        }
        *next = i + 1;
        return neg ? !match : match;
    }
    if (p[i] == '\\' && n - i >= 2) i++;
    *next = i + 1;
    return nocase ? ascii_lower(p[i]) == ascii_lower(u) : p[i] == u;
}

static int glob_match_c(const unsigned char *p, Py_ssize_t n, const unsigned char *s, Py_ssize_t m, int nocase) {
    Py_ssize_t i = 0, j = 0, star_i = -1, star_j = 0, next;
    int stars = 0;
    if (m == 0) return n == 0;  /* stringmatchlen's loop never starts: only the empty pattern */
    while (j < m) {
        if (i < n && p[i] == '*') {
            while (i < n && p[i] == '*') i++;
            if (i == n) return 1;
            if (++stars > 1000) return 0;  /* stringmatchlen's nesting limit */
            star_i = i;
            star_j = j;
            continue;
        }
        if (i < n && glob_one(p, n, i, s[j], nocase, &next)) {
            i = next;
            j++;
            continue;
        }
        if (star_i < 0 || ++star_j >= m) return 0;  /* the star tries the rest at each later position, never at the end */
        i = star_i;
        j = star_j;
    }
    while (i < n && p[i] == '*') i++;
    return i == n;
}

static PyObject *glob_match(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer pat, sub;
    int nocase = 0, r;
    if (nargs < 2 || nargs > 3) { PyErr_SetString(PyExc_TypeError, "glob_match(pattern, subject, nocase=False)"); return NULL; }
    if (nargs == 3 && (nocase = PyObject_IsTrue(args[2])) < 0) return NULL;
    if (PyObject_GetBuffer(args[0], &pat, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(args[1], &sub, PyBUF_SIMPLE) < 0) { PyBuffer_Release(&pat); return NULL; }
    r = glob_match_c(pat.buf, pat.len, sub.buf, sub.len, nocase);
    PyBuffer_Release(&pat);
    PyBuffer_Release(&sub);
    return PyBool_FromLong(r);
}

/* -- lists: LPUSH/RPUSH onto an existing list, ListValue.push's twin ------------
 * (shardserver/shard/types/list.py: the listpack's byte count, or the quicklist's
 * nodes [count, bytes, plain]).  A push that would turn a listpack into a
 * quicklist, and any other list command, stays Python's. */
static PyTypeObject *list_type;   /* ListValue; NULL until configure_lists */
static Py_ssize_t list_off[4];    /* its slots: items, lp_bytes, nodes, fill */
static PyObject *list_fill;       /* FILL: [list-max-listpack-size] as configured */
static PyObject *s_append, *s_appendleft, *s_pop, *s_popleft, *s_reversed;
enum { L_ITEMS, L_LP_BYTES, L_NODES, L_FILL };
#define LIST_SLOT(o, i) (*(PyObject **)((char *)(o) + list_off[i]))
static const long long ql_levels[5] = {4096, 8192, 16384, 32768, 65536};

/* *slot = o, holding a reference (the configure_* functions' classes and settings) */
static void keep(PyObject **slot, PyObject *o) {
    Py_INCREF(o);
    Py_XSETREF(*slot, o);
}

/* the offsets of a class's __slots__ entries ``names`` (how the C twins read the values' fields) */
static int slot_offsets(PyObject *type, const char *const *names, int n, Py_ssize_t *off) {
    int i;
    for (i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString(type, names[i]);
        if (!d) return -1;
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type) || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            Py_DECREF(d);
            PyErr_Format(PyExc_TypeError, "%s.%s is not a __slots__ entry", ((PyTypeObject *)type)->tp_name, names[i]);
            return -1;
        }
        off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
    }
    return 0;
}

static PyObject *configure_lists(PyObject *self, PyObject *args) {
    static const char *const names[4] = {"items", "lp_bytes", "nodes", "fill"};
    PyObject *type, *fill;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &type, &PyList_Type, &fill)) return NULL;
    if (PyList_GET_SIZE(fill) != 1) { PyErr_SetString(PyExc_TypeError, "configure_lists(): FILL holds one int"); return NULL; }
    if (slot_offsets(type, names, 4, list_off) < 0) return NULL;
    keep((PyObject **)&list_type, type);
    keep(&list_fill, fill);
    Py_RETURN_NONE;
}

static long long ql_size_limit(long fill) {
    long i = -fill - 1;
    return ql_levels[i < 4 ? i : 4];
}

/* quicklistNodeExceedsLimit (list.py exceeds) */
static int ql_exceeds(long fill, long long size, long long count) {
    if (fill < 0) return size > ql_size_limit(fill);
    if (size > 8192) return 1;
    return count > (fill ? fill : 1);
}

/* an int of a node list [count, bytes, plain]; -1 with an exception if not one */
static long long node_int(PyObject *node, Py_ssize_t i) {
    PyObject *v = PyList_GET_ITEM(node, i);
    if (!PyLong_CheckExact(v)) { PyErr_SetString(PyExc_TypeError, "a quicklist node is [count, bytes, plain]"); return -1; }
    return PyLong_AsLongLong(v);
}

static int node_set(PyObject *node, Py_ssize_t i, long long v) {
    PyObject *o = PyLong_FromLongLong(v);
    return o ? PyList_SetItem(node, i, o) : -1;  /* steals o */
}

/* the end node (a new reference) of a quicklist of nn > 0 nodes, its [count, bytes, plain]
 * in v; NULL with an exception when it is not such a list */
static PyObject *ql_end_node(PyObject *nodes, Py_ssize_t nn, int tail, long long v[3]) {
    PyObject *node = PySequence_GetItem(nodes, tail ? nn - 1 : 0);
    int i;
    if (!node) return NULL;
    if (!PyList_CheckExact(node) || PyList_GET_SIZE(node) != 3) {
        Py_DECREF(node);
        PyErr_SetString(PyExc_TypeError, "a quicklist node is [count, bytes, plain]");
        return NULL;
    }
    for (i = 0; i < 3; i++) v[i] = node_int(node, i);
    if (PyErr_Occurred()) Py_CLEAR(node);
    return node;
}

/* a new node [count, bytes, plain] at the end the push goes to */
static int ql_new_node(PyObject *nodes, int tail, long long bytes, int plain) {
    PyObject *node = Py_BuildValue("[iLi]", 1, bytes, plain), *r;
    if (!node) return -1;
    r = PyObject_CallMethodOneArg(nodes, tail ? s_append : s_appendleft, node);
    Py_DECREF(node);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

/* ListValue._node_push: one element onto a quicklist's end node, or a new node */
static int ql_node_push(PyObject *nodes, long fill, PyObject *v, int tail) {
    Py_ssize_t n = PyBytes_GET_SIZE(v), nn = PyObject_Size(nodes);
    PyObject *node = NULL;
    long long nv[3] = {0, 0, 0}, count, bytes, plain;
    int large, fits = 0, rc;
    if (nn < 0) return -1;
    if (nn > 0 && !(node = ql_end_node(nodes, nn, tail, nv))) return -1;
    count = nv[0];
    bytes = nv[1];
    plain = nv[2];
    large = n > (fill < 0 ? ql_size_limit(fill) : 8192);  /* is_large */
    fits = node && !ql_exceeds(fill, bytes + n + 8, count + 1);  /* quicklist's estimate: 8 more per entry */
    if (large) rc = ql_new_node(nodes, tail, n, 1);
    else if (node && fits && !plain) rc = node_set(node, 0, count + 1) < 0 || node_set(node, 1, bytes + lp_entry_size(v)) < 0 ? -1 : 0;
    else rc = ql_new_node(nodes, tail, 7 + lp_entry_size(v), 0);
    Py_XDECREF(node);
    return rc;
}

/* -- sets: SADD onto a live set, SetValue.add's twin (shardserver/shard/types/set.py):
 * a hashtable's ScanList, or a listpack that no member would convert. */
static PyTypeObject *set_type, *scanlist_type;
static Py_ssize_t set_off[3], scan_off[3];  /* SetValue: enc, small, big; ScanList: items, pos, holes */
static PyObject *randrange, *s_compact;    /* random.randrange (ScanList.random's picks), "_compact" */
static PyObject *set_limits, *enc_hashtable, *enc_listpack, *k_set_entries, *k_set_value;
enum { S_ENC, S_SMALL, S_BIG };
enum { SC_ITEMS, SC_POS, SC_HOLES };
static const char *const scan_names[3] = {"items", "pos", "holes"};
#define SET_SLOT(o, i) (*(PyObject **)((char *)(o) + set_off[i]))
#define SCAN_SLOT(o, i) (*(PyObject **)((char *)(o) + scan_off[i]))

static PyObject *configure_sets(PyObject *self, PyObject *args) {
    static const char *const set_names[3] = {"enc", "small", "big"};
    PyObject *stype, *ltype, *limits, *ht, *lp;
    if (!PyArg_ParseTuple(args, "O!O!O!UU", &PyType_Type, &stype, &PyType_Type, &ltype, &PyDict_Type, &limits, &ht, &lp)) return NULL;
    if (slot_offsets(stype, set_names, 3, set_off) < 0 || slot_offsets(ltype, scan_names, 3, scan_off) < 0) return NULL;
    if (!randrange) {
        PyObject *random = PyImport_ImportModule("random");
        randrange = random ? PyObject_GetAttrString(random, "randrange") : NULL;
        Py_XDECREF(random);
        if (!randrange || !(s_compact = PyUnicode_InternFromString("_compact"))) return NULL;
    }
    if (!k_set_entries && (!(k_set_entries = PyUnicode_InternFromString("set-max-listpack-entries")) || !(k_set_value = PyUnicode_InternFromString("set-max-listpack-value")))) return NULL;
    keep((PyObject **)&set_type, stype);
    keep((PyObject **)&scanlist_type, ltype);
    keep(&set_limits, limits);
    keep(&enc_hashtable, ht);
    keep(&enc_listpack, lp);
    Py_RETURN_NONE;
}

/* a limit of a type's LIMITS dict; -1 (no exception) when it is not a plain int */
static long long dict_limit(PyObject *limits, PyObject *name) {
    PyObject *v = PyDict_GetItemWithError(limits, name);
    long long n;
    if (!v || !PyLong_CheckExact(v)) { PyErr_Clear(); return -1; }
    n = PyLong_AsLongLong(v);
    if (n == -1 && PyErr_Occurred()) { PyErr_Clear(); return -1; }
    return n;
}

/* -- hashes: HSET onto a live hash without field TTLs, Hash.set's twin
 * (shardserver/shard/types/hash.py): a listpack no pair converts, or a
 * hashtable's dict and its HSCAN buckets. */
static PyTypeObject *hash_type, *buckets_type;
static Py_ssize_t hash_off[3], buckets_off[3];  /* Hash: d, buckets, ttl; _Buckets: bits, table, n */
static PyObject *hash_limits, *k_h_entries, *k_h_value, *s_resize;
enum { H_D, H_BUCKETS, H_TTL };
enum { B_BITS, B_TABLE, B_N };
#define HASH_SLOT(o, i) (*(PyObject **)((char *)(o) + hash_off[i]))
#define BUCKETS_SLOT(o, i) (*(PyObject **)((char *)(o) + buckets_off[i]))

static PyObject *configure_hashes(PyObject *self, PyObject *args) {
    static const char *const hash_names[3] = {"d", "buckets", "ttl"}, *const buckets_names[3] = {"bits", "table", "n"};
    PyObject *htype, *btype, *limits;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyType_Type, &htype, &PyType_Type, &btype, &PyDict_Type, &limits)) return NULL;
    if (slot_offsets(htype, hash_names, 3, hash_off) < 0 || slot_offsets(btype, buckets_names, 3, buckets_off) < 0) return NULL;
    if (!k_h_entries && (!(k_h_entries = PyUnicode_InternFromString("entries")) || !(k_h_value = PyUnicode_InternFromString("value")) ||
                         !(s_resize = PyUnicode_InternFromString("_resize")))) return NULL;
    keep((PyObject **)&hash_type, htype);
    keep((PyObject **)&buckets_type, btype);
    keep(&hash_limits, limits);
    Py_RETURN_NONE;
}

/* Each command: 1 done (*reply set), 0 Python runs it (nothing changed), -1 error. */

static int fast_get(Fast *f, PyObject *key, PyObject **reply) {
    PyObject *found = PyDict_GetItemWithError(f->data, key);  /* borrowed */
    const char *p;
    Py_ssize_t n;
    int expired;
    if (!found) {
        if (PyErr_Occurred()) return -1;
        *reply = PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
        return *reply ? 1 : -1;
    }
    expired = fast_expired(f, key);
    if (expired) return expired < 0 ? -1 : 0;  /* expired: Python deletes it */
    if (!str_view(found, &p, &n)) return 0;          /* WRONGTYPE: Python's */
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *reply = bulk_reply(p, n);
    return *reply ? 1 : -1;
}

/* as strings._incr: a canonical 64-bit integer (or no key) plus delta, TTL kept */
static int fast_incr(Fast *f, PyObject *key, long long delta, PyObject **reply) {
    PyObject *found = PyDict_GetItemWithError(f->data, key), *value;  /* borrowed */
    long long current = 0;
    char digits[32];
    int nd, ok;
    if (!found && PyErr_Occurred()) return -1;
    if (found) {
        int expired = fast_expired(f, key);
        if (expired) return expired < 0 ? -1 : 0;
        if (!PyBytes_Check(found) || !lp_string2ll((const unsigned char *)PyBytes_AS_STRING(found), PyBytes_GET_SIZE(found), &current)) return 0;
    }
    if ((delta > 0 && current > LLONG_MAX - delta) || (delta < 0 && current < LLONG_MIN - delta)) return 0;  /* overflow: Python's error */
    nd = (int)(put_header(digits, ':', current + delta) - digits);  /* the reply; the value is its digits */
    value = PyBytes_FromStringAndSize(digits + 1, nd - 3);
    if (!value) return -1;
    ok = (found || slot_index_add(f->by_slot, key) == 0) && PyDict_SetItem(f->data, key, value) == 0 && PyDict_SetItem(f->atime, key, f->sec) == 0;
    Py_DECREF(value);
    if (!ok) return -1;
    *reply = PyBytes_FromStringAndSize(digits, nd);
    return *reply ? 1 : -1;
}

/* as strings.cmd_mget: a string's value or nil; an expired key sends the whole
 * command the Python way (it deletes the key and logs that); *p: after the keys */
static int fast_mget(Fast *f, Py_ssize_t *p, Py_ssize_t nkeys, PyObject **reply) {
    PyObject **keys = PyMem_Calloc((size_t)nkeys, sizeof(PyObject *)), **found = PyMem_Calloc((size_t)nkeys, sizeof(PyObject *));
    Py_ssize_t j, at, len, size = 32, n;
    const char *v;
    int rc = 1;
    char *q;
    if (!keys || !found) { PyMem_Free(keys); PyMem_Free(found); PyErr_NoMemory(); return -1; }
    for (j = 0; j < nkeys && rc == 1; j++) {
        if (!fast_bulk(f->raw, p, f->end, &at, &len)) { rc = 0; break; }
        keys[j] = key_object(f->data, f->raw + at, len);
        if (!keys[j]) { rc = -1; break; }
        found[j] = PyDict_GetItemWithError(f->data, keys[j]);  /* borrowed: data does not change below */
        if (!found[j] && PyErr_Occurred()) { rc = -1; break; }
        if (found[j]) {
            int expired = fast_expired(f, keys[j]);
            if (expired) { rc = expired < 0 ? -1 : 0; break; }
        }
        size += found[j] && str_view(found[j], &v, &n) ? n + 26 : 5;
    }
    if (rc == 1 && !(*reply = PyBytes_FromStringAndSize(NULL, size))) rc = -1;
    if (rc == 1) {
        q = put_header(PyBytes_AS_STRING(*reply), '*', nkeys);
        for (j = 0; j < nkeys && rc == 1; j++) {
            if (found[j] && f->touch && PyDict_SetItem(f->atime, keys[j], f->sec) < 0) rc = -1;
            else if (found[j] && str_view(found[j], &v, &n)) q = fast_put_bulk(q, v, n);
            else if (f->resp3) { memcpy(q, "_\r\n", 3); q += 3; }
            else { memcpy(q, "$-1\r\n", 5); q += 5; }
        }
        if (rc == 1 && _PyBytes_Resize(reply, q - PyBytes_AS_STRING(*reply)) < 0) rc = -1;
        if (rc != 1) Py_CLEAR(*reply);
    }
    for (j = 0; j < nkeys; j++) Py_XDECREF(keys[j]);
    PyMem_Free(keys);
    PyMem_Free(found);
    return rc;
}

/* as strings.cmd_mset: the pairs from raw[first:] stored in order (a repeated key: the last value) */
static int fast_mset(Fast *f, Py_ssize_t first, long long pairs) {
    Py_ssize_t q = first, kat, klen, vat, vlen;
    long long j;
    for (j = 0; j < pairs; j++) {
        PyObject *k, *v;
        int ok;
        fast_bulk(f->raw, &q, f->end, &kat, &klen);  /* validated by the caller */
        fast_bulk(f->raw, &q, f->end, &vat, &vlen);
        k = key_object(f->data, f->raw + kat, klen);
        v = k ? PyBytes_FromStringAndSize(f->raw + vat, vlen) : NULL;
        ok = v && fast_store(f->data, f->expires, f->atime, f->by_slot, f->sec, k, v) == 0;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (!ok) return -1;
    }
    return 1;
}

/* the live value at key (borrowed; NULL and 1: no key; the callers check its type), 0: expired (Python's) */
static int live_value(Fast *f, PyObject *key, PyObject **value) {
    int expired;
    if (!(*value = PyDict_GetItemWithError(f->data, key))) return PyErr_Occurred() ? -1 : 1;
    if ((expired = fast_expired(f, key))) return expired < 0 ? -1 : 0;
    return 1;
}

/* An AOF record made in C (a command logged by its effect): the RESP array of the n
 * strings parts[i] of lens[i] bytes (a new reference) */
static PyObject *record_of(int n, const char *const *parts, const Py_ssize_t *lens) {
    Py_ssize_t size = 24;
    PyObject *r;
    char *w;
    int i;
    for (i = 0; i < n; i++) size += lens[i] + 26;
    if (!(r = PyBytes_FromStringAndSize(NULL, size))) return NULL;
    w = put_header(PyBytes_AS_STRING(r), '*', n);
    for (i = 0; i < n; i++) w = fast_put_bulk(w, parts[i], lens[i]);
    if (_PyBytes_Resize(&r, w - PyBytes_AS_STRING(r)) < 0) return NULL;
    return r;
}

/* expires[key] = when (Database.set_expire); its digits into digits[24], their count in *nd.  0, or -1 */
static int set_expiry(Fast *f, PyObject *key, long long when, char *digits, Py_ssize_t *nd) {
    PyObject *o = PyLong_FromLongLong(when);
    int rc = o ? PyDict_SetItem(f->expires, key, o) : -1;
    Py_XDECREF(o);
    *nd = snprintf(digits, 24, "%lld", when);
    return rc;
}

/* The live value at key when it is a ``type`` (borrowed, in *value): 1; 0 when Python
 * must run the command (no such key: *value NULL; another type; an expired key,
 * which Python deletes); -1 with an exception. */
static int fast_live(Fast *f, PyObject *key, PyTypeObject *type, PyObject **value) {
    int expired;
    *value = PyDict_GetItemWithError(f->data, key);
    if (!*value) return PyErr_Occurred() ? -1 : 0;
    if (!type || Py_TYPE(*value) != type) return 0;
    if ((expired = fast_expired(f, key))) return expired < 0 ? -1 : 0;
    return 1;
}

/* LPUSH/RPUSH key v... (list_cmds.push) onto a live list: the values from
 * raw[first:], one by one to the head (tail 0) or the tail; the reply is the
 * new length.  A missing key, another type, an expired key or a listpack that
 * would become a quicklist are Python's (0: nothing changed). */
static int fast_push(Fast *f, PyObject *key, Py_ssize_t first, long long nvals, int tail, PyObject **reply) {
    PyObject *found, *items, *lp, *nodes, *qfill, *meth;  /* borrowed */
    Py_ssize_t q, at, len, nitems;
    long long j, add = 0, lp_bytes = 0;
    long fill;
    int live = fast_live(f, key, list_type, &found);
    if (live <= 0) return live;
    items = LIST_SLOT(found, L_ITEMS);
    lp = LIST_SLOT(found, L_LP_BYTES);
    nodes = LIST_SLOT(found, L_NODES);
    qfill = LIST_SLOT(found, L_FILL);
    if (!items || !lp || !nodes || !qfill || !PyLong_CheckExact(lp) || !PyLong_CheckExact(qfill)) return 0;
    if ((nitems = PyObject_Size(items)) < 0) return -1;
    if (nodes == Py_None) {  /* a listpack: _try_grow must not convert it */
        PyObject *cfg = PyList_GET_ITEM(list_fill, 0);
        if (!PyLong_CheckExact(cfg)) return 0;
        fill = PyLong_AsLong(cfg);
        lp_bytes = PyLong_AsLongLong(lp);
        if (PyErr_Occurred()) return -1;
        for (q = first, j = 0; j < nvals; j++) {
            fast_bulk(f->raw, &q, f->end, &at, &len);  /* validated by the caller */
            add += len;
        }
        if (ql_exceeds(fill, lp_bytes + add, nitems + nvals)) return 0;
    } else {
        fill = PyLong_AsLong(qfill);
        if (fill == -1 && PyErr_Occurred()) return -1;
    }
    meth = tail ? s_append : s_appendleft;
    for (q = first, j = 0; j < nvals; j++) {
        PyObject *v, *r;
        fast_bulk(f->raw, &q, f->end, &at, &len);
        if (!(v = PyBytes_FromStringAndSize(f->raw + at, len))) return -1;
        if (nodes == Py_None) lp_bytes += lp_entry_size(v);
        else if (ql_node_push(nodes, fill, v, tail) < 0) { Py_DECREF(v); return -1; }
        r = PyObject_CallMethodOneArg(items, meth, v);
        Py_DECREF(v);
        if (!r) return -1;
        Py_DECREF(r);
    }
    if (nodes == Py_None) {
        PyObject *o = PyLong_FromLongLong(lp_bytes);
        if (!o) return -1;
        Py_SETREF(LIST_SLOT(found, L_LP_BYTES), o);
    }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *reply = int_reply((long long)nitems + nvals);
    return *reply ? 1 : -1;
}

/* SADD key m... (set_cmds.cmd_sadd) onto a live set: a hashtable's ScanList takes
 * each new member at its end; a listpack takes them when no member could
 * convert it (every member short enough, room for all).  An intset, a new key
 * and a conversion are Python's.  *added: the new members (0: nothing to log). */
static int fast_sadd(Fast *f, PyObject *key, Py_ssize_t first, long long nvals, long long *added, PyObject **reply) {
    PyObject *found, *enc, *small, *big, *items = NULL, *pos = NULL;  /* borrowed */
    Py_ssize_t q, at, len;
    long long j, n = 0;
    int live = fast_live(f, key, set_type, &found), hashtable;
    if (live <= 0) return live;
    enc = SET_SLOT(found, S_ENC);
    small = SET_SLOT(found, S_SMALL);
    big = SET_SLOT(found, S_BIG);
    if (!enc || !small || !big) return 0;
    hashtable = enc == enc_hashtable;
    if (hashtable) {
        if (Py_TYPE(big) != scanlist_type) return 0;
        items = SCAN_SLOT(big, SC_ITEMS);
        pos = SCAN_SLOT(big, SC_POS);
        if (!items || !pos || !PyList_CheckExact(items) || !PyDict_CheckExact(pos)) return 0;
    } else if (enc == enc_listpack && PyDict_CheckExact(small)) {
        long long entries = dict_limit(set_limits, k_set_entries), value = dict_limit(set_limits, k_set_value);
        if (entries < 0 || value < 0 || PyDict_GET_SIZE(small) + nvals > entries) return 0;  /* setTypeMaybeConvert, or room for all */
        for (q = first, j = 0; j < nvals; j++) {
            fast_bulk(f->raw, &q, f->end, &at, &len);
            if (len > value) return 0;
        }
    } else {
        return 0;  /* an intset */
    }
    for (q = first, j = 0; j < nvals; j++) {
        PyObject *m;
        int has;
        fast_bulk(f->raw, &q, f->end, &at, &len);
        if (!(m = PyBytes_FromStringAndSize(f->raw + at, len))) return -1;
        has = PyDict_Contains(hashtable ? pos : small, m);
        if (has == 0) {
            if (hashtable) {
                PyObject *i = PyLong_FromSsize_t(PyList_GET_SIZE(items));
                has = !i || PyDict_SetItem(pos, m, i) < 0 || PyList_Append(items, m) < 0 ? -1 : 0;
                Py_XDECREF(i);
            } else {
                has = PyDict_SetItem(small, m, Py_None);
            }
            n++;
        }
        Py_DECREF(m);
        if (has < 0) return -1;
    }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *added = n;
    *reply = int_reply(n);
    return *reply ? 1 : -1;
}

/* _Buckets.add: a new field filed in its bucket by hash; a resize is the Python
 * method's (_resize).  0, or -1 with an exception. */
static int buckets_add(PyObject *buckets, PyObject *field) {
    PyObject *o_bits = BUCKETS_SLOT(buckets, B_BITS), *o_n = BUCKETS_SLOT(buckets, B_N), *table = BUCKETS_SLOT(buckets, B_TABLE), *bucket, *o;
    Py_hash_t h = PyObject_Hash(field);
    long long bits, n;
    if (h == -1) return -1;
    if (!o_bits || !o_n || !table || !PyLong_CheckExact(o_bits) || !PyLong_CheckExact(o_n) || !PyList_CheckExact(table)) {
        PyErr_SetString(PyExc_TypeError, "a hash's buckets are (bits, table, n)");
        return -1;
    }
    bits = PyLong_AsLongLong(o_bits);
    n = PyLong_AsLongLong(o_n) + 1;
    bucket = PyList_GET_ITEM(table, (Py_ssize_t)((Py_uhash_t)h & (((Py_uhash_t)1 << bits) - 1)));
    if (!PyList_CheckExact(bucket)) {
        PyErr_SetString(PyExc_TypeError, "a bucket is a list");
        return -1;
    }
    if (PyList_Append(bucket, field) < 0 || !(o = PyLong_FromLongLong(n))) return -1;
    Py_SETREF(BUCKETS_SLOT(buckets, B_N), o);
    if (n > PyList_GET_SIZE(table)) {
        PyObject *b = PyLong_FromLongLong(bits + 1), *r = b ? PyObject_CallMethodOneArg(buckets, s_resize, b) : NULL;
        Py_XDECREF(b);
        if (!r) return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* HSET key f v... (hash_cmds._hset_pairs) onto a live hash with no field TTL: a
 * listpack takes the pairs when none could convert it (short enough, room for
 * every field), a hashtable files each new field in its bucket (_Buckets.add;
 * a resize is the Python method's).  The reply is the count of new fields. */
static int fast_hset(Fast *f, PyObject *key, Py_ssize_t first, long long pairs, PyObject **reply) {
    PyObject *found, *d, *buckets, *ttl;  /* borrowed */
    Py_ssize_t q, at, len;
    long long j, created = 0;
    int live = fast_live(f, key, hash_type, &found);
    if (live <= 0) return live;
    d = HASH_SLOT(found, H_D);
    buckets = HASH_SLOT(found, H_BUCKETS);
    ttl = HASH_SLOT(found, H_TTL);
    if (!d || !buckets || !ttl || !PyDict_CheckExact(d) || !PyDict_CheckExact(ttl) || PyDict_GET_SIZE(ttl)) return 0;
    if (buckets == Py_None) {  /* Hash.prepare and Hash.set's checks: nothing may convert it */
        long long entries = dict_limit(hash_limits, k_h_entries), value = dict_limit(hash_limits, k_h_value);
        if (entries < 0 || value < 0 || pairs > entries || PyDict_GET_SIZE(d) + pairs > entries) return 0;
        for (q = first, j = 0; j < 2 * pairs; j++) {
            fast_bulk(f->raw, &q, f->end, &at, &len);
            if (len > value) return 0;
        }
    } else if (Py_TYPE(buckets) != buckets_type) {
        return 0;
    }
    for (q = first, j = 0; j < pairs; j++) {
        PyObject *field, *value;
        int has, rc = 0;
        fast_bulk(f->raw, &q, f->end, &at, &len);
        field = PyBytes_FromStringAndSize(f->raw + at, len);
        fast_bulk(f->raw, &q, f->end, &at, &len);
        value = field ? PyBytes_FromStringAndSize(f->raw + at, len) : NULL;
        if (!value) { Py_XDECREF(field); return -1; }
        has = PyDict_Contains(d, field);
        if (has < 0 || PyDict_SetItem(d, field, value) < 0) rc = -1;
        else if (!has) {
            created++;
            if (buckets != Py_None) rc = buckets_add(buckets, field);
        }
        Py_DECREF(field);
        Py_DECREF(value);
        if (rc < 0) return -1;
    }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *reply = int_reply(created);
    return *reply ? 1 : -1;
}

/* SPOP key (set_cmds.cmd_spop without a count) from a live hashtable set that keeps a
 * member: ScanList.random's pick (random.randrange over the slots, holes skipped, so
 * the picks are Python's) and ScanList.remove.  *record: its AOF record, SREM key
 * member (a new reference).  Smaller encodings, and a pop that empties the set,
 * are Python's; a missing key's null is answered here, 2 (done, nothing to log). */
/* ScanList.remove of member m, which is there (its position in pos): a hole,
 * trailing holes dropped, compacted when holes outnumber members.  0, or -1. */
static int scan_remove(PyObject *big, PyObject *m) {
    PyObject *items = SCAN_SLOT(big, SC_ITEMS), *pos = SCAN_SLOT(big, SC_POS), *holes = SCAN_SLOT(big, SC_HOLES), *at, *o;
    Py_ssize_t i, n;
    long long h;
    if (!items || !pos || !holes || !PyList_CheckExact(items) || !PyDict_CheckExact(pos) || !PyLong_CheckExact(holes)) {
        PyErr_SetString(PyExc_TypeError, "a ScanList is (items, pos, holes)");
        return -1;
    }
    if (!(at = PyDict_GetItemWithError(pos, m))) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "not in the ScanList");
        return -1;
    }
    i = PyLong_AsSsize_t(at);
    if (i < 0 || i >= PyList_GET_SIZE(items)) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "ScanList position"); return -1; }
    h = PyLong_AsLongLong(holes) + 1;
    Py_INCREF(m);  /* pos and items may hold the last references */
    if (PyDict_DelItem(pos, m) < 0 || PyList_SetItem(items, i, Py_NewRef(Py_None)) < 0) { Py_DECREF(m); return -1; }
    Py_DECREF(m);
    while ((n = PyList_GET_SIZE(items)) && PyList_GET_ITEM(items, n - 1) == Py_None) {
        if (PyList_SetSlice(items, n - 1, n, NULL) < 0) return -1;
        h--;
    }
    if (!(o = PyLong_FromLongLong(h))) return -1;
    Py_SETREF(SCAN_SLOT(big, SC_HOLES), o);
    if (h > 32 && h > PyDict_GET_SIZE(pos)) {
        PyObject *r = PyObject_CallMethodNoArgs(big, s_compact);
        if (!r) return -1;
        Py_DECREF(r);
    }
    return 0;
}

static int fast_spop(Fast *f, PyObject *key, PyObject **reply, PyObject **record) {
    PyObject *found, *big, *items, *pos, *holes, *m;
    Py_ssize_t n, i;
    int live = fast_live(f, key, set_type, &found);
    if (live == 0 && !found) {  /* nothing to pop: a null, and nothing to log (ctx.rewrite = []) */
        *reply = PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
        return *reply ? 2 : -1;
    }
    if (live <= 0) return live;
    big = SET_SLOT(found, S_BIG);
    if (SET_SLOT(found, S_ENC) != enc_hashtable || !big || Py_TYPE(big) != scanlist_type) return 0;
    items = SCAN_SLOT(big, SC_ITEMS);
    pos = SCAN_SLOT(big, SC_POS);
    holes = SCAN_SLOT(big, SC_HOLES);
    if (!items || !pos || !holes || !PyList_CheckExact(items) || !PyDict_CheckExact(pos) || !PyLong_CheckExact(holes)) return 0;
    if (PyDict_GET_SIZE(pos) < 2 || !(n = PyList_GET_SIZE(items))) return 0;
    do {  /* ScanList.random */
        PyObject *arg = PyLong_FromSsize_t(n), *r = arg ? PyObject_CallOneArg(randrange, arg) : NULL;
        Py_XDECREF(arg);
        if (!r) return -1;
        i = PyLong_AsSsize_t(r);
        Py_DECREF(r);
        if (i < 0 || i >= n) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "randrange out of range"); return -1; }
        m = PyList_GET_ITEM(items, i);
    } while (m == Py_None);
    Py_INCREF(m);
    if (scan_remove(big, m) < 0) { Py_DECREF(m); return -1; }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) { Py_DECREF(m); return -1; }
    {
        const char *parts[3] = {"srem", PyBytes_AS_STRING(key), PyBytes_AS_STRING(m)};
        Py_ssize_t lens[3] = {4, PyBytes_GET_SIZE(key), PyBytes_GET_SIZE(m)};
        if (!(*record = record_of(3, parts, lens))) { Py_DECREF(m); return -1; }
    }
    *reply = bulk_reply(PyBytes_AS_STRING(m), PyBytes_GET_SIZE(m));
    Py_DECREF(m);
    if (!*reply) { Py_CLEAR(*record); return -1; }
    return 1;
}

/* LPOP/RPOP key (list_cmds._pop without a count) from a live list that keeps
 * at least one element and, as a quicklist, at least two nodes: nothing to
 * delete and no conversion back to a listpack (_removed), which stay Python's.
 * A missing key: a null, 2 (done, nothing to log). */
static int fast_pop(Fast *f, PyObject *key, int tail, PyObject **reply) {
    PyObject *found, *items, *lp, *nodes, *v;  /* borrowed */
    Py_ssize_t nitems, nn = 0;
    int live = fast_live(f, key, list_type, &found);
    if (live == 0 && !found) {  /* nothing to pop: a null, and nothing to log (ctx.rewrite = []) */
        *reply = PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
        return *reply ? 2 : -1;
    }
    if (live <= 0) return live;
    items = LIST_SLOT(found, L_ITEMS);
    lp = LIST_SLOT(found, L_LP_BYTES);
    nodes = LIST_SLOT(found, L_NODES);
    if (!items || !lp || !nodes || !PyLong_CheckExact(lp)) return 0;
    if ((nitems = PyObject_Size(items)) < 0) return -1;
    if (nitems < 2) return 0;
    if (nodes != Py_None) {
        if ((nn = PyObject_Size(nodes)) < 0) return -1;
        if (nn < 3) return 0;
    }
    if (!(v = PyObject_CallMethodNoArgs(items, tail ? s_pop : s_popleft))) return -1;
    if (!PyBytes_CheckExact(v)) { Py_DECREF(v); PyErr_SetString(PyExc_TypeError, "a list holds bytes"); return -1; }
    if (nodes == Py_None) {
        long long lp_bytes = PyLong_AsLongLong(lp);
        PyObject *o = lp_bytes == -1 && PyErr_Occurred() ? NULL : PyLong_FromLongLong(lp_bytes - lp_entry_size(v));
        if (!o) { Py_DECREF(v); return -1; }
        Py_SETREF(LIST_SLOT(found, L_LP_BYTES), o);
    } else {  /* _node_pop */
        long long nv[3], count, bytes, plain;
        PyObject *node = ql_end_node(nodes, nn, tail, nv);
        int rc;
        if (!node) { Py_DECREF(v); return -1; }
        count = nv[0];
        bytes = nv[1];
        plain = nv[2];
        if (count == 1) {
            PyObject *r = PyObject_CallMethodNoArgs(nodes, tail ? s_pop : s_popleft);
            rc = r ? 0 : -1;
            Py_XDECREF(r);
        } else {
            rc = node_set(node, 0, count - 1);
            if (rc == 0 && !plain) rc = node_set(node, 1, bytes - lp_entry_size(v));
        }
        Py_DECREF(node);
        if (rc < 0) { Py_DECREF(v); return -1; }
    }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) { Py_DECREF(v); return -1; }
    *reply = bulk_reply(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    Py_DECREF(v);
    return *reply ? 1 : -1;
}

/* SET key value EX|PX t, SETEX key seconds value, PSETEX key ms value
 * (strings._store_with_expiry with a relative time): the value stored with its
 * absolute expiry, *record its AOF record SET key value PXAT when (a new
 * reference).  A time that is not a positive integer or overflows (Python's
 * error) and an expired key (Python expires it first) are Python's. */
static int fast_set_ttl(Fast *f, PyObject *key, Py_ssize_t v_at, Py_ssize_t v_len, Py_ssize_t t_at, Py_ssize_t t_len, long long scale, PyObject **reply, PyObject **record) {
    PyObject *found, *value;
    long long amount, when;
    char digits[24];
    Py_ssize_t nd;
    int rc;
    if (!lp_string2ll((const unsigned char *)f->raw + t_at, t_len, &amount) || amount <= 0 || amount > LLONG_MAX / scale) return 0;
    if (amount * scale > LLONG_MAX - f->ms) return 0;
    when = amount * scale + f->ms;
    if ((rc = live_value(f, key, &found)) <= 0) return rc;  /* an expired key: Python expires it first */
    if (!(value = PyBytes_FromStringAndSize(f->raw + v_at, v_len))) return -1;
    rc = fast_store(f->data, f->expires, f->atime, f->by_slot, f->sec, key, value);
    Py_DECREF(value);
    if (rc < 0 || set_expiry(f, key, when, digits, &nd) < 0) return -1;
    {
        const char *parts[5] = {"SET", PyBytes_AS_STRING(key), f->raw + v_at, "PXAT", digits};
        Py_ssize_t lens[5] = {3, PyBytes_GET_SIZE(key), v_len, 4, nd};
        if (!(*record = record_of(5, parts, lens))) return -1;
    }
    *reply = Py_NewRef(reply_ok);
    return 1;
}

/* LRANGE key start stop (list_cmds.cmd_lrange) of a live list or no key: the
 * elements encoded straight from the deque, walked from the nearer end as
 * ListValue.range does.  Indexes that are not integers, another type and an
 * expired key are Python's. */
static int fast_lrange(Fast *f, PyObject *key, Py_ssize_t a_at, Py_ssize_t a_len, Py_ssize_t b_at, Py_ssize_t b_len, PyObject **reply) {
    PyObject *found, *items, *it, *v, **got = NULL;
    long long start, end;
    Py_ssize_t n, count, skip, j, size;
    int live, back, rc = -1;
    char *q;
    if (!lp_string2ll((const unsigned char *)f->raw + a_at, a_len, &start) || !lp_string2ll((const unsigned char *)f->raw + b_at, b_len, &end)) return 0;
    live = fast_live(f, key, list_type, &found);
    if (live == 0 && !found) {
        *reply = PyBytes_FromString("*0\r\n");
        return *reply ? 1 : -1;
    }
    if (live <= 0) return live;
    items = LIST_SLOT(found, L_ITEMS);
    if (!items || (n = PyObject_Size(items)) < 0) return items ? -1 : 0;
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    /* norm_range */
    if (start < 0) start += n;
    if (end < 0) end += n;
    if (start < 0) start = 0;
    if (start > end || start >= n) {
        *reply = PyBytes_FromString("*0\r\n");
        return *reply ? 1 : -1;
    }
    if (end > n - 1) end = n - 1;
    count = (Py_ssize_t)(end - start + 1);
    back = start > n - 1 - end;  /* nearer the tail: walk from there */
    skip = back ? (Py_ssize_t)(n - 1 - end) : (Py_ssize_t)start;
    it = back ? PyObject_CallMethodNoArgs(items, s_reversed) : PyObject_GetIter(items);
    if (!it) return -1;
    if (!(got = PyMem_Malloc((size_t)count * sizeof(PyObject *)))) { Py_DECREF(it); PyErr_NoMemory(); return -1; }
    size = 24;
    for (j = 0; j < skip + count; j++) {
        if (!(v = PyIter_Next(it))) break;
        Py_DECREF(v);  /* the list holds it while no Python runs */
        if (j < skip) continue;
        if (!PyBytes_CheckExact(v)) { rc = 0; goto out; }
        got[back ? count - 1 - (j - skip) : j - skip] = v;
        size += PyBytes_GET_SIZE(v) + 26;
    }
    if (j < skip + count) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "the list changed size");
        goto out;
    }
    if (!(*reply = PyBytes_FromStringAndSize(NULL, size))) goto out;
    q = put_header(PyBytes_AS_STRING(*reply), '*', count);
    for (j = 0; j < count; j++) q = fast_put_bulk(q, PyBytes_AS_STRING(got[j]), PyBytes_GET_SIZE(got[j]));
    if (_PyBytes_Resize(reply, q - PyBytes_AS_STRING(*reply)) < 0) goto out;
    rc = 1;
out:
    PyMem_Free(got);
    Py_DECREF(it);
    return rc;
}

/* -- sorted sets: ZADD key score member and ZPOPMIN/ZPOPMAX key, the twins of
 * zset_cmds.cmd_zadd's quick path and ZSetValue.insert / update / pop_one
 * (shardserver/shard/types/zset.py: the scores dict, the RankedList's blocks,
 * their scores side by side, the Fenwick tree, and a skiplist's ScanList).
 * A block that splits, merges or empties goes through the RankedList's Python
 * methods; a new key, a conversion and a pop that empties the set stay Python's. */
static PyObject *item_bisect(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
static int item_cmp(PyObject *item, double score, const char *m, Py_ssize_t mlen, int *out);
static PyObject *reply_array(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
static PyTypeObject *zset_type, *ranked_type;
static Py_ssize_t zset_off[4], ranked_off[7];  /* ZSetValue: enc, scores, index, scan_list; RankedList: blocks .. steps */
static PyObject *zset_limits, *enc_zlistpack, *k_z_entries, *k_z_value, *s_insert, *s_split, *s_add, *s_remove, *s_pop_one;
static long long ranked_load;  /* RankedList.LOAD */
enum { Z_ENC, Z_SCORES, Z_INDEX, Z_SCAN };
enum { R_BLOCKS, R_BSCORES, R_MAXES, R_MSCORES, R_TREE, R_SIZE, R_STEPS };
#define ZSET_SLOT(o, i) (*(PyObject **)((char *)(o) + zset_off[i]))
#define RANKED_SLOT(o, i) (*(PyObject **)((char *)(o) + ranked_off[i]))

static PyObject *configure_zsets(PyObject *self, PyObject *args) {
    static const char *const zset_names[4] = {"enc", "scores", "index", "scan_list"};
    static const char *const ranked_names[7] = {"blocks", "bscores", "maxes", "mscores", "tree", "size", "steps"};
    PyObject *ztype, *rtype, *ltype, *limits, *lp, *load;
    if (!PyArg_ParseTuple(args, "O!O!O!O!U", &PyType_Type, &ztype, &PyType_Type, &rtype, &PyType_Type, &ltype, &PyDict_Type, &limits, &lp)) return NULL;
    if (scanlist_type && ltype != (PyObject *)scanlist_type) { PyErr_SetString(PyExc_TypeError, "configure_zsets(): sets and sorted sets share one ScanList"); return NULL; }
    if (slot_offsets(ztype, zset_names, 4, zset_off) < 0 || slot_offsets(rtype, ranked_names, 7, ranked_off) < 0) return NULL;
    if (!scanlist_type) {
        if (slot_offsets(ltype, scan_names, 3, scan_off) < 0) return NULL;
        keep((PyObject **)&scanlist_type, ltype);
    }
    if (!(load = PyObject_GetAttrString(rtype, "LOAD"))) return NULL;
    ranked_load = PyLong_AsLongLong(load);
    Py_DECREF(load);
    if (ranked_load < 1) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "RankedList.LOAD must be positive"); return NULL; }
    if (!k_z_entries && (!(k_z_entries = PyUnicode_InternFromString("zset-max-listpack-entries")) || !(k_z_value = PyUnicode_InternFromString("zset-max-listpack-value")) ||
                         !(s_insert = PyUnicode_InternFromString("insert")) || !(s_split = PyUnicode_InternFromString("_split")) ||
                         !(s_add = PyUnicode_InternFromString("add")) || !(s_remove = PyUnicode_InternFromString("remove")) ||
                         !(s_pop_one = PyUnicode_InternFromString("pop_one")))) return NULL;
    if (!s_compact && !(s_compact = PyUnicode_InternFromString("_compact"))) return NULL;
    keep((PyObject **)&zset_type, ztype);
    keep((PyObject **)&ranked_type, rtype);
    keep(&zset_limits, limits);
    keep(&enc_zlistpack, lp);
    Py_RETURN_NONE;
}

/* the RankedList of a live sorted set, its fields checked; NULL (no exception) when
 * they are not what the twins expect */
static PyObject *zset_index(PyObject *z, PyObject **scores, PyObject **scan) {
    PyObject *index = ZSET_SLOT(z, Z_INDEX), *b, *bs, *mx, *ms, *tree, *size, *steps;
    *scores = ZSET_SLOT(z, Z_SCORES);
    *scan = ZSET_SLOT(z, Z_SCAN);
    if (!index || !*scores || !*scan || !ZSET_SLOT(z, Z_ENC) || Py_TYPE(index) != ranked_type || !PyDict_CheckExact(*scores)) return NULL;
    if (*scan != Py_None && Py_TYPE(*scan) != scanlist_type) return NULL;
    b = RANKED_SLOT(index, R_BLOCKS);
    bs = RANKED_SLOT(index, R_BSCORES);
    mx = RANKED_SLOT(index, R_MAXES);
    ms = RANKED_SLOT(index, R_MSCORES);
    tree = RANKED_SLOT(index, R_TREE);
    size = RANKED_SLOT(index, R_SIZE);
    steps = RANKED_SLOT(index, R_STEPS);
    if (!b || !bs || !mx || !ms || !tree || !size || !steps || !PyList_CheckExact(b) || !PyList_CheckExact(bs) || !PyList_CheckExact(mx) ||
        (tree != Py_None && !PyList_CheckExact(tree)) || !PyLong_CheckExact(size) || !PyLong_CheckExact(steps) ||
        !PyList_GET_SIZE(b) || PyList_GET_SIZE(bs) != PyList_GET_SIZE(b) || PyList_GET_SIZE(mx) != PyList_GET_SIZE(b))
        return NULL;
    return index;
}

/* a RankedList int field (size, steps) plus delta */
static int ranked_add(PyObject *index, int field, long long delta) {
    PyObject *o = RANKED_SLOT(index, field);
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (!(o = PyLong_FromLongLong(v + delta))) return -1;
    Py_SETREF(RANKED_SLOT(index, field), o);
    return 0;
}

/* RankedList._tree_add: the Fenwick tree (when built) over block sizes; the steps it took */
static long long ranked_tree_add(PyObject *index, Py_ssize_t block, long long delta) {
    PyObject *tree = RANKED_SLOT(index, R_TREE);
    Py_ssize_t i = block + 1, n;
    long long steps = 0;
    if (tree == Py_None) return 0;
    n = PyList_GET_SIZE(tree);
    for (; i < n; i += i & -i, steps++) {
        PyObject *o = PyList_GET_ITEM(tree, i);
        long long v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (!(o = PyLong_FromLongLong(v + delta)) || PyList_SetItem(tree, i, o) < 0) return -1;
    }
    return steps;
}

/* arr.append(score) (at < 0) or arr.insert(at, score): an array('d') of scores */
static int scores_put(PyObject *arr, Py_ssize_t at, double score) {
    PyObject *s = PyFloat_FromDouble(score), *i = NULL, *r;
    if (!s) return -1;
    if (at < 0) r = PyObject_CallMethodOneArg(arr, s_append, s);
    else r = (i = PyLong_FromSsize_t(at)) ? PyObject_CallMethodObjArgs(arr, s_insert, i, s, NULL) : NULL;
    Py_XDECREF(i);
    Py_DECREF(s);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

/* bisect_left (right: bisect_right) of (score, member) in a RankedList's list of items
 * with its scores side by side (item_bisect); -1 with an exception */
static Py_ssize_t ranked_bisect(PyObject *items, PyObject *scores, PyObject *fscore, PyObject *member, int right) {
    PyObject *args[5] = {items, fscore, member, right ? Py_True : Py_False, scores}, *r = item_bisect(NULL, args, 5);
    Py_ssize_t at;
    if (!r) return -1;
    at = PyLong_AsSsize_t(r);
    Py_DECREF(r);
    return at;
}

/* RankedList.add((score, member)): into its block, which _split (the Python method)
 * cuts when it outgrew 2 * LOAD; an empty list is the Python method's.  0, or -1. */
static int ranked_insert(PyObject *index, PyObject *fscore, PyObject *member) {
    PyObject *blocks = RANKED_SLOT(index, R_BLOCKS), *maxes = RANKED_SLOT(index, R_MAXES), *mscores = RANKED_SLOT(index, R_MSCORES), *block, *bs, *item, *r;
    Py_ssize_t nb = PyList_GET_SIZE(blocks), b, i;
    long long steps = 1, t;
    double score = PyFloat_AS_DOUBLE(fscore);
    if (!(item = PyTuple_Pack(2, fscore, member))) return -1;
    if (!nb) {
        r = PyObject_CallMethodOneArg(index, s_add, item);
        Py_DECREF(item);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    if ((b = ranked_bisect(maxes, mscores, fscore, member, 0)) < 0) goto fail;
    if (b >= nb) {  /* after every item: the last block's end, its new max */
        b = nb - 1;
        block = PyList_GET_ITEM(blocks, b);
        bs = PyList_GET_ITEM(RANKED_SLOT(index, R_BSCORES), b);
        if (PyList_Append(block, item) < 0 || scores_put(bs, -1, score) < 0) goto fail;
        if (PyList_SetItem(maxes, b, Py_NewRef(item)) < 0 || PySequence_SetItem(mscores, b, fscore) < 0) goto fail;
    } else {
        block = PyList_GET_ITEM(blocks, b);
        bs = PyList_GET_ITEM(RANKED_SLOT(index, R_BSCORES), b);
        if ((i = ranked_bisect(block, bs, fscore, member, 1)) < 0 || PyList_Insert(block, i, item) < 0 || scores_put(bs, i, score) < 0) goto fail;
    }
    Py_DECREF(item);
    steps += 1 + (PyList_GET_SIZE(block) >> 6);
    if (PyList_GET_SIZE(block) > 2 * ranked_load) {
        PyObject *at = PyLong_FromSsize_t(b);
        r = at ? PyObject_CallMethodOneArg(index, s_split, at) : NULL;
        Py_XDECREF(at);
        if (!r) return -1;
        Py_DECREF(r);
        t = 0;
    } else if ((t = ranked_tree_add(index, b, 1)) < 0) {
        return -1;
    }
    return ranked_add(index, R_SIZE, 1) < 0 || ranked_add(index, R_STEPS, steps + t) < 0 ? -1 : 0;
fail:
    Py_DECREF(item);
    return -1;
}

/* RankedList.remove((score, member)), which is there: from its block, or the Python
 * method when the block empties or merges with a neighbour.  0, or -1. */
static int ranked_delete(PyObject *index, PyObject *fscore, PyObject *member) {
    PyObject *blocks = RANKED_SLOT(index, R_BLOCKS), *block, *bs, *last;
    Py_ssize_t nb = PyList_GET_SIZE(blocks), b, i, n;
    long long t;
    int c;
    if ((b = ranked_bisect(RANKED_SLOT(index, R_MAXES), RANKED_SLOT(index, R_MSCORES), fscore, member, 0)) < 0) return -1;
    if (b >= nb) { PyErr_SetString(PyExc_KeyError, "not in the RankedList"); return -1; }
    block = PyList_GET_ITEM(blocks, b);
    bs = PyList_GET_ITEM(RANKED_SLOT(index, R_BSCORES), b);
    if ((i = ranked_bisect(block, bs, fscore, member, 0)) < 0) return -1;
    n = PyList_GET_SIZE(block);
    if (i >= n || item_cmp(PyList_GET_ITEM(block, i), PyFloat_AS_DOUBLE(fscore), PyBytes_AS_STRING(member), PyBytes_GET_SIZE(member), &c) < 0 || c) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "not in the RankedList");
        return -1;
    }
    if (n == 1 || (n - 1 < ranked_load >> 2 && nb > 1)) {
        PyObject *item = PyTuple_Pack(2, fscore, member), *r = item ? PyObject_CallMethodOneArg(index, s_remove, item) : NULL;
        Py_XDECREF(item);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    if (PyList_SetSlice(block, i, i + 1, NULL) < 0 || PySequence_DelItem(bs, i) < 0) return -1;
    last = PyList_GET_ITEM(block, n - 2);
    if (PyList_SetItem(RANKED_SLOT(index, R_MAXES), b, Py_NewRef(last)) < 0 || !PyTuple_CheckExact(last) ||
        PySequence_SetItem(RANKED_SLOT(index, R_MSCORES), b, PyTuple_GET_ITEM(last, 0)) < 0) return -1;
    if ((t = ranked_tree_add(index, b, -1)) < 0) return -1;
    return ranked_add(index, R_SIZE, -1) < 0 || ranked_add(index, R_STEPS, 2 + (n >> 6) + t) < 0 ? -1 : 0;
}

/* a plain decimal score, [-]digits[.digits] of at most 30 bytes (no exponent, no
 * overflow or underflow to check): strtod's value as parse_score reads it; 0 when
 * Python must parse it */
static int zscore_plain(const char *p, Py_ssize_t n, double *out) {
    char buf[32], *end;
    Py_ssize_t i = 0, digits = 0;
    int dot = 0;
    if (n < 1 || n > 30) return 0;
    if (p[0] == '-') i = 1;
    for (; i < n; i++) {
        if (p[i] >= '0' && p[i] <= '9') digits++;
        else if (p[i] == '.' && !dot && digits) { dot = 1; if (i == n - 1) return 0; }
        else return 0;
    }
    if (!digits) return 0;
    memcpy(buf, p, (size_t)n);
    buf[n] = '\0';
    *out = strtod(buf, &end);
    return end == buf + n;
}

/* ZADD key score member (cmd_zadd's quick path) into a live sorted set: a new member
 * (ZSetValue.insert, RankedList.add, ScanList.add), a new score (ZSetValue.update), or
 * the same score again, which answers 0 and changes nothing (*unchanged: not logged).
 * A score given another way, a new key and a conversion are Python's. */
static int fast_zadd(Fast *f, PyObject *key, Py_ssize_t score_at, Py_ssize_t score_len, Py_ssize_t m_at, Py_ssize_t m_len, int *unchanged, PyObject **reply) {
    PyObject *found, *scores, *scan, *index, *member, *cur, *fscore = NULL;
    long long entries = 0;
    double score, old_score;
    int live, listpack, rc = -1;
    if (!zscore_plain(f->raw + score_at, score_len, &score)) return 0;
    if ((live = fast_live(f, key, zset_type, &found)) <= 0) return live;
    if (!(index = zset_index(found, &scores, &scan))) return 0;
    listpack = ZSET_SLOT(found, Z_ENC) == enc_zlistpack;
    if (listpack) {  /* zsetTypeMaybeConvert(1, len(member)) */
        long long value = dict_limit(zset_limits, k_z_value);
        entries = dict_limit(zset_limits, k_z_entries);
        if (entries < 1 || value < 0 || m_len > value) return 0;
        if (!score) score = 0.0;  /* -0 stored as 0 */
    } else if (scan == Py_None) {
        return 0;
    }
    if (!(member = PyBytes_FromStringAndSize(f->raw + m_at, m_len))) return -1;
    if (!(cur = PyDict_GetItemWithError(scores, member))) {
        if (PyErr_Occurred()) goto out;
        if (listpack && PyDict_GET_SIZE(scores) + 1 > entries) { rc = 0; goto out; }  /* insert converts it: Python's */
    } else if (!PyFloat_CheckExact(cur)) {
        rc = 0;
        goto out;
    } else if (PyFloat_AS_DOUBLE(cur) == score) {
        *unchanged = 1;
        goto done;
    }
    old_score = cur ? PyFloat_AS_DOUBLE(cur) : 0.0;  /* read before the dict lets go of cur */
    if (!(fscore = PyFloat_FromDouble(score)) || PyDict_SetItem(scores, member, fscore) < 0) goto out;
    if (cur) {  /* ZSetValue.update: out of the index at the old score */
        PyObject *old = PyFloat_FromDouble(old_score);
        int r = old ? ranked_delete(index, old, member) : -1;
        Py_XDECREF(old);
        if (r < 0 || ranked_insert(index, fscore, member) < 0) goto out;
    } else {
        if (ranked_insert(index, fscore, member) < 0) goto out;
        if (scan != Py_None) {  /* ScanList.add */
            PyObject *items = SCAN_SLOT(scan, SC_ITEMS), *pos = SCAN_SLOT(scan, SC_POS), *at;
            int bad;
            if (!items || !pos || !PyList_CheckExact(items) || !PyDict_CheckExact(pos)) { PyErr_SetString(PyExc_TypeError, "a ScanList is (items, pos, holes)"); goto out; }
            if (!(at = PyLong_FromSsize_t(PyList_GET_SIZE(items)))) goto out;
            bad = PyDict_SetItem(pos, member, at) < 0 || PyList_Append(items, member) < 0;
            Py_DECREF(at);
            if (bad) goto out;
        }
    }
done:
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) goto out;
    *reply = int_reply(cur ? 0 : 1);
    rc = *reply ? 1 : -1;
out:
    Py_XDECREF(fscore);
    Py_DECREF(member);
    return rc;
}

/* ZPOPMIN/ZPOPMAX key (zset_cmds._zpop without a count) from a live sorted set that
 * keeps a member: RankedList.pop_one (its end block emptied by the Python method),
 * then the member out of the scores and the ScanList; the reply [member, score].  A
 * missing key: an empty array, 2 (done, nothing to log). */
static int fast_zpop(Fast *f, PyObject *key, int maximum, PyObject **reply) {
    PyObject *found, *scores, *scan, *index, *blocks, *block, *bs, *item, *r, *pair;
    Py_ssize_t b, n;
    long long t;
    int live = fast_live(f, key, zset_type, &found);
    if (live == 0 && !found) {
        *reply = PyBytes_FromString("*0\r\n");
        return *reply ? 2 : -1;
    }
    if (live <= 0) return live;
    if (!(index = zset_index(found, &scores, &scan))) return 0;
    if (PyDict_GET_SIZE(scores) < 2) return 0;  /* the last member: Python deletes the key */
    blocks = RANKED_SLOT(index, R_BLOCKS);
    b = maximum ? PyList_GET_SIZE(blocks) - 1 : 0;
    block = PyList_GET_ITEM(blocks, b);
    bs = PyList_GET_ITEM(RANKED_SLOT(index, R_BSCORES), b);
    if (!PyList_CheckExact(block) || !(n = PyList_GET_SIZE(block))) return 0;
    if (n == 1) {  /* the block goes */
        if (!(item = PyObject_CallMethodOneArg(index, s_pop_one, maximum ? Py_True : Py_False))) return -1;
    } else {
        item = Py_NewRef(PyList_GET_ITEM(block, maximum ? n - 1 : 0));
        if (maximum) {
            PyObject *last;
            if (PyList_SetSlice(block, n - 1, n, NULL) < 0 || !(r = PyObject_CallMethodNoArgs(bs, s_pop))) goto fail;
            Py_DECREF(r);
            last = PyList_GET_ITEM(block, n - 2);
            if (PyList_SetItem(RANKED_SLOT(index, R_MAXES), b, Py_NewRef(last)) < 0 || !PyTuple_CheckExact(last) ||
                PySequence_SetItem(RANKED_SLOT(index, R_MSCORES), b, PyTuple_GET_ITEM(last, 0)) < 0) goto fail;
        } else if (PyList_SetSlice(block, 0, 1, NULL) < 0 || PySequence_DelItem(bs, 0) < 0) {
            goto fail;
        }
        if ((t = ranked_tree_add(index, b, -1)) < 0 || ranked_add(index, R_SIZE, -1) < 0 || ranked_add(index, R_STEPS, 2 + t) < 0) goto fail;
    }
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 1))) {
        PyErr_SetString(PyExc_TypeError, "a RankedList holds (score, member) tuples");
        goto fail;
    }
    if (PyDict_DelItem(scores, PyTuple_GET_ITEM(item, 1)) < 0) goto fail;
    if (scan != Py_None && scan_remove(scan, PyTuple_GET_ITEM(item, 1)) < 0) goto fail;
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) goto fail;
    if (!(pair = PyList_New(2))) goto fail;
    PyList_SET_ITEM(pair, 0, Py_NewRef(PyTuple_GET_ITEM(item, 1)));
    PyList_SET_ITEM(pair, 1, Py_NewRef(PyTuple_GET_ITEM(item, 0)));
    {
        PyObject *args[2] = {pair, f->resp3 ? Py_True : Py_False};
        *reply = reply_array(NULL, args, 2);
    }
    Py_DECREF(pair);
    Py_DECREF(item);
    return *reply ? 1 : -1;
fail:
    Py_DECREF(item);
    return -1;
}

/* -- streams: XADD key * field value..., Stream.append's twin onto the last node
 * (shardserver/shard/types/stream.py: the auto ID, the node's IDs, entries and
 * listpack byte count).  A new key, options, an explicit ID, a new node and the
 * errors stay Python's. */
static PyTypeObject *stream_type, *snode_type;
static Py_ssize_t stream_off[9], snode_off[9];
static PyObject *stream_limits, *k_node_bytes, *k_node_entries;
enum { ST_KEYS, ST_NODES, ST_LENGTH, ST_LAST, ST_FIRST, ST_MAXDEL, ST_ADDED, ST_GROUPS, ST_RAX };
enum { N_KEY, N_KEY_MS, N_KEY_SEQ, N_LAST, N_IDS, N_ENTRIES, N_USED, N_MASTER, N_BODY };
#define STREAM_SLOT(o, i) (*(PyObject **)((char *)(o) + stream_off[i]))
#define SNODE_SLOT(o, i) (*(PyObject **)((char *)(o) + snode_off[i]))

static PyObject *configure_streams(PyObject *self, PyObject *args) {
    static const char *const stream_names[9] = {"keys", "nodes", "length", "last_id", "first_id", "max_deleted", "entries_added", "groups", "_rax_nodes"};
    static const char *const node_names[9] = {"key", "key_ms", "key_seq", "last", "ids", "entries", "used", "master", "body_bytes"};
    PyObject *stype, *ntype, *limits;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyType_Type, &stype, &PyType_Type, &ntype, &PyDict_Type, &limits)) return NULL;
    if (slot_offsets(stype, stream_names, 9, stream_off) < 0 || slot_offsets(ntype, node_names, 9, snode_off) < 0) return NULL;
    if (!k_node_bytes && (!(k_node_bytes = PyUnicode_InternFromString("stream-node-max-bytes")) || !(k_node_entries = PyUnicode_InternFromString("stream-node-max-entries")))) return NULL;
    keep((PyObject **)&stream_type, stype);
    keep((PyObject **)&snode_type, ntype);
    keep(&stream_limits, limits);
    Py_RETURN_NONE;
}

/* an ID (a Python int below 2**128) as its ms and seq halves; 0, or -1 */
static int id_halves(PyObject *id, uint64_t *ms, uint64_t *seq) {
    unsigned char b[16];
    int i;
    if (!PyLong_CheckExact(id) || _PyLong_AsByteArray((PyLongObject *)id, b, 16, 1, 0) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a stream ID is an int");
        return -1;
    }
    *ms = *seq = 0;
    for (i = 7; i >= 0; i--) {
        *seq = *seq << 8 | b[i];
        *ms = *ms << 8 | b[i + 8];
    }
    return 0;
}

static PyObject *id_object(uint64_t ms, uint64_t seq) {
    unsigned char b[16];
    int i;
    for (i = 0; i < 8; i++) {
        b[i] = (unsigned char)(seq >> (8 * i));
        b[i + 8] = (unsigned char)(ms >> (8 * i));
    }
    return _PyLong_FromByteArray(b, 16, 1, 0);
}

/* a slot holding an int, plus delta */
static int slot_int_add(PyObject **slot, long long delta) {
    long long v;
    PyObject *o;
    if (!*slot || !PyLong_CheckExact(*slot)) { PyErr_SetString(PyExc_TypeError, "an int field"); return -1; }
    if ((v = PyLong_AsLongLong(*slot)) == -1 && PyErr_Occurred()) return -1;
    if (!(o = PyLong_FromLongLong(v + delta))) return -1;
    Py_SETREF(*slot, o);
    return 0;
}

/* XADD key * f v ... (stream_cmds.cmd_xadd without options) onto a live stream whose
 * last node takes the entry: the fields and values are raw[first:end] (nvals of
 * them); *record: its AOF record, with the new ID in place of the * (a new
 * reference); the reply is the ID. */
static int fast_xadd(Fast *f, PyObject *key, const char *name, Py_ssize_t name_len, Py_ssize_t first, Py_ssize_t end, long long nvals, PyObject **reply, PyObject **record) {
    PyObject *found, *nodes, *node, *fv, *id_obj = NULL, *o;
    Py_ssize_t q, at, len, lp_bytes, nb = 0, size;
    long long j, live, used, max_bytes, max_entries, length, body;
    uint64_t last_ms, last_seq, ms, seq, key_ms, key_seq;
    char text[48], *w;
    int tn, live_rc, rc = -1;
    if (f->ms <= 0) return 0;  /* no real clock (a replay): Python's */
    if ((live_rc = fast_live(f, key, stream_type, &found)) <= 0) return live_rc;
    nodes = STREAM_SLOT(found, ST_NODES);
    if (!nodes || !PyList_CheckExact(nodes) || !PyList_GET_SIZE(nodes)) return 0;
    /* a node keeps a live entry (delete and trim drop empty ones), so first_id stays; else Python's */
    if (!STREAM_SLOT(found, ST_LENGTH) || !PyLong_CheckExact(STREAM_SLOT(found, ST_LENGTH))) return 0;
    if ((length = PyLong_AsLongLong(STREAM_SLOT(found, ST_LENGTH))) < 1) return PyErr_Occurred() ? -1 : 0;
    node = PyList_GET_ITEM(nodes, PyList_GET_SIZE(nodes) - 1);
    if (Py_TYPE(node) != snode_type || !SNODE_SLOT(node, N_IDS) || !PyList_CheckExact(SNODE_SLOT(node, N_IDS)) || !SNODE_SLOT(node, N_ENTRIES) ||
        !PyList_CheckExact(SNODE_SLOT(node, N_ENTRIES)) || !SNODE_SLOT(node, N_MASTER) || !PyTuple_CheckExact(SNODE_SLOT(node, N_MASTER))) return 0;
    if (id_halves(STREAM_SLOT(found, ST_LAST), &last_ms, &last_seq) < 0) return -1;
    if ((uint64_t)f->ms > last_ms) { ms = (uint64_t)f->ms; seq = 0; }   /* streamNextID */
    else if (last_seq != UINT64_MAX) { ms = last_ms; seq = last_seq + 1; }
    else if (last_ms != UINT64_MAX) { ms = last_ms + 1; seq = 0; }
    else return 0;  /* exhausted: Python's error */
    for (q = first, j = 0; j < nvals; j++) {
        fast_bulk(f->raw, &q, f->end, &at, &len);  /* validated by the caller */
        nb += len;
    }
    if (nb > (1 << 30)) return 0;
    /* Stream.append: the last node, unless it is full (a new node is Python's) */
    max_bytes = dict_limit(stream_limits, k_node_bytes);
    max_entries = dict_limit(stream_limits, k_node_entries);
    if (max_bytes < 0 || max_entries < 0) return 0;
    if (max_bytes == 0 || max_bytes > (1 << 30)) max_bytes = 1 << 30;
    live = PyList_GET_SIZE(SNODE_SLOT(node, N_IDS));
    if (!SNODE_SLOT(node, N_USED) || !SNODE_SLOT(node, N_BODY) || !PyLong_CheckExact(SNODE_SLOT(node, N_USED)) || !PyLong_CheckExact(SNODE_SLOT(node, N_BODY))) return 0;
    used = PyLong_AsLongLong(SNODE_SLOT(node, N_USED));
    body = PyLong_AsLongLong(SNODE_SLOT(node, N_BODY));
    if (PyErr_Occurred()) return -1;
    lp_bytes = 7 + lp_int_size(live) + lp_int_size(used - live) + body;  /* _Node.lp_bytes */
    if (lp_bytes + nb >= max_bytes || (max_entries && used >= max_entries)) return 0;
    if (!SNODE_SLOT(node, N_KEY_MS) || !SNODE_SLOT(node, N_KEY_SEQ)) return 0;
    key_ms = PyLong_AsUnsignedLongLong(SNODE_SLOT(node, N_KEY_MS));
    key_seq = PyLong_AsUnsignedLongLong(SNODE_SLOT(node, N_KEY_SEQ));
    if (PyErr_Occurred()) return -1;
    if (!(fv = PyTuple_New((Py_ssize_t)nvals))) return -1;
    for (q = first, j = 0; j < nvals; j++) {
        fast_bulk(f->raw, &q, f->end, &at, &len);
        if (!(o = PyBytes_FromStringAndSize(f->raw + at, len))) goto out;
        PyTuple_SET_ITEM(fv, j, o);
    }
    /* _Node.append: the entry's bytes by its ID's int64 deltas from the master ID (wrapping as Valkey's) */
    size = stream_entry_size(SNODE_SLOT(node, N_MASTER), fv, (long long)(ms - key_ms), (long long)(seq - key_seq));
    if (!(id_obj = id_object(ms, seq))) goto out;
    if (PyList_Append(SNODE_SLOT(node, N_IDS), id_obj) < 0 || PyList_Append(SNODE_SLOT(node, N_ENTRIES), fv) < 0) goto out;
    if (slot_int_add(&SNODE_SLOT(node, N_BODY), size) < 0 || slot_int_add(&SNODE_SLOT(node, N_USED), 1) < 0) goto out;
    Py_XSETREF(SNODE_SLOT(node, N_LAST), Py_NewRef(id_obj));
    if (slot_int_add(&STREAM_SLOT(found, ST_LENGTH), 1) < 0 || slot_int_add(&STREAM_SLOT(found, ST_ADDED), 1) < 0) goto out;
    Py_XSETREF(STREAM_SLOT(found, ST_LAST), Py_NewRef(id_obj));
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) goto out;
    tn = snprintf(text, sizeof text, "%llu-%llu", (unsigned long long)ms, (unsigned long long)seq);
    if (!(*reply = bulk_reply(text, tn))) goto out;
    /* the record: *argc, the name as sent, the key, the ID, then the fields and values as sent */
    if (!(*record = PyBytes_FromStringAndSize(NULL, 3 * 24 + name_len + PyBytes_GET_SIZE(key) + tn + (end - first)))) { Py_CLEAR(*reply); goto out; }
    w = put_header(PyBytes_AS_STRING(*record), '*', nvals + 3);
    w = fast_put_bulk(w, name, name_len);
    w = fast_put_bulk(w, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key));
    w = fast_put_bulk(w, text, tn);
    memcpy(w, f->raw + first, (size_t)(end - first));
    w += end - first;
    if (_PyBytes_Resize(record, w - PyBytes_AS_STRING(*record)) < 0) { Py_CLEAR(*reply); goto out; }
    rc = 1;
out:
    Py_XDECREF(id_obj);
    Py_DECREF(fv);
    return rc;
}

/* Prefetch the keys of the commands from raw[pos] on, up to PREFETCH_WINDOW
 * keys; returns where the scan stopped (the next window starts there). */
#ifdef HAVE_DICT_PREFETCH
/* hashes of the keys of the commands from raw[pos] on, at most PREFETCH_WINDOW - *n
 * more into hs; returns where it stopped (end: every command's keys taken) */
static Py_ssize_t hash_window(const char *raw, Py_ssize_t pos, Py_ssize_t end, Py_hash_t *hs, int *n) {
    while (pos < end && *n < PREFETCH_WINDOW) {
        Py_ssize_t at[SCAN_ARGS], len[SCAN_ARGS], next;
        int argc = scan_command(raw, pos, end, LLONG_MAX, at, len, &next), j;
        int every = 0;  /* 1: MGET, every argument a key; 2: MSET, every other one */
        if (argc < 2) break;
        if (len[0] == 4 && (raw[at[0]] | 0x20) == 'm' && (raw[at[0] + 2] | 0x20) == 'e' && (raw[at[0] + 3] | 0x20) == 't')
            every = (raw[at[0] + 1] | 0x20) == 'g' ? 1 : (raw[at[0] + 1] | 0x20) == 's' ? 2 : 0;
        for (j = 1; j < argc && *n < PREFETCH_WINDOW; j++) {
            if (j == 1 || every == 1 || (every == 2 && j % 2 == 1)) {
                hs[*n] = _Py_HashBytes(raw + at[j], len[j]);
                hash_cache[*n].at = raw + at[j];
                hash_cache[*n].len = len[j];
                hash_cache[*n].h = hs[*n];
                (*n)++;
            }
        }
        if (j < argc) break;  /* this command's keys did not all fit */
        pos = next;
    }
    return pos;
}

/* prefetch the keys of the window hash_window filled (hs[:n]); its places become key_hash's cache */
static void prefetch_hashes(Fast *f, const Py_hash_t *hs, int n) {
    DictKeys311 *dicts[3];
    int nd = 0, stage, d;
    hash_cache_n = n;
    hash_cache_next = 0;
    if (!n) return;
    if ((dicts[nd] = prefetchable(f->data))) nd++;
    if ((dicts[nd] = prefetchable(f->atime))) nd++;  /* GET (unless NO_TOUCH) and every write set it */
    if ((dicts[nd] = prefetchable(f->expires))) nd++;
    for (stage = 0; stage < 3; stage++)
        for (d = 0; d < nd; d++) dict_prefetch(dicts[d], hs, n, stage);
}
#endif

static Py_ssize_t prefetch_window(Fast *f, Py_ssize_t pos) {
#ifdef HAVE_DICT_PREFETCH
    Py_hash_t hs[PREFETCH_WINDOW];
    int n = 0;
    pos = hash_window(f->raw, pos, f->end, hs, &n);
    prefetch_hashes(f, hs, n);
    return pos;
#else
    (void)f;
    return f->end;
#endif
}

/*
 * The handlers' path inside strings_loop: a command the fast path does not
 * take runs through its Python handler from here, as ShardWorker.execute_message's
 * loop (its twin) would run it: the handler by name as spelled or in lower
 * case, CommandError as an error reply (counted as failed, in errorstats), any
 * other exception as an internal error (logged), a write logged to the AOF when
 * it succeeded, the time since the previous command to its statistics entry
 * and the slow log, the reply encoded.  f->py is the tuple
 * (ctx, clock, handlers, write_names, read_names, journal or None, CommandError,
 * ErrorReply, OK, encode_reply(value, resp3, argv), internal_error(argv, exc),
 * stats_error(text)).  It leaves to Python (returns 0, nothing changed) a
 * command it cannot parse, without a handler or a statistics entry yet, and a
 * write under MISCONF.  1: done (*next after it), -1: error.
 */
enum { PY_CTX, PY_CLOCK, PY_HANDLERS, PY_WRITES, PY_READS, PY_JOURNAL, PY_CMDERR, PY_ERRREPLY, PY_OK, PY_ENCODE, PY_INTERNAL, PY_STATERR, PY_N };
static PyObject *s_db, *s_touch, *s_resp3, *s_rewrite, *s_text, *s_log;

/* a bytes object's lower-case copy */
static PyObject *lower_bytes(PyObject *b) {
    Py_ssize_t i, n = PyBytes_GET_SIZE(b);
    PyObject *out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(b), n);
    if (!out) return NULL;
    for (i = 0; i < n; i++) PyBytes_AS_STRING(out)[i] = (char)tolower((unsigned char)PyBytes_AS_STRING(out)[i]);
    return out;
}

/* 1: argv[0] is a write the AOF logs (ShardWorker.is_write), 0: not, -1: error */
static int py_is_write(PyObject *py, PyObject *name) {
    PyObject *lower;
    int r = PySet_Contains(PyTuple_GET_ITEM(py, PY_WRITES), name);
    if (r) return r;
    if ((r = PySet_Contains(PyTuple_GET_ITEM(py, PY_READS), name))) return r < 0 ? -1 : 0;
    if (!(lower = lower_bytes(name))) return -1;
    r = PySet_Contains(PyTuple_GET_ITEM(py, PY_WRITES), lower);
    Py_DECREF(lower);
    return r;
}

static int py_ctx(Fast *f) {
    PyObject *py = f->py;
    if (f->ctx_ready) return 0;
    if (PyObject_SetAttr(PyTuple_GET_ITEM(py, PY_CTX), s_db, f->database) < 0 ||
        PyObject_SetAttr(PyTuple_GET_ITEM(py, PY_CLOCK), s_touch, f->touch ? Py_True : Py_False) < 0 ||
        PyObject_SetAttr(PyTuple_GET_ITEM(py, PY_CTX), s_resp3, f->resp3 ? Py_True : Py_False) < 0)
        return -1;
    f->ctx_ready = 1;
    return 0;
}

static PyObject *bulk_array(PyObject *self, PyObject *seq);
static PyObject *reply_array(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* The reply's bytes: the common types here, the rest by encode_reply. */
static PyObject *py_encode(Fast *f, PyObject *value, PyObject *argv) {
    if (PyBytes_CheckExact(value)) return bulk_reply(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
    if (value == PyTuple_GET_ITEM(f->py, PY_OK)) { Py_INCREF(reply_ok); return reply_ok; }
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) return int_reply(v);
        PyErr_Clear();
    }
    if (value == Py_None) return PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {  /* bulk strings, numbers, nulls (LRANGE, ZPOPMIN, an empty pop) */
        PyObject *pair[2] = {value, f->resp3 ? Py_True : Py_False};
        PyObject *whole = reply_array(NULL, pair, 2);
        if (whole != Py_None) return whole;  /* NULL: an error */
        Py_DECREF(whole);
    }
    return PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(f->py, PY_ENCODE), value, f->resp3 ? Py_True : Py_False, argv, NULL);
}

/* db fields again after Python ran: FLUSHDB and SWAPDB replace a database's dicts
 * (data always among them: when it is the same object, so are the others) */
static int py_refresh(Fast *f) {
    PyObject *journal = PyTuple_GET_ITEM(f->py, PY_JOURNAL), *data = PyObject_GetAttr(f->database, s_data);
    if (!data) return -1;
    Py_DECREF(data);  /* the database still holds it: only its identity is compared */
    if (data != f->d->data) {
        if (db_fields_fetch(f->d, f->database, f->db) < 0) return -1;
        f->data = f->d->data;
        f->expires = f->d->expires;
        f->atime = f->d->atime;
        f->by_slot = f->d->by_slot;
    }
    if (journal != Py_None) {  /* a logged write or a lazy expiry may have moved the AOF to another database */
        PyObject *db = PyObject_GetAttr(journal, s_db);
        if (!db) return -1;
        *f->log_db = PyLong_AsLongLong(db);
        Py_DECREF(db);
        if (*f->log_db == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

static int py_command(Fast *f, PyObject *names, long long slow_ns, PyObject *slow, PyObject *conn_id, Py_ssize_t pos, Py_ssize_t *next, long long *t0) {
    PyObject *py = f->py, *argv = NULL, *handler, *entry = NULL, *value = NULL, *reply = NULL, *journal;
    const char *raw = f->raw;
    Py_ssize_t p = pos, at, len, i;
    long long argc, t1, took;
    int write = 0, failed = 0, rc = -1;
    if (raw[p] != '*') return 0;
    p++;
    argc = fast_number(raw, &p, f->end);
    if (argc < 1 || argc > (f->end - pos) / 4) return 0;
    if (!(argv = PyList_New((Py_ssize_t)argc))) return -1;
    for (i = 0; i < argc; i++) {
        PyObject *item;
        if (!fast_bulk(raw, &p, f->end, &at, &len)) { Py_DECREF(argv); return 0; }
        if (!(item = PyBytes_FromStringAndSize(raw + at, len))) { Py_DECREF(argv); return -1; }
        PyList_SET_ITEM(argv, i, item);
    }
    handler = route_info(PyTuple_GET_ITEM(py, PY_HANDLERS), PyList_GET_ITEM(argv, 0));  /* as spelled, or lower-cased */
    if (!handler) { rc = PyErr_Occurred() ? -1 : 0; goto out; }
    if (names != Py_None && !(entry = fast_entry(names, PyList_GET_ITEM(argv, 0)))) { rc = PyErr_Occurred() ? -1 : 0; goto out; }
    journal = PyTuple_GET_ITEM(py, PY_JOURNAL);
    if ((write = py_is_write(py, PyList_GET_ITEM(argv, 0))) < 0) goto out;
    if (write && journal != Py_None && !f->writable) { rc = 0; goto out; }  /* MISCONF: Python's reply */
    if (write && PyObject_SetAttr(PyTuple_GET_ITEM(py, PY_CTX), s_rewrite, Py_None) < 0) goto out;
    if (py_ctx(f) < 0) goto out;
    {
        PyObject *call[2] = {PyTuple_GET_ITEM(py, PY_CTX), argv};
        value = PyObject_Vectorcall(handler, call, 2, NULL);
    }
    if (value && write && journal == Py_None && Py_TYPE(value) != (PyTypeObject *)PyTuple_GET_ITEM(py, PY_ERRREPLY)) {
        /* without the AOF: counted unless the handler said it changed nothing (rewrite []) */
        PyObject *records = PyObject_GetAttr(PyTuple_GET_ITEM(py, PY_CTX), s_rewrite);
        if (!records) goto out;
        if (!PyList_Check(records) || PyList_GET_SIZE(records) > 0) c_writes++;
        Py_DECREF(records);
    } else if (value && write && Py_TYPE(value) != (PyTypeObject *)PyTuple_GET_ITEM(py, PY_ERRREPLY)) {
        PyObject *records = PyObject_GetAttr(PyTuple_GET_ITEM(py, PY_CTX), s_rewrite), *logged = NULL;
        i = -1;
        if (records) {
            logged = PyObject_CallMethodObjArgs(journal, s_log, f->db_obj, argv, records, NULL);
            Py_DECREF(records);
        }
        if (logged) {
            i = PyObject_IsTrue(logged);
            Py_DECREF(logged);
        }
        if (i > 0) {
            PyObject *idx = PyLong_FromSsize_t(PyList_GET_SIZE(f->parts));
            c_writes++;
            if (!idx || PyList_Append(f->logged, idx) < 0) { Py_XDECREF(idx); goto out; }
            Py_DECREF(idx);
        }
        if (i < 0) Py_CLEAR(value);  /* logging failed: the command's failure, as in the loop's try */
    }
    if (!value) {
        PyObject *type, *exc, *tb;
        if (!PyErr_ExceptionMatches(PyExc_Exception)) goto out;  /* SystemExit & co go up */
        failed = 1;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (exc && PyErr_GivenExceptionMatches(exc, PyTuple_GET_ITEM(py, PY_CMDERR))) {
            PyObject *text = PyObject_GetAttr(exc, s_text);
            value = text ? PyObject_CallOneArg(PyTuple_GET_ITEM(py, PY_ERRREPLY), text) : NULL;
            Py_XDECREF(text);
        } else {
            if (tb && exc) PyException_SetTraceback(exc, tb);
            value = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(py, PY_INTERNAL), argv, exc ? exc : Py_None, NULL);
        }
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        if (!value) goto out;
    }
    t1 = now_ns();
    took = t1 - *t0;
    *t0 = t1;
    if (entry) {
        if (list_add(entry, 1, took) < 0 || list_add(PyList_GET_ITEM(entry, 4), bit_length(took), 1) < 0) goto out;
        if (failed) {
            PyObject *text = PyObject_GetAttr(value, s_text), *r;
            if (!text || list_add(entry, 2, 1) < 0) { Py_XDECREF(text); goto out; }
            r = PyObject_CallOneArg(PyTuple_GET_ITEM(py, PY_STATERR), text);
            Py_DECREF(text);
            if (!r) goto out;
            Py_DECREF(r);
        }
        if (took >= slow_ns) {
            PyObject *item = Py_BuildValue("(LOO)", took, argv, conn_id);
            if (!item || PyList_Append(slow, item) < 0) { Py_XDECREF(item); goto out; }
            Py_DECREF(item);
        }
    }
    if (!(reply = py_encode(f, value, argv)) || PyList_Append(f->parts, reply) < 0) goto out;
    *next = p;
    rc = 1;
out:
    Py_XDECREF(reply);
    Py_XDECREF(value);
    Py_XDECREF(argv);
    /* Python ran (or may have): refetch what it may have replaced */
    if (rc == 1 && py_refresh(f) < 0) rc = -1;
    return rc;
}

/* -- keys: DEL/UNLINK and EXISTS/TOUCH key... (keys.cmd_del: Database.delete_live of
 * each; keys.cmd_exists: Database.exists of each) and EXPIRE/PEXPIRE key t without options (keys._expire: set, logged as
 * PEXPIREAT key when).  An expired key (Python expires it, counting it), a
 * time that deletes the key or overflows, and the errors are Python's. */
/* del d[key] if it is there: 0, or -1 */
static int dict_discard(PyObject *d, PyObject *key) {
    int has = PyDict_GET_SIZE(d) ? PyDict_Contains(d, key) : 0;
    return has <= 0 ? has : PyDict_DelItem(d, key);
}

/* EXISTS/TOUCH key... (del 0: each live key counted, its access recorded) and DEL/UNLINK
 * key... (del 1: each live key deleted as Database.delete does): the keys from
 * raw[first:], nkeys of them, a key named twice counted twice; *count the live ones */
static int fast_each_key(Fast *f, Py_ssize_t first, long long nkeys, int del, long long *count, PyObject **reply) {
    Py_ssize_t q, at, len;
    long long j, n = 0;
    int pass;
    for (pass = 0; pass < 2; pass++) {  /* first: any expired key sends the command to Python (nothing changed yet) */
        for (q = first, j = 0; j < nkeys; j++) {
            PyObject *key, *found;
            int rc = 0;
            fast_bulk(f->raw, &q, f->end, &at, &len);  /* validated by the caller */
            if (!(key = key_object(f->data, f->raw + at, len))) return -1;
            if (!(found = PyDict_GetItemWithError(f->data, key))) rc = PyErr_Occurred() ? -1 : 0;
            else if (pass == 0) rc = fast_expired(f, key) ? -2 : 0;
            else {
                n++;
                if (!del) rc = f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0 ? -1 : 0;
                else if (PyDict_DelItem(f->data, key) < 0 || dict_discard(f->atime, key) < 0 || dict_discard(f->expires, key) < 0 ||
                         slot_index_discard(f->by_slot, key) < 0)
                    rc = -1;
            }
            Py_DECREF(key);
            if (rc == -1 || (rc == -2 && PyErr_Occurred())) return -1;
            if (rc == -2) return 0;
        }
    }
    *count = n;
    *reply = int_reply(n);
    return *reply ? 1 : -1;
}

static int fast_expire(Fast *f, PyObject *key, Py_ssize_t t_at, Py_ssize_t t_len, long long scale, PyObject **reply, PyObject **record) {
    PyObject *found;
    long long amount, when;
    char digits[24];
    Py_ssize_t nd;
    int rc;
    if (!lp_string2ll((const unsigned char *)f->raw + t_at, t_len, &amount)) return 0;
    if (amount > LLONG_MAX / scale || (scale > 1 && amount < -(LLONG_MAX / scale))) return 0;  /* the errors (2**63 / 1000 rounds as LLONG_MAX does) */
    when = amount * scale;
    if (when > LLONG_MAX - f->ms) return 0;
    when += f->ms;
    if ((rc = live_value(f, key, &found)) <= 0) return rc;
    if (!found) {
        *reply = int_reply(0);  /* no key: nothing changed, nothing to log */
        return *reply ? 2 : -1;
    }
    if (when <= f->ms) return 0;  /* the key goes: Python's */
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    if (set_expiry(f, key, when, digits, &nd) < 0) return -1;
    {
        const char *parts[3] = {"PEXPIREAT", PyBytes_AS_STRING(key), digits};
        Py_ssize_t lens[3] = {9, PyBytes_GET_SIZE(key), nd};
        if (!(*record = record_of(3, parts, lens))) return -1;
    }
    *reply = int_reply(1);
    return *reply ? 1 : -1;
}

/* -- reads of hashes: HGET, HGETALL (all 1) and HEXISTS (all 2) of a live hash without
 * field TTLs (hash_cmds.cmd_hget / cmd_hgetall / cmd_hexists: Hash.get, Hash.items in
 * the dict's order).  A hash with field TTLs and an expired key (Python deletes it)
 * are Python's. */
static int fast_hget(Fast *f, PyObject *key, Py_ssize_t fld_at, Py_ssize_t fld_len, int all, PyObject **reply) {
    PyObject *found, *d, *ttl, *field, *v;
    int live = fast_live(f, key, hash_type, &found);
    if (live == 0 && !found) {
        *reply = all == 2 ? int_reply(0) : PyBytes_FromString(all ? (f->resp3 ? "%0\r\n" : "*0\r\n") : (f->resp3 ? "_\r\n" : "$-1\r\n"));
        return *reply ? 1 : -1;
    }
    if (live <= 0) return live;
    d = HASH_SLOT(found, H_D);
    ttl = HASH_SLOT(found, H_TTL);
    if (!d || !ttl || !PyDict_CheckExact(d) || !PyDict_CheckExact(ttl) || PyDict_GET_SIZE(ttl)) return 0;
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    if (all != 1) {
        if (!(field = PyBytes_FromStringAndSize(f->raw + fld_at, fld_len))) return -1;
        v = PyDict_GetItemWithError(d, field);
        Py_DECREF(field);
        if (!v && PyErr_Occurred()) return -1;
        if (all == 2) {  /* HEXISTS */
            *reply = int_reply(v != NULL);
        } else if (!v) {
            *reply = PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
        } else {
            if (!PyBytes_Check(v)) { PyErr_SetString(PyExc_TypeError, "a hash holds bytes"); return -1; }
            *reply = bulk_reply(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
        }
        return *reply ? 1 : -1;
    }
    {
        Py_ssize_t pos = 0, size = 24;
        PyObject *k;
        char *q;
        while (PyDict_Next(d, &pos, &k, &v)) {
            if (!PyBytes_Check(k) || !PyBytes_Check(v)) { PyErr_SetString(PyExc_TypeError, "a hash holds bytes"); return -1; }
            size += PyBytes_GET_SIZE(k) + PyBytes_GET_SIZE(v) + 52;
        }
        if (!(*reply = PyBytes_FromStringAndSize(NULL, size))) return -1;
        q = f->resp3 ? put_header(PyBytes_AS_STRING(*reply), '%', PyDict_GET_SIZE(d)) : put_header(PyBytes_AS_STRING(*reply), '*', 2 * PyDict_GET_SIZE(d));
        pos = 0;
        while (PyDict_Next(d, &pos, &k, &v)) {
            q = fast_put_bulk(q, PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k));
            q = fast_put_bulk(q, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
        }
        if (_PyBytes_Resize(reply, q - PyBytes_AS_STRING(*reply)) < 0) return -1;
        return 1;
    }
}

/* HMGET key field... (hash_cmds.cmd_hmget) of a live hash without field TTLs, or no key:
 * each field's value or a null; the fields are raw[first:], nfields of them */
static int fast_hmget(Fast *f, PyObject *key, Py_ssize_t first, long long nfields, PyObject **reply) {
    PyObject *found, *d = NULL, *ttl, *list;
    Py_ssize_t q, at, len;
    long long j;
    int live = fast_live(f, key, hash_type, &found);
    if (live < 0 || (live == 0 && found)) return live;  /* another type, expired: Python's */
    if (found) {
        d = HASH_SLOT(found, H_D);
        ttl = HASH_SLOT(found, H_TTL);
        if (!d || !ttl || !PyDict_CheckExact(d) || !PyDict_CheckExact(ttl) || PyDict_GET_SIZE(ttl)) return 0;
        if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    }
    if (!(list = PyList_New((Py_ssize_t)nfields))) return -1;
    for (q = first, j = 0; j < nfields; j++) {
        PyObject *field, *v = NULL;
        fast_bulk(f->raw, &q, f->end, &at, &len);  /* validated by the caller */
        if (d) {
            if (!(field = PyBytes_FromStringAndSize(f->raw + at, len))) { Py_DECREF(list); return -1; }
            v = PyDict_GetItemWithError(d, field);
            Py_DECREF(field);
            if (!v && PyErr_Occurred()) { Py_DECREF(list); return -1; }
        }
        PyList_SET_ITEM(list, j, Py_NewRef(v ? v : Py_None));
    }
    {
        PyObject *args[2] = {list, f->resp3 ? Py_True : Py_False};
        *reply = reply_array(NULL, args, 2);
    }
    Py_DECREF(list);
    if (*reply == Py_None) { Py_CLEAR(*reply); return 0; }  /* a value reply_array does not lay out */
    return *reply ? 1 : -1;
}

/* HINCRBY key field n (hash_cmds.cmd_hincrby) of a field with an integer value in a
 * live hash without field TTLs: the new value stored (Hash.set of an existing
 * field, which a listpack's limits could make convert: then Python's).  A new
 * key or field, a value that is no integer and an overflow are Python's. */
static int fast_hincrby(Fast *f, PyObject *key, Py_ssize_t fld_at, Py_ssize_t fld_len, Py_ssize_t n_at, Py_ssize_t n_len, PyObject **reply) {
    PyObject *found, *d, *buckets, *ttl, *field, *old, *value;
    long long by, current;
    char digits[32];
    int live, nd, rc;
    if (!lp_string2ll((const unsigned char *)f->raw + n_at, n_len, &by)) return 0;
    if ((live = fast_live(f, key, hash_type, &found)) <= 0) return live;
    d = HASH_SLOT(found, H_D);
    buckets = HASH_SLOT(found, H_BUCKETS);
    ttl = HASH_SLOT(found, H_TTL);
    if (!d || !buckets || !ttl || !PyDict_CheckExact(d) || !PyDict_CheckExact(ttl) || PyDict_GET_SIZE(ttl)) return 0;
    if (!(field = PyBytes_FromStringAndSize(f->raw + fld_at, fld_len))) return -1;
    if (!(old = PyDict_GetItemWithError(d, field)) || !PyBytes_Check(old) ||
        !lp_string2ll((const unsigned char *)PyBytes_AS_STRING(old), PyBytes_GET_SIZE(old), &current) ||
        (by > 0 && current > LLONG_MAX - by) || (by < 0 && current < LLONG_MIN - by)) {
        Py_DECREF(field);
        return PyErr_Occurred() ? -1 : 0;  /* a new field, not an integer, an overflow */
    }
    nd = snprintf(digits, sizeof digits, "%lld", current + by);
    if (buckets == Py_None) {  /* Hash.set's check of a listpack */
        long long entries = dict_limit(hash_limits, k_h_entries), limit = dict_limit(hash_limits, k_h_value);
        if (entries < 0 || limit < 0 || fld_len > limit || nd > limit || PyDict_GET_SIZE(d) > entries) { Py_DECREF(field); return 0; }
    }
    value = PyBytes_FromStringAndSize(digits, nd);
    rc = value && PyDict_SetItem(d, field, value) == 0 ? 1 : -1;
    Py_XDECREF(value);
    Py_DECREF(field);
    if (rc < 0 || (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0)) return -1;
    *reply = int_reply(current + by);
    return *reply ? 1 : -1;
}

/* a double's reply: Valkey's d2string text, a bulk string in RESP2, a double in RESP3 */
static char *put_double(char *p, double v);
static PyObject *double_reply(double v, int resp3) {
    char text[48], *end = put_double(text + 1, v);
    Py_ssize_t n = end - text - 1;
    if (!resp3) return bulk_reply(text + 1, n);
    text[0] = ',';
    memcpy(end, "\r\n", 2);
    return PyBytes_FromStringAndSize(text, n + 3);
}

/* TTL/PTTL key (keys.cmd_ttl / cmd_pttl): -2 without the key, -1 without a TTL, else
 * the time left (TTL: in seconds, rounded) */
static int fast_ttl(Fast *f, PyObject *key, long long scale, PyObject **reply) {
    PyObject *found, *when;
    long long left;
    int rc = live_value(f, key, &found);
    if (rc <= 0) return rc;
    if (!found) {
        *reply = int_reply(-2);
        return *reply ? 1 : -1;
    }
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    if (!(when = PyDict_GetItemWithError(f->expires, key))) {
        if (PyErr_Occurred()) return -1;
        *reply = int_reply(-1);
        return *reply ? 1 : -1;
    }
    if ((left = PyLong_AsLongLong(when)) == -1 && PyErr_Occurred()) return -1;
    left -= f->ms;  /* > 0: the key is not expired */
    *reply = int_reply(scale == 1 ? left : (left + 500) / 1000);
    return *reply ? 1 : -1;
}

/* the dict of a set's members (a listpack's dict, a hashtable's ScanList positions), borrowed;
 * NULL for an intset */
static PyObject *set_dict(PyObject *set) {
    PyObject *enc = SET_SLOT(set, S_ENC), *d;
    if (enc == enc_listpack) return SET_SLOT(set, S_SMALL);
    if (enc != enc_hashtable || !(d = SET_SLOT(set, S_BIG)) || Py_TYPE(d) != scanlist_type) return NULL;
    return SCAN_SLOT(d, SC_POS);
}

/* SCARD, HLEN, LLEN, ZCARD key (``kind`` 1-4): len() of a live value of that type, 0 without one */
static int fast_card(Fast *f, PyObject *key, long long kind, PyObject **reply) {
    PyTypeObject *type = kind == 1 ? set_type : kind == 2 ? hash_type : kind == 3 ? list_type : zset_type;
    PyObject *found, *counted;
    Py_ssize_t n;
    int live = fast_live(f, key, type, &found);
    if (live == 0 && !found) {
        *reply = int_reply(0);
        return *reply ? 1 : -1;
    }
    if (live <= 0) return live;
    counted = kind == 1 ? set_dict(found) : kind == 2 ? HASH_SLOT(found, H_D) : kind == 3 ? LIST_SLOT(found, L_ITEMS) : ZSET_SLOT(found, Z_SCORES);
    if (!counted || (n = PyObject_Size(counted)) < 0) return counted ? -1 : 0;  /* (an intset: Python's) */
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *reply = int_reply(n);
    return *reply ? 1 : -1;
}

/* SISMEMBER key member (a listpack or hashtable set: its dict) and ZSCORE key member */
static int fast_member(Fast *f, PyObject *key, Py_ssize_t m_at, Py_ssize_t m_len, int zscore, PyObject **reply) {
    PyObject *found, *d, *member, *v;
    int live = fast_live(f, key, zscore ? zset_type : set_type, &found);
    if (live == 0 && !found) {
        *reply = zscore ? PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n") : int_reply(0);
        return *reply ? 1 : -1;
    }
    if (live <= 0) return live;
    d = zscore ? ZSET_SLOT(found, Z_SCORES) : set_dict(found);
    if (!d || !PyDict_CheckExact(d)) return 0;  /* an intset: Python's */
    if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    if (!(member = PyBytes_FromStringAndSize(f->raw + m_at, m_len))) return -1;
    v = PyDict_GetItemWithError(d, member);
    Py_DECREF(member);
    if (!v && PyErr_Occurred()) return -1;
    if (!zscore) *reply = int_reply(v != NULL);
    else if (!v) *reply = PyBytes_FromString(f->resp3 ? "_\r\n" : "$-1\r\n");
    else if (!PyFloat_CheckExact(v)) { PyErr_SetString(PyExc_TypeError, "a score is a float"); return -1; }
    else *reply = double_reply(PyFloat_AS_DOUBLE(v), f->resp3);
    return *reply ? 1 : -1;
}

/* -- strings read or edited in place: GETBIT, GETRANGE (any string), SETBIT and
 * SETRANGE inside a live RawStr (strings.writable's value: a bytearray), the
 * twins of bitmap_cmds.cmd_getbit/cmd_setbit and strings.cmd_getrange/
 * cmd_setrange.  A value to create, unshare into a RawStr or lengthen is
 * Python's, as are the errors. */
static PyTypeObject *rawstr_type, *embstr_type;  /* NULL until configure_strings */
static PyObject *s_proto_max_bulk_len;

static PyObject *configure_strings(PyObject *self, PyObject *args) {
    PyObject *raw, *emb;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &raw, &PyType_Type, &emb)) return NULL;
    if (!s_proto_max_bulk_len && !(s_proto_max_bulk_len = PyUnicode_InternFromString("proto_max_bulk_len"))) return NULL;
    keep((PyObject **)&rawstr_type, raw);
    keep((PyObject **)&embstr_type, emb);
    Py_RETURN_NONE;
}

/* a string value's bytes (get_string's STRING_TYPES); 0 for another type */
static int string_view(PyObject *v, const char **p, Py_ssize_t *n) {
    PyTypeObject *t = Py_TYPE(v);
    if (!rawstr_type || (t != &PyBytes_Type && t != rawstr_type && t != embstr_type)) return 0;
    return str_view(v, p, n);
}

/* ctx.proto_max_bulk_len (CONFIG SET changes it); -1 with an exception, or 0 without the handlers' path */
static long long proto_max_bulk_len(Fast *f) {
    PyObject *o;
    long long v;
    if (!f->py) return 0;
    if (!(o = PyObject_GetAttr(PyTuple_GET_ITEM(f->py, PY_CTX), s_proto_max_bulk_len))) return -1;
    v = PyLong_AsLongLong(o);
    Py_DECREF(o);
    return v;
}

/* a bit offset (parse_bit_offset without BITFIELD's #): 1, 0 (Python's error), -1 */
static int bit_offset(Fast *f, Py_ssize_t at, Py_ssize_t len, long long *offset) {
    long long limit;
    if (!lp_string2ll((const unsigned char *)f->raw + at, len, offset) || *offset < 0) return 0;
    if ((limit = proto_max_bulk_len(f)) < 0) return PyErr_Occurred() ? -1 : 0;
    return (*offset >> 3) < limit;
}

static int fast_getbit(Fast *f, PyObject *key, Py_ssize_t o_at, Py_ssize_t o_len, PyObject **reply) {
    PyObject *v;
    const char *p;
    Py_ssize_t n;
    long long offset;
    int rc = bit_offset(f, o_at, o_len, &offset), bit = 0;
    if (rc <= 0) return rc;
    if ((rc = live_value(f, key, &v)) <= 0) return rc;
    if (v) {
        if (!string_view(v, &p, &n)) return 0;
        if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
        if ((offset >> 3) < n) bit = ((unsigned char)p[offset >> 3] >> (7 - (offset & 7))) & 1;
    }
    *reply = int_reply(bit);
    return *reply ? 1 : -1;
}

static int fast_getrange(Fast *f, PyObject *key, Py_ssize_t a_at, Py_ssize_t a_len, Py_ssize_t b_at, Py_ssize_t b_len, PyObject **reply) {
    PyObject *v;
    const char *p = NULL;
    Py_ssize_t n = 0;
    long long start, end;
    int rc;
    if (!lp_string2ll((const unsigned char *)f->raw + a_at, a_len, &start) || !lp_string2ll((const unsigned char *)f->raw + b_at, b_len, &end)) return 0;
    if ((rc = live_value(f, key, &v)) <= 0) return rc;
    if (v) {
        if (!string_view(v, &p, &n)) return 0;
        if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    }
    if (!v || (start < 0 && end < 0 && start > end)) n = 0;
    if (start < 0) start = n + start > 0 ? n + start : 0;
    if (end < 0) end = n + end > 0 ? n + end : 0;
    if (end >= n) end = n - 1;
    *reply = start > end || n == 0 ? bulk_reply("", 0) : bulk_reply(p + start, (Py_ssize_t)(end - start + 1));
    return *reply ? 1 : -1;
}

/* SETBIT inside a live RawStr: the old bit; *unchanged: the bit was already so (not logged) */
static int fast_setbit(Fast *f, PyObject *key, Py_ssize_t o_at, Py_ssize_t o_len, Py_ssize_t b_at, Py_ssize_t b_len, int *unchanged, PyObject **reply) {
    PyObject *v;
    long long offset;
    unsigned char *byte;
    int rc = bit_offset(f, o_at, o_len, &offset), on, old;
    if (rc <= 0) return rc;
    if (b_len != 1 || (f->raw[b_at] != '0' && f->raw[b_at] != '1')) return 0;
    on = f->raw[b_at] == '1';
    if ((rc = live_value(f, key, &v)) <= 0 || !v) return rc < 0 ? -1 : 0;
    if (Py_TYPE(v) != rawstr_type || (offset >> 3) >= PyByteArray_GET_SIZE(v)) return 0;  /* unshared or grown: Python's */
    byte = (unsigned char *)PyByteArray_AS_STRING(v) + (offset >> 3);
    old = (*byte >> (7 - (offset & 7))) & 1;
    if (old != on) *byte ^= (unsigned char)(1 << (7 - (offset & 7)));
    else *unchanged = 1;
    if (PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;  /* Database.touched: whatever the client's NO-TOUCH */
    *reply = int_reply(old);
    return *reply ? 1 : -1;
}

/* SETRANGE inside a live RawStr (a non-empty patch that does not lengthen it): the length */
static int fast_setrange(Fast *f, PyObject *key, Py_ssize_t o_at, Py_ssize_t o_len, Py_ssize_t v_at, Py_ssize_t v_len, PyObject **reply) {
    PyObject *v;
    long long offset, limit;
    int rc;
    if (!lp_string2ll((const unsigned char *)f->raw + o_at, o_len, &offset) || offset < 0 || !v_len) return 0;
    if ((rc = live_value(f, key, &v)) <= 0 || !v) return rc < 0 ? -1 : 0;
    if (Py_TYPE(v) != rawstr_type || offset > PyByteArray_GET_SIZE(v) - v_len) return 0;
    if ((limit = proto_max_bulk_len(f)) < 0) return PyErr_Occurred() ? -1 : 0;
    if (offset + v_len > limit) return 0;  /* _check_size's error */
    memcpy(PyByteArray_AS_STRING(v) + offset, f->raw + v_at, (size_t)v_len);
    if (PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    *reply = int_reply(PyByteArray_GET_SIZE(v));
    return *reply ? 1 : -1;
}

/*
 * BITFIELD key [GET type offset | SET type offset value | INCRBY type offset incr]...
 * (bitmap_cmds._bitfield) with the default OVERFLOW WRAP: at most 16 operations,
 * all parsed before anything changes.  Writes need a live RawStr long enough for
 * every field (a string to create, convert or grow is Python's); GETs alone also
 * read a plain string or a missing key (zeros).  Every error, an OVERFLOW clause
 * and a type or offset it does not take are Python's (0: nothing changed).
 * *unchanged: no field changed, so nothing is logged (as the Python handler).
 */
#define BITFIELD_OPS 16
static uint64_t field_get(const unsigned char *p, Py_ssize_t n, long long offset, int bits) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < bits; i++) {
        long long o = offset + i;
        v = (v << 1) | ((o >> 3) < n ? (uint64_t)((p[o >> 3] >> (7 - (o & 7))) & 1) : 0);
    }
    return v;
}

static void field_set(unsigned char *p, long long offset, int bits, uint64_t v) {
    int i;
    for (i = 0; i < bits; i++) {
        long long o = offset + i;
        unsigned char mask = (unsigned char)(1 << (7 - (o & 7)));
        if ((v >> (bits - 1 - i)) & 1) p[o >> 3] |= mask;
        else p[o >> 3] &= (unsigned char)~mask;
    }
}

/* the low ``bits`` bits of v as the field's value: sign-extended when signed */
static long long field_value(uint64_t v, int bits, int is_signed) {
    if (bits < 64) {
        v &= ((uint64_t)1 << bits) - 1;
        if (is_signed && (v >> (bits - 1)) & 1) v |= ~(uint64_t)0 << bits;
    }
    return (long long)v;
}

static int fast_bitfield(Fast *f, PyObject *key, Py_ssize_t first, long long nargs, int *unchanged, PyObject **reply) {
    struct { int op, is_signed, bits; long long offset, value; } ops[BITFIELD_OPS];
    int nops = 0, writes = 0, i, rc, changes = 0;
    long long highest = 0, limit;
    Py_ssize_t q = first, at, len, n = 0;
    PyObject *v;
    const char *text;
    char out[16 + BITFIELD_OPS * 24], *w = out;
    unsigned char *buf = NULL;
    if ((limit = proto_max_bulk_len(f)) < 0) return PyErr_Occurred() ? -1 : 0;
    while (nargs > 0) {
        int op, hash;
        long long bits, offset;
        fast_bulk(f->raw, &q, f->end, &at, &len);  /* validated by the caller */
        text = f->raw + at;
        if (len == 3 && strncasecmp(text, "get", 3) == 0) op = 0;
        else if (len == 3 && strncasecmp(text, "set", 3) == 0) op = 1;
        else if (len == 6 && strncasecmp(text, "incrby", 6) == 0) op = 2;
        else return 0;  /* OVERFLOW, or an error */
        if (nargs < (op ? 4 : 3) || nops == BITFIELD_OPS) return 0;
        fast_bulk(f->raw, &q, f->end, &at, &len);  /* the type: i1..i64, u1..u63 */
        text = f->raw + at;
        if (len < 2 || (text[0] != 'i' && text[0] != 'u') || !lp_string2ll((const unsigned char *)text + 1, len - 1, &bits) ||
            bits < 1 || bits > (text[0] == 'i' ? 64 : 63))
            return 0;
        ops[nops].is_signed = text[0] == 'i';
        ops[nops].bits = (int)bits;
        fast_bulk(f->raw, &q, f->end, &at, &len);  /* the offset, or #index (times the width, in C's wrap) */
        text = f->raw + at;
        hash = len > 1 && text[0] == '#';
        if (!lp_string2ll((const unsigned char *)text + hash, len - hash, &offset)) return 0;
        if (hash) offset = (long long)((uint64_t)offset * (uint64_t)bits);
        if (offset < 0 || (offset >> 3) >= limit) return 0;
        ops[nops].offset = offset;
        ops[nops].op = op;
        ops[nops].value = 0;
        if (op) {
            fast_bulk(f->raw, &q, f->end, &at, &len);
            if (!lp_string2ll((const unsigned char *)f->raw + at, len, &ops[nops].value)) return 0;
            writes = 1;
            if (offset + bits - 1 > highest) highest = offset + bits - 1;
        }
        nargs -= op ? 4 : 3;
        nops++;
    }
    if ((rc = live_value(f, key, &v)) <= 0) return rc;
    if (writes) {
        if (!v || Py_TYPE(v) != rawstr_type || (highest >> 3) >= PyByteArray_GET_SIZE(v)) return 0;  /* created, converted or grown: Python's */
        buf = (unsigned char *)PyByteArray_AS_STRING(v);
        n = PyByteArray_GET_SIZE(v);
        if (PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;  /* written: touched whatever NO-TOUCH */
    } else if (v) {
        if (!string_view(v, &text, &n)) return 0;
        buf = (unsigned char *)text;
        if (f->touch && PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;
    }
    w = put_header(w, '*', nops);
    for (i = 0; i < nops; i++) {
        long long current = buf ? field_value(field_get(buf, n, ops[i].offset, ops[i].bits), ops[i].bits, ops[i].is_signed) : 0, now;
        if (ops[i].op == 0) {
            w = put_header(w, ':', current);
            continue;
        }
        /* WRAP: the sum (or the value) in 64-bit arithmetic, cut to the field's width */
        now = field_value(ops[i].op == 2 ? (uint64_t)current + (uint64_t)ops[i].value : (uint64_t)ops[i].value, ops[i].bits, ops[i].is_signed);
        field_set(buf, ops[i].offset, ops[i].bits, (uint64_t)now);
        if (now != current) changes++;
        w = put_header(w, ':', ops[i].op == 2 ? now : current);
    }
    *unchanged = !changes;
    *reply = PyBytes_FromStringAndSize(out, w - out);
    return *reply ? 1 : -1;
}

/* APPEND onto a live RawStr (strings.cmd_append): extended in place as ``buf += value``
 * extends it (the same resize); the new length.  A missing key, a plain string to
 * unshare, another type and a result over proto-max-bulk-len are Python's. */
static int fast_append(Fast *f, PyObject *key, Py_ssize_t v_at, Py_ssize_t v_len, PyObject **reply) {
    PyObject *v;
    Py_ssize_t size;
    long long limit;
    int rc;
    if ((rc = live_value(f, key, &v)) <= 0 || !v) return rc < 0 ? -1 : 0;
    if (Py_TYPE(v) != rawstr_type) return 0;
    if ((limit = proto_max_bulk_len(f)) < 0) return PyErr_Occurred() ? -1 : 0;
    size = PyByteArray_GET_SIZE(v);
    if (size + v_len > limit) return 0;  /* _check_size's error */
    if (PyDict_SetItem(f->atime, key, f->sec) < 0) return -1;  /* Database.touched */
    if (v_len) {
        if (PyByteArray_Resize(v, size + v_len) < 0) return -1;
        memcpy(PyByteArray_AS_STRING(v) + size, f->raw + v_at, (size_t)v_len);
    }
    *reply = int_reply(size + v_len);
    return *reply ? 1 : -1;
}

/* A command done (rc 1) whose AOF record is its effect, not its bytes as sent
 * (``record``, a new reference, taken): logged, and *unlogged set so the loop does
 * not log the bytes too.  rc as given, or -1 (*reply dropped). */
static int log_effect(Fast *f, int rc, PyObject *record, PyObject **reply, int *unlogged) {
    if (rc == 1) {
        *unlogged = 1;
        if (fast_log(f->log, f->logged, f->parts, PyBytes_AS_STRING(record), PyBytes_GET_SIZE(record)) < 0) {
            Py_CLEAR(*reply);
            rc = -1;
        }
    }
    Py_XDECREF(record);
    return rc;
}

/*
 * A run's statistics, summed in C while consecutive commands share a name and
 * added to the entry ([calls, nanos, failed, rejected, histogram]) when the
 * name changes, before a Python handler runs (it may read or reset them) and
 * when the loop returns: two int objects per command cost more than its GET.
 */
typedef struct {
    PyObject *entry;  /* borrowed from ``names``; NULL: nothing pending */
    long long nanos;
    uint64_t touched;  /* the histogram buckets with a count below */
    long long hist[64];
} StatAcc;

static int acc_flush(StatAcc *acc) {
    PyObject *entry = acc->entry, *hist;
    int rc = 0;
    if (!entry) return 0;
    acc->entry = NULL;
    hist = PyList_GET_ITEM(entry, 4);
    if (list_add(entry, 1, acc->nanos) < 0) rc = -1;
    acc->nanos = 0;
    while (acc->touched) {
        int b = __builtin_ctzll(acc->touched);
        acc->touched &= acc->touched - 1;
        if (rc == 0 && list_add(hist, b, acc->hist[b]) < 0) rc = -1;
        acc->hist[b] = 0;
    }
    return rc;
}

static int acc_add(StatAcc *acc, PyObject *entry, long long took) {
    int b = bit_length(took);
    if (acc->entry != entry) {
        if (acc_flush(acc) < 0) return -1;
        acc->entry = entry;
    }
    acc->nanos += took;
    acc->hist[b]++;
    acc->touched |= (uint64_t)1 << b;
    return 0;
}

static int strings_loop_body(Fast *f, PyObject *names, long long slow_ns, PyObject *slow, PyObject *conn_id, Py_ssize_t *pos_io, Py_ssize_t *count_io, StatAcc *acc);

/* The fast path's loop over f->raw from *pos_io (see above), for the client
 * ``conn_id``.  0, or -1 with an exception. */
static int strings_loop(Fast *f, PyObject *names, long long slow_ns, PyObject *slow, PyObject *conn_id, Py_ssize_t *pos_io, Py_ssize_t *count_io) {
    StatAcc acc;
    int rc;
    acc.entry = NULL;
    acc.nanos = 0;
    acc.touched = 0;
    memset(acc.hist, 0, sizeof acc.hist);
    rc = strings_loop_body(f, names, slow_ns, slow, conn_id, pos_io, count_io, &acc);
    if (rc < 0 && acc.entry) {  /* keep the commands that ran counted, and the error */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (acc_flush(&acc) < 0) PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return -1;
    }
    return rc < 0 ? -1 : acc_flush(&acc);
}

static int strings_loop_body(Fast *f, PyObject *names, long long slow_ns, PyObject *slow, PyObject *conn_id, Py_ssize_t *pos_io, Py_ssize_t *count_io, StatAcc *acc) {
    Py_ssize_t pos = *pos_io, count = 0, prefetched = f->prefetched;
    struct fast_name *last_fn = NULL;  /* the name whose statistics entry is last_entry */
    PyObject *last_entry = NULL;
    long long t0;
    t0 = now_ns();
    while (pos < f->end) {
        const char *raw = f->raw;
        if (pos >= prefetched) prefetched = prefetch_window(f, pos);
        Py_ssize_t p = pos, name_at, name_len, key_at = 0, key_len = 0, val_at = 0, val_len = 0;
        long long argc, took, t1;
        int i, rc;
        /* writes in C only when nothing but the plain store is needed: no MISCONF, no
         * blocked clients on the database, the AOF buffer already on it */
        int set_ok = f->writable && !f->d->watching && (*f->log_db < 0 || *f->log_db == f->db);
        struct fast_name *fn = NULL;
        PyObject *entry, *key, *reply = NULL;
        int unlogged = 0;  /* a write that changed nothing: no AOF record */
        int reads = 0;     /* a read: no write conditions, no AOF record */
        if (raw[p] != '*') goto handler;
        p++;
        argc = fast_number(raw, &p, f->end);
        if (argc < 2) goto handler;
        if (!fast_bulk(raw, &p, f->end, &name_at, &name_len)) goto handler;
        for (i = 0; i < N_FAST_NAMES; i++) {
            /* (the spelling's bytes object holds its length: no strlen per entry, and the first
             * byte rules most entries out; the table has some eighty) */
            if (PyBytes_GET_SIZE(fast_names[i].obj) == name_len && raw[name_at] == fast_names[i].text[0] && memcmp(raw + name_at, fast_names[i].text, name_len) == 0) {
                fn = &fast_names[i];
                break;
            }
        }
        if (!fn || (fn->argc > 0 ? fn->argc != argc : fn->argc < 0 && (argc < -fn->argc || argc % 2 == 0))) goto handler;
        reads = fn->kind == FAST_GET || fn->kind == FAST_MGET || fn->kind == FAST_LRANGE || fn->kind == FAST_GETBIT || fn->kind == FAST_GETRANGE ||
                fn->kind == FAST_HGET || fn->kind == FAST_HGETALL || fn->kind == FAST_EXISTS || fn->kind == FAST_HEXISTS || fn->kind == FAST_TTL ||
                fn->kind == FAST_CARD || fn->kind == FAST_SISMEMBER || fn->kind == FAST_ZSCORE || fn->kind == FAST_HMGET;
        if (!reads && !set_ok) goto handler;
        entry = NULL;
        if (names != Py_None) {  /* None: a split command's part, which the front counts */
            if (fn == last_fn) {
                entry = last_entry;
            } else {
                entry = fast_entry(names, fn->obj);
                last_fn = fn;
                last_entry = entry;
            }
            if (!entry) { if (PyErr_Occurred()) return -1; break; }  /* Python creates the entry */
        }
        if (fn->kind == FAST_MGET) {
            rc = fast_mget(f, &p, (Py_ssize_t)(argc - 1), &reply);
        } else if (fn->kind == FAST_MSET) {
            Py_ssize_t first = p, kat, klen;
            long long j, pairs = (argc - 1) / 2;
            for (j = 0; j < 2 * pairs; j++) {
                if (!fast_bulk(raw, &p, f->end, &kat, &klen)) break;
            }
            if (j < 2 * pairs) break;
            rc = fast_mset(f, first, pairs);
            if (rc == 1) { reply = reply_ok; Py_INCREF(reply); }
        } else if (fn->kind == FAST_PUSH || fn->kind == FAST_SADD || fn->kind == FAST_HSET || fn->kind == FAST_HMGET || fn->kind == FAST_BITFIELD) {  /* a key and values */
            Py_ssize_t first, vat, vlen;
            long long j;
            if (argc < 3 || (fn->kind == FAST_HSET && (argc < 4 || argc % 2)) || (fn->kind == FAST_BITFIELD && argc < 5)) goto handler;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len)) break;
            first = p;
            for (j = 0; j < argc - 2; j++) {
                if (!fast_bulk(raw, &p, f->end, &vat, &vlen)) break;
            }
            if (j < argc - 2) break;
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            if (fn->kind == FAST_PUSH) {
                rc = fast_push(f, key, first, argc - 2, fn->sign > 0, &reply);
            } else if (fn->kind == FAST_HMGET) {
                rc = fast_hmget(f, key, first, argc - 2, &reply);
            } else if (fn->kind == FAST_HSET) {
                rc = fast_hset(f, key, first, (argc - 2) / 2, &reply);
            } else if (fn->kind == FAST_BITFIELD) {
                rc = fast_bitfield(f, key, first, argc - 2, &unlogged, &reply);  /* no field changed: nothing to log */
            } else {
                long long added = 0;
                rc = fast_sadd(f, key, first, argc - 2, &added, &reply);
                unlogged = rc == 1 && added == 0;  /* ctx.changes(0): nothing to log */
            }
            Py_DECREF(key);
        } else if (fn->kind == FAST_XADD) {
            Py_ssize_t id_at, id_len, first, vat, vlen;
            long long j;
            PyObject *record = NULL;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len) || !fast_bulk(raw, &p, f->end, &id_at, &id_len)) break;
            first = p;
            for (j = 0; j < argc - 3; j++) {
                if (!fast_bulk(raw, &p, f->end, &vat, &vlen)) break;
            }
            if (j < argc - 3) break;
            if (id_len != 1 || raw[id_at] != '*') goto handler;  /* options or an explicit ID */
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            rc = fast_xadd(f, key, raw + name_at, name_len, first, p, argc - 3, &reply, &record);
            Py_DECREF(key);
            rc = log_effect(f, rc, record, &reply, &unlogged);  /* with its ID */
        } else if (fn->kind == FAST_SETEX || (fn->kind == FAST_SET && argc != 3)) {
            Py_ssize_t a_at, a_len, b_at, b_len, t_at, t_len, v_at, v_len;
            long long scale = fn->sign;
            PyObject *record = NULL;
            if (fn->kind == FAST_SET && argc != 5) goto handler;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len) || !fast_bulk(raw, &p, f->end, &a_at, &a_len) || !fast_bulk(raw, &p, f->end, &b_at, &b_len)) break;
            if (fn->kind == FAST_SETEX) {  /* SETEX key t value */
                t_at = a_at, t_len = a_len, v_at = b_at, v_len = b_len;
            } else {  /* SET key value EX|PX t */
                if (!fast_bulk(raw, &p, f->end, &t_at, &t_len)) break;
                if (b_len != 2 || (raw[b_at + 1] | 0x20) != 'x') goto handler;
                scale = (raw[b_at] | 0x20) == 'e' ? 1000 : (raw[b_at] | 0x20) == 'p' ? 1 : 0;
                if (!scale) goto handler;
                v_at = a_at, v_len = a_len;
            }
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            rc = fast_set_ttl(f, key, v_at, v_len, t_at, t_len, scale, &reply, &record);
            Py_DECREF(key);
            rc = log_effect(f, rc, record, &reply, &unlogged);  /* with its absolute time */
        } else if (fn->kind == FAST_EXISTS || fn->kind == FAST_DEL) {
            Py_ssize_t first = p, kat, klen;
            long long j, live_keys = 0;
            for (j = 0; j < argc - 1; j++) {
                if (!fast_bulk(raw, &p, f->end, &kat, &klen)) break;
            }
            if (j < argc - 1) break;
            rc = fast_each_key(f, first, argc - 1, fn->kind == FAST_DEL, &live_keys, &reply);
            unlogged = fn->kind == FAST_DEL && rc == 1 && live_keys == 0;  /* a DEL of nothing, ctx.changes(0): not logged */
        } else if (fn->kind == FAST_EXPIRE) {
            PyObject *record = NULL;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len) || !fast_bulk(raw, &p, f->end, &val_at, &val_len)) break;
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            rc = fast_expire(f, key, val_at, val_len, fn->sign, &reply, &record);
            Py_DECREF(key);
            if (rc == 2) {  /* no key: nothing to log */
                rc = 1;
                unlogged = 1;
            } else {
                rc = log_effect(f, rc, record, &reply, &unlogged);  /* as PEXPIREAT key when */
            }
        } else if (fn->kind == FAST_HGET || fn->kind == FAST_HGETALL || fn->kind == FAST_HEXISTS || fn->kind == FAST_TTL ||
                   fn->kind == FAST_CARD || fn->kind == FAST_SISMEMBER || fn->kind == FAST_ZSCORE) {
            Py_ssize_t a_at = 0, a_len = 0;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len)) break;
            if (argc == 3 && !fast_bulk(raw, &p, f->end, &a_at, &a_len)) break;
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            if (fn->kind == FAST_TTL) rc = fast_ttl(f, key, fn->sign, &reply);
            else if (fn->kind == FAST_CARD) rc = fast_card(f, key, fn->sign, &reply);
            else if (fn->kind == FAST_SISMEMBER || fn->kind == FAST_ZSCORE) rc = fast_member(f, key, a_at, a_len, fn->kind == FAST_ZSCORE, &reply);
            else rc = fast_hget(f, key, a_at, a_len, fn->kind == FAST_HGETALL ? 1 : fn->kind == FAST_HEXISTS ? 2 : 0, &reply);
            Py_DECREF(key);
        } else if (fn->kind == FAST_GETBIT || fn->kind == FAST_GETRANGE || fn->kind == FAST_SETBIT || fn->kind == FAST_SETRANGE ||
                   fn->kind == FAST_HINCRBY || fn->kind == FAST_LRANGE || fn->kind == FAST_ZADD || fn->kind == FAST_APPEND) {  /* a key and one or two arguments */
            Py_ssize_t a_at, a_len;
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len) || !fast_bulk(raw, &p, f->end, &a_at, &a_len)) break;
            if (argc == 4 && !fast_bulk(raw, &p, f->end, &val_at, &val_len)) break;
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            if (fn->kind == FAST_GETBIT) rc = fast_getbit(f, key, a_at, a_len, &reply);
            else if (fn->kind == FAST_GETRANGE) rc = fast_getrange(f, key, a_at, a_len, val_at, val_len, &reply);
            else if (fn->kind == FAST_SETBIT) rc = fast_setbit(f, key, a_at, a_len, val_at, val_len, &unlogged, &reply);  /* a bit already so: nothing to log */
            else if (fn->kind == FAST_SETRANGE) rc = fast_setrange(f, key, a_at, a_len, val_at, val_len, &reply);
            else if (fn->kind == FAST_APPEND) rc = fast_append(f, key, a_at, a_len, &reply);
            else if (fn->kind == FAST_HINCRBY) rc = fast_hincrby(f, key, a_at, a_len, val_at, val_len, &reply);
            else if (fn->kind == FAST_LRANGE) rc = fast_lrange(f, key, a_at, a_len, val_at, val_len, &reply);
            else rc = fast_zadd(f, key, a_at, a_len, val_at, val_len, &unlogged, &reply);  /* the same score again: nothing to log */
            Py_DECREF(key);
        } else {
            if (!fast_bulk(raw, &p, f->end, &key_at, &key_len)) break;
            if (argc == 3 && !fast_bulk(raw, &p, f->end, &val_at, &val_len)) break;
            key = key_object(f->data, raw + key_at, key_len);
            if (!key) return -1;
            if (fn->kind == FAST_GET) {
                rc = fast_get(f, key, &reply);
            } else if (fn->kind == FAST_SPOP) {
                PyObject *record = NULL;
                rc = fast_spop(f, key, &reply, &record);
                if (rc == 2) {  /* a missing key: done, nothing to log */
                    rc = 1;
                    unlogged = 1;
                } else {
                    rc = log_effect(f, rc, record, &reply, &unlogged);  /* as SREM key member */
                }
            } else if (fn->kind == FAST_POP || fn->kind == FAST_ZPOP) {
                rc = fn->kind == FAST_POP ? fast_pop(f, key, fn->sign > 0, &reply) : fast_zpop(f, key, fn->sign > 0, &reply);
                if (rc == 2) {  /* done, nothing to log */
                    rc = 1;
                    unlogged = 1;
                }
            } else if (fn->kind == FAST_SET) {
                PyObject *value = PyBytes_FromStringAndSize(raw + val_at, val_len);
                rc = value && fast_store(f->data, f->expires, f->atime, f->by_slot, f->sec, key, value) == 0 ? 1 : -1;
                Py_XDECREF(value);
                if (rc == 1) { reply = reply_ok; Py_INCREF(reply); }
            } else {  /* INCR, DECR, INCRBY, DECRBY */
                long long by = 1;
                if (fn->kind == FAST_INCRBY && (!lp_string2ll((const unsigned char *)raw + val_at, val_len, &by) || (fn->sign < 0 && by == LLONG_MIN))) {
                    rc = 0;  /* not an integer, or a decrement that overflows: Python's error */
                } else {
                    rc = fast_incr(f, key, fn->sign * by, &reply);
                }
            }
            Py_DECREF(key);
        }
        if (rc < 0) return -1;
        if (rc == 0) goto handler;
        if (!reads && !unlogged && fast_log(f->log, f->logged, f->parts, raw + pos, p - pos) < 0) { Py_DECREF(reply); return -1; }
        t1 = now_ns();
        took = t1 - t0;
        t0 = t1;
        if (entry && acc_add(acc, entry, took) < 0) { Py_DECREF(reply); return -1; }
        if (entry && took >= slow_ns) {
            PyObject *argv = fast_argv(raw, pos, f->end, fn->obj), *item;
            if (!argv) { Py_DECREF(reply); return -1; }
            item = Py_BuildValue("(LNO)", took, argv, conn_id);
            if (!item || PyList_Append(slow, item) < 0) { Py_XDECREF(item); Py_DECREF(reply); return -1; }
            Py_DECREF(item);
        }
        if (PyList_Append(f->parts, reply) < 0) { Py_DECREF(reply); return -1; }
        Py_DECREF(reply);
        pos = p;
        count++;
        continue;
    handler:  /* not one the fast path takes (nothing changed): its Python handler, from here */
        if (!f->py) break;
        /* the handler may read the statistics or reset them (replacing the entries) */
        if (acc_flush(acc) < 0) return -1;
        last_fn = NULL;
        rc = py_command(f, names, slow_ns, slow, conn_id, pos, &p, &t0);
        if (rc < 0) return -1;
        if (rc == 0) break;
        pos = p;
        count++;
    }
    *pos_io = pos;
    *count_io = count;
    return 0;
}

/*
 * run_raw_runs(runs, start, dbs, log, log_db, writable, ms, sec, names, slow_ns, out, finals, slow, py)
 *     -> (next, resume, ops)
 *
 * The shard's loop over a message's runs (ShardWorker.execute_message) for
 * raw client runs, from runs[start]: each goes through strings_loop with
 * its own database, flags and client, and when it ran whole, (run_id, None)
 * goes to ``out`` and (index of that None, parts, flags, logged) to
 * ``finals``.  Stops at the first run it cannot finish: an internal, TX (32)
 * or parsed run (resume None), or one whose commands from ``pos`` need Python
 * (resume (pos, parts, logged)); and just after a run flagged TX_BODY (64).
 * ``log``/``log_db``: the AOF buffer and the database it is on (None / -1 without AOF); ``writable``: writes are accepted (no
 * MISCONF); slow entries are (nanos, argv, client id); ``py``: the handlers'
 * path (py_command), or None to stop at any command the fast path does not take.
 */

/* Prefetch the keys of runs[i:] while they are raw client runs on database
 * ``db`` (f's dicts), whole runs, up to a window: at one command per run (no
 * pipelining) strings_loop's own window would only see the key it is about to
 * look up.  Returns the first run not covered (i when run i fills a window). */
static Py_ssize_t prefetch_runs(Fast *f, PyObject *runs, Py_ssize_t i, long db) {
#ifdef HAVE_DICT_PREFETCH
    Py_hash_t hs[PREFETCH_WINDOW];
    int n = 0;
    Py_ssize_t j, nruns = PyList_GET_SIZE(runs);
    for (j = i; j < nruns; j++) {
        PyObject *run = PyList_GET_ITEM(runs, j), *raw;
        if (!PyList_Check(run) || PyList_GET_SIZE(run) != 5 || !PyLong_CheckExact(PyList_GET_ITEM(run, 1)) || !PyLong_CheckExact(PyList_GET_ITEM(run, 2))) break;
        raw = PyList_GET_ITEM(run, 3);
        if (!PyBytes_CheckExact(raw) || PyLong_AsLong(PyList_GET_ITEM(run, 1)) != db || (PyLong_AsLong(PyList_GET_ITEM(run, 2)) & (2 | 32))) break;  /* INTERNAL, TX */
        if (hash_window(PyBytes_AS_STRING(raw), 0, PyBytes_GET_SIZE(raw), hs, &n) < PyBytes_GET_SIZE(raw)) break;
    }
    if (PyErr_Occurred()) PyErr_Clear();  /* an out-of-range int: not prefetched, and the run loop reports it */
    prefetch_hashes(f, hs, n);
    return j;
#else
    (void)f; (void)runs; (void)db;
    return i;
#endif
}

static PyObject *run_raw_runs_impl(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* The entry: the hash cache holds places in this call's runs only (see key_hash). */
static PyObject *run_raw_runs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *result;
    hash_cache_clear();
    result = run_raw_runs_impl(self, args, nargs);
    hash_cache_clear();
    return result;
}

static PyObject *run_raw_runs_impl(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *runs, *dbs, *log, *names, *out, *finals, *slow, *sec, *result = NULL;
    Py_ssize_t i, nruns, ops = 0, covered;
    long long log_db, ms, slow_ns;
    int writable;
    DbFields d = {-1, NULL, NULL, NULL, NULL, 0};
    if (nargs != 14 || !PyList_Check(args[0]) || !PyList_Check(args[2]) || (args[3] != Py_None && !PyByteArray_CheckExact(args[3])) || !PyDict_Check(args[8]) ||
        !PyList_CheckExact(args[10]) || !PyList_CheckExact(args[11]) || !PyList_CheckExact(args[12]) ||
        (args[13] != Py_None && (!PyTuple_CheckExact(args[13]) || PyTuple_GET_SIZE(args[13]) != PY_N || !PyDict_Check(PyTuple_GET_ITEM(args[13], PY_HANDLERS)) ||
                                 !PyAnySet_Check(PyTuple_GET_ITEM(args[13], PY_WRITES)) || !PyAnySet_Check(PyTuple_GET_ITEM(args[13], PY_READS)) ||
                                 !PyType_Check(PyTuple_GET_ITEM(args[13], PY_ERRREPLY))))) {
        PyErr_SetString(PyExc_TypeError, "run_raw_runs(): bad arguments");
        return NULL;
    }
    runs = args[0];
    i = PyLong_AsSsize_t(args[1]);
    dbs = args[2];
    log = args[3];
    log_db = PyLong_AsLongLong(args[4]);
    writable = PyObject_IsTrue(args[5]);
    ms = PyLong_AsLongLong(args[6]);
    sec = args[7];
    names = args[8];
    slow_ns = PyLong_AsLongLong(args[9]);
    out = args[10];
    finals = args[11];
    slow = args[12];
    if (PyErr_Occurred()) return NULL;
    nruns = PyList_GET_SIZE(runs);
    covered = 0;
    for (; i < nruns; i++) {
        PyObject *run = PyList_GET_ITEM(runs, i), *raw, *parts, *logged, *final;
        Py_ssize_t pos = 0, count = 0;
        long db, flags;
        Fast f;
        if (!PyList_Check(run) || PyList_GET_SIZE(run) != 5) break;
        raw = PyList_GET_ITEM(run, 3);
        db = PyLong_AsLong(PyList_GET_ITEM(run, 1));
        flags = PyLong_AsLong(PyList_GET_ITEM(run, 2));
        if (PyErr_Occurred()) goto done;
        /* 2: INTERNAL; 32: TX, a cross-shard part whose head and AOF group Python opens */
        if ((flags & (2 | 32)) || !PyBytes_CheckExact(raw) || db < 0 || db >= PyList_GET_SIZE(dbs)) break;
        if (db != d.db && db_fields_fetch(&d, PyList_GET_ITEM(dbs, db), db) < 0) goto done;
        parts = PyList_New(0);
        logged = PyList_New(0);
        if (!parts || !logged) {
            Py_XDECREF(parts);
            Py_XDECREF(logged);
            goto done;
        }
        f.data = d.data;
        f.expires = d.expires;
        f.atime = d.atime;
        f.by_slot = d.by_slot;
        f.raw = PyBytes_AS_STRING(raw);
        f.end = PyBytes_GET_SIZE(raw);
        f.ms = ms;
        f.sec = sec;
        f.touch = !(flags & 8);   /* NO_TOUCH */
        f.resp3 = (flags & 1) != 0;
        f.parts = parts;
        f.log = log;
        f.logged = logged;
        if (i >= covered) covered = prefetch_runs(&f, runs, i, db);
        f.prefetched = i < covered ? f.end : 0;
        f.py = args[13] == Py_None ? NULL : args[13];
        f.database = PyList_GET_ITEM(dbs, db);
        f.db_obj = PyList_GET_ITEM(run, 1);
        f.d = &d;
        f.db = db;
        f.log_db = &log_db;
        f.writable = writable;
        f.ctx_ready = 0;
        if (strings_loop(&f, (flags & 16) ? Py_None : names, slow_ns, slow, PyList_GET_ITEM(run, 4), &pos, &count) < 0) {  /* 16: SPLIT_PART, counted by the front */
            Py_DECREF(parts);
            Py_DECREF(logged);
            goto done;
        }
        ops += count;
        if (pos < f.end) {
            result = Py_BuildValue("(n(nNN)n)", i, pos, parts, logged, ops);
            goto done;
        }
        if (PyList_Append(out, PyList_GET_ITEM(run, 0)) < 0 || PyList_Append(out, Py_None) < 0) {
            Py_DECREF(parts);
            Py_DECREF(logged);
            goto done;
        }
        final = Py_BuildValue("(nNlN)", PyList_GET_SIZE(out) - 1, parts, flags, logged);
        if (!final || PyList_Append(finals, final) < 0) {
            Py_XDECREF(final);
            goto done;
        }
        Py_DECREF(final);
        if (flags & 64) {  /* TX_BODY: Python closes the part's AOF group before the next run */
            i++;
            break;
        }
    }
    result = Py_BuildValue("(nOn)", i, Py_None, ops);
done:
    db_fields_clear(&d);
    return result;
}

/*
 * join_finals(out, finals)
 *
 * ShardWorker.finish's last step: each final run's replies joined in place in
 * ``out`` (with flag LENGTHS, [joined, native u32 lengths]).
 */
static PyObject *join_finals(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *out, *finals;
    Py_ssize_t i;
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "join_finals(out, finals)");
        return NULL;
    }
    out = args[0];
    finals = args[1];
    for (i = 0; i < PyList_GET_SIZE(finals); i++) {
        PyObject *fin = PyList_GET_ITEM(finals, i), *parts, *joined, *value;
        Py_ssize_t at, j, n, total = 0;
        long flags;
        char *w;
        if (!PyTuple_Check(fin) || PyTuple_GET_SIZE(fin) != 4 || !PyList_Check(parts = PyTuple_GET_ITEM(fin, 1))) {
            PyErr_SetString(PyExc_TypeError, "join_finals(): a final is (at, parts, flags, logged)");
            return NULL;
        }
        at = PyLong_AsSsize_t(PyTuple_GET_ITEM(fin, 0));
        flags = PyLong_AsLong(PyTuple_GET_ITEM(fin, 2));
        if (PyErr_Occurred()) return NULL;
        if (at < 0 || at >= PyList_GET_SIZE(out)) {
            PyErr_SetString(PyExc_IndexError, "join_finals(): index out of range");
            return NULL;
        }
        n = PyList_GET_SIZE(parts);
        for (j = 0; j < n; j++) {
            if (!PyBytes_Check(PyList_GET_ITEM(parts, j))) {
                PyErr_SetString(PyExc_TypeError, "join_finals(): a reply is bytes");
                return NULL;
            }
            total += PyBytes_GET_SIZE(PyList_GET_ITEM(parts, j));
        }
        if (!(joined = PyBytes_FromStringAndSize(NULL, total))) return NULL;
        w = PyBytes_AS_STRING(joined);
        for (j = 0; j < n; j++) {
            PyObject *b = PyList_GET_ITEM(parts, j);
            memcpy(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
            w += PyBytes_GET_SIZE(b);
        }
        if (flags & 4) {  /* LENGTHS */
            PyObject *lengths = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(uint32_t));
            if (!lengths) { Py_DECREF(joined); return NULL; }
            for (j = 0; j < n; j++) {
                uint32_t len = (uint32_t)PyBytes_GET_SIZE(PyList_GET_ITEM(parts, j));
                memcpy(PyBytes_AS_STRING(lengths) + j * sizeof(uint32_t), &len, sizeof len);
            }
            value = PyList_New(2);
            if (!value) { Py_DECREF(joined); Py_DECREF(lengths); return NULL; }
            PyList_SET_ITEM(value, 0, joined);
            PyList_SET_ITEM(value, 1, lengths);
        } else {
            value = joined;
        }
        if (PyList_SetItem(out, at, value) < 0) return NULL;
    }
    Py_RETURN_NONE;
}

/* "*N\r\n" then one bulk string per item, for a list or tuple of exact bytes
 * objects (LRANGE, SMEMBERS, HGETALL ...); None when an item is anything else,
 * so the caller falls back to the general encoder. */

static PyObject *bulk_array(PyObject *self, PyObject *seq) {
    Py_ssize_t n, i, total;
    PyObject **items, *out;
    char *p;
    if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) Py_RETURN_NONE;
    n = PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    total = 24;
    for (i = 0; i < n; i++) {
        if (!PyBytes_CheckExact(items[i])) Py_RETURN_NONE;
        total += PyBytes_GET_SIZE(items[i]) + 26;
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (!out) return NULL;
    p = put_header(PyBytes_AS_STRING(out), '*', n);
    for (i = 0; i < n; i++) p = fast_put_bulk(p, PyBytes_AS_STRING(items[i]), PyBytes_GET_SIZE(items[i]));
    if (_PyBytes_Resize(&out, p - PyBytes_AS_STRING(out)) < 0) return NULL;
    return out;
}

/* item_bisect(items, score, member, right): bisect_left (bisect_right when right) of
 * (score, member) in a sorted list of (float, bytes) tuples, as the bisect module with
 * tuple comparison finds it, comparing in C (a sorted set's RankedList) */
static int item_cmp(PyObject *item, double score, const char *m, Py_ssize_t mlen, int *out) {
    PyObject *s, *b;
    double d;
    Py_ssize_t blen;
    int c;
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyFloat_CheckExact(s = PyTuple_GET_ITEM(item, 0)) || !PyBytes_CheckExact(b = PyTuple_GET_ITEM(item, 1))) {
        PyErr_SetString(PyExc_TypeError, "item_bisect(): items must be (float, bytes) tuples");
        return -1;
    }
    d = PyFloat_AS_DOUBLE(s);
    if (d < score) { *out = -1; return 0; }
    if (d > score) { *out = 1; return 0; }
    blen = PyBytes_GET_SIZE(b);
    c = memcmp(PyBytes_AS_STRING(b), m, (size_t)(blen < mlen ? blen : mlen));
    *out = c < 0 ? -1 : c > 0 ? 1 : blen < mlen ? -1 : blen > mlen ? 1 : 0;
    return 0;
}

static PyObject *item_bisect(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t lo = 0, hi, mid;
    double score;
    int right, c;
    Py_buffer view;
    const double *scores = NULL;
    const char *m;
    Py_ssize_t mlen;
    if ((nargs != 4 && nargs != 5) || !PyList_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "item_bisect(items: list, score: float, member: bytes, right: bool[, scores: array('d')])");
        return NULL;
    }
    score = PyFloat_AsDouble(args[1]);
    if (score == -1.0 && PyErr_Occurred()) return NULL;
    if ((right = PyObject_IsTrue(args[3])) < 0) return NULL;
    hi = PyList_GET_SIZE(args[0]);
    m = PyBytes_AS_STRING(args[2]);
    mlen = PyBytes_GET_SIZE(args[2]);
    if (nargs == 5) {
        /* the items' scores side by side: most probes read one double from a
         * contiguous array instead of a tuple and a float object (two cache misses) */
        if (PyObject_GetBuffer(args[4], &view, PyBUF_FORMAT) < 0) return NULL;
        if (view.itemsize != sizeof(double) || !view.format || strcmp(view.format, "d") != 0 || view.len != hi * (Py_ssize_t)sizeof(double)) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "item_bisect(): scores must be an array('d') as long as items");
            return NULL;
        }
        scores = (const double *)view.buf;
    }
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (scores && scores[mid] != score) {
            c = scores[mid] < score ? -1 : 1;
        } else if (item_cmp(PyList_GET_ITEM(args[0], mid), score, m, mlen, &c) < 0) {
            if (scores) PyBuffer_Release(&view);
            return NULL;
        }
        if (c < 0 || (right && c == 0)) lo = mid + 1;
        else hi = mid;
    }
    if (scores) PyBuffer_Release(&view);
    return PyLong_FromSsize_t(lo);
}

/* grisu2(value): the digits (bytes) and decimal exponent K with |value| ~ digits * 10^K
 * that Valkey's fpconv_dtoa finds for a finite non-zero double: Grisu2 in unsigned
 * 64-bit arithmetic, step for step as shardserver/dtoa.py describes (its twin). */
typedef struct { uint64_t f; int e; } DiyFp;

/* 10^k for k = -348, -340, ..., 340: 64-bit significands rounded to nearest, binary
 * exponents (printed from dtoa.POWERS, which computes them from exact integers; the
 * twins' test walks every binary exponent, so every entry is checked) */
static const DiyFp grisu_powers[87] = {
    {18054884314459144840ULL, -1220}, {13451937075301367670ULL, -1193}, {10022474136428063862ULL, -1166},
    {14934650266808366570ULL, -1140}, {11127181549972568877ULL, -1113}, {16580792590934885855ULL, -1087},
    {12353653155963782858ULL, -1060}, {18408377700990114895ULL, -1034}, {13715310171984221708ULL, -1007},
    {10218702384817765436ULL, -980}, {15227053142812498563ULL, -954}, {11345038669416679861ULL, -927},
    {16905424996341287883ULL, -901}, {12595523146049147757ULL, -874}, {9384396036005875287ULL, -847},
    {13983839803942852151ULL, -821}, {10418772551374772303ULL, -794}, {15525180923007089351ULL, -768},
    {11567161174868858868ULL, -741}, {17236413322193710309ULL, -715}, {12842128665889583758ULL, -688},
    {9568131466127621947ULL, -661}, {14257626930069360058ULL, -635}, {10622759856335341974ULL, -608},
    {15829145694278690180ULL, -582}, {11793632577567316726ULL, -555}, {17573882009934360870ULL, -529},
    {13093562431584567480ULL, -502}, {9755464219737475723ULL, -475}, {14536774485912137811ULL, -449},
    {10830740992659433045ULL, -422}, {16139061738043178685ULL, -396}, {12024538023802026127ULL, -369},
    {17917957937422433684ULL, -343}, {13349918974505688015ULL, -316}, {9946464728195732843ULL, -289},
    {14821387422376473014ULL, -263}, {11042794154864902060ULL, -236}, {16455045573212060422ULL, -210},
    {12259964326927110867ULL, -183}, {18268770466636286478ULL, -157}, {13611294676837538539ULL, -130},
    {10141204801825835212ULL, -103}, {15111572745182864684ULL, -77}, {11258999068426240000ULL, -50},
    {16777216000000000000ULL, -24}, {12500000000000000000ULL, 3}, {9313225746154785156ULL, 30},
    {13877787807814456755ULL, 56}, {10339757656912845936ULL, 83}, {15407439555097886824ULL, 109},
    {11479437019748901445ULL, 136}, {17105694144590052135ULL, 162}, {12744735289059618216ULL, 189},
    {9495567745759798747ULL, 216}, {14149498560666738074ULL, 242}, {10542197943230523224ULL, 269},
    {15709099088952724970ULL, 295}, {11704190886730495818ULL, 322}, {17440603504673385349ULL, 348},
    {12994262207056124023ULL, 375}, {9681479787123295682ULL, 402}, {14426529090290212157ULL, 428},
    {10748601772107342003ULL, 455}, {16016664761464807395ULL, 481}, {11933345169920330789ULL, 508},
    {17782069995880619868ULL, 534}, {13248674568444952270ULL, 561}, {9871031767461413346ULL, 588},
    {14708983551653345445ULL, 614}, {10959046745042015199ULL, 641}, {16330252207878254650ULL, 667},
    {12166986024289022870ULL, 694}, {18130221999122236476ULL, 720}, {13508068024458167312ULL, 747},
    {10064294952495520794ULL, 774}, {14996968138956309548ULL, 800}, {11173611982879273257ULL, 827},
    {16649979327439178909ULL, 853}, {12405201291620119593ULL, 880}, {9242595204427927429ULL, 907},
    {13772540099066387757ULL, 933}, {10261342003245940623ULL, 960}, {15290591125556738113ULL, 986},
    {11392378155556871081ULL, 1013}, {16975966327722178521ULL, 1039}, {12648080533535911531ULL, 1066},
};

static DiyFp diy_mul(DiyFp a, DiyFp b) {
    uint64_t ah = a.f >> 32, al = a.f & 0xFFFFFFFFu, bh = b.f >> 32, bl = b.f & 0xFFFFFFFFu;
    uint64_t ah_bl = ah * bl, al_bh = al * bh, al_bl = al * bl, ah_bh = ah * bh;
    uint64_t mid = (ah_bl & 0xFFFFFFFFu) + (al_bh & 0xFFFFFFFFu) + (al_bl >> 32) + (1ULL << 31);
    DiyFp r;
    r.f = ah_bh + (ah_bl >> 32) + (al_bh >> 32) + (mid >> 32);
    r.e = a.e + b.e + 64;
    return r;
}

static const uint64_t grisu_tens[20] = {
    10000000000000000000ULL, 1000000000000000000ULL, 100000000000000000ULL, 10000000000000000ULL,
    1000000000000000ULL, 100000000000000ULL, 10000000000000ULL, 1000000000000ULL, 100000000000ULL,
    10000000000ULL, 1000000000ULL, 100000000ULL, 10000000ULL, 1000000ULL, 100000ULL, 10000ULL,
    1000ULL, 100ULL, 10ULL, 1ULL,
};

/* step the last digit down while that brings the digits closer to v (fpconv's round_digit) */
static void grisu_lower_last(char *digits, int n, uint64_t delta, uint64_t rest, uint64_t step, uint64_t wdist) {
    while (rest < wdist && delta - rest >= step && (rest + step < wdist || wdist - rest > rest + step - wdist)) {
        digits[n - 1]--;
        rest += step;
    }
}

static int grisu_digits(double value, char *digits, int *K) {
    uint64_t bits, f;
    int e, biased, shift, n = 0, kappa = 10, approx, idx, i;
    DiyFp w, up, lo, c;
    uint64_t wdist, delta, one, whole, frac;
    memcpy(&bits, &value, sizeof bits);
    f = bits & ((1ULL << 52) - 1);
    biased = (int)((bits >> 52) & 0x7FF);
    if (biased) { f += 1ULL << 52; e = biased - 1075; }
    else e = 1 - 1075;
    up.f = (f << 1) + 1;  /* the upper boundary, top bit at 63 */
    up.e = e - 1;
    while (!(up.f & (1ULL << 53))) { up.f <<= 1; up.e--; }
    up.f <<= 10;
    up.e -= 10;
    shift = f == (1ULL << 52) ? 2 : 1;  /* the lower boundary, at the upper's exponent */
    lo.f = ((f << shift) - 1) << ((e - shift) - up.e);
    lo.e = up.e;
    w.f = f;  /* v, normalized */
    w.e = e;
    while (!(w.f & (1ULL << 52))) { w.f <<= 1; w.e--; }
    w.f <<= 11;
    w.e -= 11;
    approx = (int)(-(up.e + 87) * 0.30102999566398114);
    idx = (approx + 348) / 8;
    for (;;) {
        int cur = up.e + grisu_powers[idx].e + 64;
        if (cur < -60) idx++;
        else if (cur > -32) idx--;
        else break;
    }
    c = grisu_powers[idx];
    w = diy_mul(w, c);
    lo = diy_mul(lo, c);
    up = diy_mul(up, c);
    lo.f++;
    up.f--;
    *K = -(-348 + idx * 8);
    wdist = up.f - w.f;
    delta = up.f - lo.f;
    one = 1ULL << -up.e;
    whole = up.f >> -up.e;
    frac = up.f & (one - 1);
    for (i = 10; i < 20; i++) {  /* 10^9 .. 10^0: the integral part's digits */
        uint64_t div = grisu_tens[i], rest;
        unsigned digit = (unsigned)(whole / div);
        if (digit || n) digits[n++] = (char)('0' + digit);
        whole -= digit * div;
        kappa--;
        rest = (whole << -up.e) + frac;
        if (rest <= delta) {
            *K += kappa;
            grisu_lower_last(digits, n, delta, rest, div << -up.e, wdist);
            return n;
        }
    }
    for (i = 18; n < 30; i--) {  /* fractional digits; 10^(18-i+1) scales the distance to v */
        unsigned digit;
        frac *= 10;
        delta *= 10;
        kappa--;
        digit = (unsigned)(frac >> -up.e);
        if (digit || n) digits[n++] = (char)('0' + digit);
        frac &= one - 1;
        if (frac < delta) {
            *K += kappa;
            grisu_lower_last(digits, n, delta, frac, one, wdist * grisu_tens[i]);
            return n;
        }
    }
    return -1;  /* not reached for a double */
}

static PyObject *grisu2(PyObject *self, PyObject *arg) {
    char digits[32];
    int K, n;
    double v = PyFloat_AsDouble(arg);
    if (v == -1.0 && PyErr_Occurred()) return NULL;
    if (v == 0.0 || !isfinite(v)) {
        PyErr_SetString(PyExc_ValueError, "grisu2(): a finite non-zero float");
        return NULL;
    }
    n = grisu_digits(v, digits, &K);
    if (n <= 0) {
        PyErr_SetString(PyExc_ValueError, "grisu2(): no digits");
        return NULL;
    }
    return Py_BuildValue("(s#i)", digits, (Py_ssize_t)n, K);
}

/* Valkey's d2string text of a double (resp.format_double's twin) at p, which has
 * room for 32 bytes; returns the end. */
static char *put_double(char *p, double v) {
    char digits[32];
    int K, nd, exp, neg, i;
    if (isinf(v)) { memcpy(p, v > 0 ? "inf" : "-inf", v > 0 ? 3 : 4); return p + (v > 0 ? 3 : 4); }
    if (isnan(v)) { memcpy(p, "nan", 3); return p + 3; }
    if (v == 0.0) {
        if (signbit(v)) *p++ = '-';
        *p++ = '0';
        return p;
    }
    if (v >= -4611686018427387903.0 && v <= 4611686018427387903.0 && v == (double)(long long)v)
        return put_ll(p, (long long)v);
    neg = v < 0;
    nd = grisu_digits(v, digits, &K);
    exp = abs(K + nd - 1);
    if (neg) *p++ = '-';
    if (K >= 0 && exp < nd + 7) {  /* an integer: the digits and K zeros */
        memcpy(p, digits, nd);
        p += nd;
        memset(p, '0', K);
        return p + K;
    }
    if (K < 0 && (K > -7 || exp < 4)) {  /* a plain decimal */
        int offset = nd + K;
        if (offset <= 0) {
            *p++ = '0';
            *p++ = '.';
            memset(p, '0', -offset);
            p += -offset;
            memcpy(p, digits, nd);
            return p + nd;
        }
        memcpy(p, digits, offset);
        p += offset;
        *p++ = '.';
        memcpy(p, digits + offset, nd - offset);
        return p + nd - offset;
    }
    i = K + nd - 1 < 0;  /* the exponent's sign, from all the digits */
    if (nd > 18 - neg) nd = 18 - neg;
    *p++ = digits[0];
    if (nd > 1) {
        *p++ = '.';
        memcpy(p, digits + 1, nd - 1);
        p += nd - 1;
    }
    *p++ = 'e';
    *p++ = i ? '-' : '+';
    return put_ll(p, exp);
}

static PyObject *format_double(PyObject *self, PyObject *arg) {
    char text[40];
    double v = PyFloat_AsDouble(arg);
    if (v == -1.0 && PyErr_Occurred()) return NULL;
    return PyBytes_FromStringAndSize(text, put_double(text, v) - text);
}

/* reply_array(seq, resp3): the RESP reply of a list/tuple whose items are exact
 * bytes, ints within long long, floats, None or such lists (ZPOPMIN, ZRANGE
 * WITHSCORES, ZMSCORE ...), as resp.encode writes it; None for anything else, so
 * the caller falls back to the general encoder. */
static int reply_size(PyObject *seq, int depth, Py_ssize_t *total) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), i;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    *total += 24;
    for (i = 0; i < n; i++) {
        PyObject *x = items[i];
        if (PyBytes_CheckExact(x)) *total += PyBytes_GET_SIZE(x) + 26;
        else if (PyFloat_CheckExact(x) || x == Py_None) *total += 48;
        else if (PyLong_CheckExact(x)) {
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
            *total += 24;
        }
        else if ((PyList_CheckExact(x) || PyTuple_CheckExact(x)) && depth < 64) {
            if (!reply_size(x, depth + 1, total)) return 0;
        }
        else return 0;
    }
    return 1;
}

static char *reply_put(char *p, PyObject *seq, int resp3) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), i;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    p = put_header(p, '*', n);
    for (i = 0; i < n; i++) {
        PyObject *x = items[i];
        if (PyBytes_CheckExact(x)) {
            p = fast_put_bulk(p, PyBytes_AS_STRING(x), PyBytes_GET_SIZE(x));
        } else if (PyFloat_CheckExact(x)) {
            char text[40];
            Py_ssize_t len = put_double(text, PyFloat_AS_DOUBLE(x)) - text;
            if (!resp3) {
                p = fast_put_bulk(p, text, len);
                continue;
            }
            *p++ = ',';
            memcpy(p, text, len);
            p += len;
            *p++ = '\r';
            *p++ = '\n';
        } else if (x == Py_None) {
            memcpy(p, resp3 ? "_\r\n" : "$-1\r\n", resp3 ? 3 : 5);
            p += resp3 ? 3 : 5;
        } else if (PyLong_CheckExact(x)) {
            p = put_header(p, ':', PyLong_AsLongLong(x));  /* in range: reply_size checked */
        } else {
            p = reply_put(p, x, resp3);
        }
    }
    return p;
}

static PyObject *reply_array(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t total = 0;
    PyObject *seq, *out;
    char *end;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "reply_array(seq, resp3)");
        return NULL;
    }
    seq = args[0];
    if ((!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) || !reply_size(seq, 0, &total)) Py_RETURN_NONE;
    out = PyBytes_FromStringAndSize(NULL, total);
    if (!out) return NULL;
    end = reply_put(PyBytes_AS_STRING(out), seq, PyObject_IsTrue(args[1]) == 1);
    if (_PyBytes_Resize(&out, end - PyBytes_AS_STRING(out)) < 0) return NULL;
    return out;
}

/* set bits in p[start:end] with the CPU's popcnt instruction (x86-64 has it
 * since 2008, but the default build target does not assume it: popcount checks
 * at run time); four sums, so the popcnts do not wait on one another */
#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_POPCNT_TARGET 1
__attribute__((target("popcnt"))) static unsigned long long popcount_hw(const unsigned char *p, Py_ssize_t start, Py_ssize_t end) {
    unsigned long long t0 = 0, t1 = 0, t2 = 0, t3 = 0, w[4];
    Py_ssize_t i;
    for (i = start; i + 32 <= end; i += 32) {
        memcpy(w, p + i, 32);
        t0 += (unsigned long long)__builtin_popcountll(w[0]);
        t1 += (unsigned long long)__builtin_popcountll(w[1]);
        t2 += (unsigned long long)__builtin_popcountll(w[2]);
        t3 += (unsigned long long)__builtin_popcountll(w[3]);
    }
    for (; i < end; i++) t0 += (unsigned long long)__builtin_popcount(p[i]);
    return t0 + t1 + t2 + t3;
}
#endif

/* popcount(buffer, start, end, portable=False): set bits in bytes [start, end) of a
 * bytes-like object (BITCOUNT's whole bytes; bitops.count_bits masks the edge
 * bytes); ``portable``: without the popcnt instruction (the tests compare both) */
static PyObject *popcount(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end, i;
    unsigned long long total = 0, word;
    const unsigned char *p;
    int portable = 0;
    if (!PyArg_ParseTuple(args, "y*nn|p", &view, &start, &end, &portable)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_IndexError, "popcount(): range out of the buffer");
        return NULL;
    }
    p = (const unsigned char *)view.buf;
#ifdef HAVE_POPCNT_TARGET
    if (!portable && __builtin_cpu_supports("popcnt")) {
        Py_BEGIN_ALLOW_THREADS
        total = popcount_hw(p, start, end);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&view);
        return PyLong_FromUnsignedLongLong(total);
    }
#endif
    Py_BEGIN_ALLOW_THREADS
    for (i = start; i + 8 <= end; i += 8) {  /* SWAR: no popcnt instruction */
        memcpy(&word, p + i, 8);
        word -= (word >> 1) & 0x5555555555555555ULL;
        word = (word & 0x3333333333333333ULL) + ((word >> 2) & 0x3333333333333333ULL);
        word = (word + (word >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
        total += (word * 0x0101010101010101ULL) >> 56;
    }
    for (; i < end; i++) total += (unsigned long long)__builtin_popcount(p[i]);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(total);
}

/* writes(): the writes the C loop counted (c_writes), for the shard's save points */
static PyObject *py_writes(PyObject *self, PyObject *unused) {
    return PyLong_FromLongLong(c_writes);
}

/* aof_buffer_reset(buf): empty the AOF buffer, keeping up to 1 MiB of its room for the next batch */
static PyObject *py_aof_buffer_reset(PyObject *self, PyObject *buf) {
    PyByteArrayObject *b = (PyByteArrayObject *)buf;
    (void)self;
    if (!PyByteArray_CheckExact(buf)) {
        PyErr_SetString(PyExc_TypeError, "aof_buffer_reset(): a bytearray is needed");
        return NULL;
    }
    if (b->ob_exports > 0 || b->ob_alloc > (1 << 20)) {
        if (PyByteArray_Resize(buf, 0) < 0) return NULL;  /* the usual way: frees the room */
    } else if (b->ob_bytes) {
        b->ob_start = b->ob_bytes;
        Py_SET_SIZE(b, 0);
        b->ob_bytes[0] = '\0';
    }
    Py_RETURN_NONE;
}

/* stored_key(d, key): the object the dict d holds for the bytes key, or None
 * (not there, or the hint is off); for tests of the fast path's hint */
static PyObject *py_stored_key(PyObject *self, PyObject *args) {
    PyObject *d, *key, *found;
    Py_hash_t h;
    if (!PyArg_ParseTuple(args, "O!O!:stored_key", &PyDict_Type, &d, &PyBytes_Type, &key)) return NULL;
    if ((h = PyObject_Hash(key)) == -1) return NULL;
    found = stored_key(d, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), h);
    if (!found) Py_RETURN_NONE;
    Py_INCREF(found);
    return found;
}

static PyMethodDef module_methods[] = {
    {"item_bisect", (PyCFunction)(void (*)(void))item_bisect, METH_FASTCALL, "bisect_left/right of (score, member) in a sorted list of (float, bytes) tuples (their scores side by side in an optional array('d'))."},
    {"grisu2", grisu2, METH_O, "Valkey's (fpconv's) digits and decimal exponent of a finite non-zero double."},
    {"popcount", popcount, METH_VARARGS, "Set bits in bytes [start, end) of a bytes-like object."},
    {"writes", py_writes, METH_NOARGS, "The writes that changed something run by the C loop, since the process started."},
    {"aof_buffer_reset", py_aof_buffer_reset, METH_O, "Empty an AOF buffer (bytearray), keeping its room for the next batch."},
    {"stored_key", py_stored_key, METH_VARARGS, "The key object a dict of bytes keys holds for key, or None (the fast path's lookup hint)."},
    {"format_double", format_double, METH_O, "Valkey's text of a double (resp.format_double), as bytes."},
    {"reply_array", (PyCFunction)(void (*)(void))reply_array, METH_FASTCALL, "RESP reply of a list/tuple of bytes, ints, floats, None and such lists, or None."},
    {"bulk_array", bulk_array, METH_O, "RESP array of bulk strings for a list/tuple of bytes, or None."},
    {"entry_size", entry_size, METH_O, "Bytes a listpack entry for this string takes."},
    {"lcs_table", (PyCFunction)(void (*)(void))lcs_table, METH_FASTCALL, "lcs_table(a, b): LCS's dynamic-programming table as native uint32, row by row."},
    {"glob_match", (PyCFunction)(void (*)(void))glob_match, METH_FASTCALL, "glob_match(pattern, subject, nocase=False): Valkey's stringmatchlen."},
    {"configure_lists", configure_lists, METH_VARARGS, "configure_lists(ListValue, FILL): the list class whose pushes run_raw_runs takes."},
    {"configure_hashes", configure_hashes, METH_VARARGS, "configure_hashes(Hash, _Buckets, LIMITS): the hash classes whose HSET run_raw_runs takes."},
    {"configure_streams", configure_streams, METH_VARARGS, "configure_streams(Stream, _Node, LIMITS): the stream classes whose XADD run_raw_runs takes."},
    {"configure_strings", configure_strings, METH_VARARGS, "configure_strings(RawStr, EmbStr): the string classes whose GETBIT, GETRANGE, SETBIT and SETRANGE run_raw_runs takes."},
    {"configure_zsets", configure_zsets, METH_VARARGS, "configure_zsets(ZSetValue, RankedList, ScanList, LIMITS, LISTPACK): the sorted set classes whose ZADD and ZPOPMIN/ZPOPMAX run_raw_runs takes."},
    {"configure_sets", configure_sets, METH_VARARGS, "configure_sets(SetValue, ScanList, LIMITS, HASHTABLE, LISTPACK): the set classes whose SADD run_raw_runs takes."},
    {"stream_entry_bytes", (PyCFunction)(void (*)(void))stream_entry_bytes, METH_FASTCALL, "Listpack bytes one stream entry adds to its node."},
    {"entries_size", entries_size, METH_O, "Sum of entry_size over a sequence of strings."},
    {"run_raw_runs", (PyCFunction)(void (*)(void))run_raw_runs, METH_FASTCALL, "The shard's fast path: a message's raw client runs, their leading GET/SET/INCR/MGET/MSET commands."},
    {"join_finals", (PyCFunction)(void (*)(void))join_finals, METH_FASTCALL, "Join each final run's replies in place in a reply message."},
    {"store_flat", (PyCFunction)(void (*)(void))store_flat, METH_FASTCALL, "Store [key, value, ...] pairs of bytes and index their keys by slot."},
    {"load_values", (PyCFunction)(void (*)(void))load_values, METH_FASTCALL, "A base file's __values entries into a database: store, index, file each new key."},
    {"load_plain_sets", (PyCFunction)(void (*)(void))load_plain_sets, METH_FASTCALL, "AOF replay: store a run of records creating new keys (plain SETs, makers' values); returns where the run ends."},
    {"key_slot", key_slot, METH_O, "Hash slot of a key (CRC16 of its hash tag or whole key, mod 16384)."},
    {"interleave", interleave, METH_VARARGS, "Merge per-shard replies back into request order."},
    {"merge_splits", merge_splits, METH_VARARGS, "The replies to a run of split commands, from the shards' joined replies and lengths."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", "shardserver hot paths in C.", -1, module_methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *m;
    crc16_init();
#ifdef HAVE_DICT_PREFETCH
    stored_key_ok = stored_key_selftest();
#endif
    {
        int i;
        for (i = 0; i < N_FAST_NAMES; i++) {
            fast_names[i].obj = PyBytes_FromString(fast_names[i].text);
            if (!fast_names[i].obj) return NULL;
        }
    }
    reply_ok = PyBytes_FromString("+OK\r\n");
    if (!reply_ok) return NULL;
    if (!(s_data = PyUnicode_InternFromString("data")) || !(s_expires = PyUnicode_InternFromString("expires")) ||
        !(s_atime = PyUnicode_InternFromString("atime")) || !(s_by_slot = PyUnicode_InternFromString("by_slot")) ||
        !(s_watched = PyUnicode_InternFromString("watched")) || !(s_append = PyUnicode_InternFromString("append")) ||
        !(s_appendleft = PyUnicode_InternFromString("appendleft")) || !(s_pop = PyUnicode_InternFromString("pop")) ||
        !(s_popleft = PyUnicode_InternFromString("popleft")) || !(s_reversed = PyUnicode_InternFromString("__reversed__")))
        return NULL;
    if (!(s_db = PyUnicode_InternFromString("db")) || !(s_touch = PyUnicode_InternFromString("touch")) ||
        !(s_resp3 = PyUnicode_InternFromString("resp3")) || !(s_rewrite = PyUnicode_InternFromString("rewrite")) ||
        !(s_text = PyUnicode_InternFromString("text")) || !(s_log = PyUnicode_InternFromString("log")))
        return NULL;
    str_on_store = PyUnicode_InternFromString("on_store");
    if (!str_on_store) return NULL;
    if (PyType_Ready(&ParserType) < 0 || PyType_Ready(&SlotIndexType) < 0) return NULL;
    m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ParserType);
    if (PyModule_AddObject(m, "Parser", (PyObject *)&ParserType) < 0) { Py_DECREF(&ParserType); Py_DECREF(m); return NULL; }
    Py_INCREF(&SlotIndexType);
    if (PyModule_AddObject(m, "SlotIndex", (PyObject *)&SlotIndexType) < 0) { Py_DECREF(&SlotIndexType); Py_DECREF(m); return NULL; }
#ifdef HAVE_DICT_PREFETCH
    if (PyModule_AddIntConstant(m, "STORED_KEY_HINT", stored_key_ok) < 0) { Py_DECREF(m); return NULL; }
#else
    if (PyModule_AddIntConstant(m, "STORED_KEY_HINT", 0) < 0) { Py_DECREF(m); return NULL; }
#endif
    return m;
}
