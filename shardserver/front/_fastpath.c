/*
 * The front's per-read and per-reply hot path in C (optional).
 *
 * Ownership: this module owns no state.  It works on the front's own Python
 * objects (connections, shard links, reply cells, targets) exactly as their
 * Python twins do -- ClientConnection.process_input/routed/write_ready and
 * Front.dispatch_routed/_close_run/_drain_replies -- and hands every case it
 * does not cover back to them.  Without a compiler those twins serve alone.
 *
 *   receive(front, conn, data) -> bool
 *       A client's bytes: False (nothing touched) unless the connection may
 *       take the router's path now (authenticated, not blocked, no MONITOR or
 *       CLIENT PAUSE).  Otherwise feeds the parser, routes, queues the leading
 *       runs (one shard's, groups spanning shards, commands split over
 *       shards) and PING replies itself and calls conn.routed(items, start,
 *       error) for whatever is left (slow commands, a shard on hold or down,
 *       a protocol error, an overfull query buffer); else writes the ready
 *       replies.  A split's statistics go to front._split_sent.
 *   write_ready(conn)        ClientConnection.write_ready.
 *   write_all(conns)         write_ready for each connection of an iterable.
 *   deliver(items, inflight, dirty, special)
 *       One reply message's [run_id, payload, ...]: fills client runs' cells
 *       and, once all parts are in, groups' and splits' cells (their
 *       connection added to ``dirty``), calls other targets'
 *       deliver(payload), and special(run_id, payload) for run ids <= 0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <time.h>

/* wire.py's flags */
#define F_RESP3 1
#define F_NO_TOUCH 8
#define F_LENGTHS 4
#define F_SPLIT_PART 16

static PyObject *s__p, *s_feed, *s_drain_routed, *s_raw_owner, *s_buffered, *s__schedule_flush, *s_total_commands_processed,
    *s_is_closing, *s_write, *s_close,
    *s_deliver, *s_popleft, *s_lower, *s_routed, *s_fail, *s_ping, *s_routable, *s_append, *s_front, *s_conn, *s_cell, *s_parts,
    *s_remaining, *s_order, *s_job, *s_shard, *s_merges, *s_orders, *s__split_sent, *s_done, *s_process_data;

/* ConnBase: the storage of a ClientConnection's fields that every read and
 * reply touches, so this path reads them without attribute lookups; Python
 * sees them as ordinary attributes.  Flags are objects (any truth value).
 * In each base the object fields come first, in a row (see base_traverse). */
typedef struct {
    PyObject_HEAD
    PyObject *front, *parser, *pending, *transport, *last_cmd, *db, *id;
    PyObject *closing, *blocked, *authenticated, *resp3, *no_touch, *close_after_flush;
    Py_ssize_t net_in, net_out, tot_cmds;
    double last_active;
} Conn;

static PyTypeObject ConnType;

/* FrontBase and LinkBase: the same for the front and its shard links. */
typedef struct {
    PyObject_HEAD
    PyObject *links, *nshards, *slotmap, *stats, *names, *fast, *pause_mode, *monitors, *dirty_links, *flush_scheduled;
    long long next_run;
    Py_ssize_t query_buffer_limit;
    long long pings;  /* PINGs answered in place, not yet in the command statistics */
} FrontObj;

typedef struct {
    PyObject_HEAD
    PyObject *holder, *lockq, *up, *inflight, *out;
} LinkObj;

static PyTypeObject FrontType, LinkType;

static int unset(const char *name) {
    PyErr_Format(PyExc_AttributeError, "%s is unset", name);
    return -1;
}

/* a flag's truth: 1, 0 (unset counts as false) or -1 */
static int truth(PyObject *o) {
    if (o == Py_True) return 1;
    if (!o || o == Py_False || o == Py_None) return 0;
    return PyObject_IsTrue(o);
}

static Conn *as_conn(PyObject *conn) {
    if (!PyObject_TypeCheck(conn, &ConnType)) {
        PyErr_SetString(PyExc_TypeError, "a connection is a ConnBase");
        return NULL;
    }
    return (Conn *)conn;
}

/* set by configure(): the front's target classes and the C interleave and merge */
static PyTypeObject *group_type, *part_type, *split_type;
static PyObject *interleave_fn, *merge_fn, *empty_tuple;

static int add_item(PyObject *dict, PyObject *key, Py_ssize_t delta) {
    PyObject *v = PyDict_GetItemWithError(dict, key), *d, *s;
    if (!v) return PyErr_Occurred() ? -1 : 0;
    d = PyLong_FromSsize_t(delta);
    s = d ? PyNumber_Add(v, d) : NULL;
    Py_XDECREF(d);
    if (!s) return -1;
    int rc = PyDict_SetItem(dict, key, s);
    Py_DECREF(s);
    return rc;
}

/* truth of obj.name, or -1 */
static int attr_true(PyObject *obj, PyObject *name) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (!v) return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* ClientConnection.write_ready: write the replies known so far, in request order */
static int write_ready(PyObject *obj) {
    Conn *conn = as_conn(obj);
    PyObject *pending, *chunks = NULL, *transport = NULL, *data = NULL, *r;
    int rc = -1, closing;
    Py_ssize_t n;
    if (!conn) return -1;
    if (!(pending = Py_XNewRef(conn->pending))) {
        PyErr_SetString(PyExc_AttributeError, "pending");
        return -1;
    }
    n = PyObject_Length(pending);
    if (n <= 0) {
        Py_DECREF(pending);
        return n < 0 ? -1 : 0;
    }
    chunks = PyList_New(0);
    if (!chunks) goto done;
    while (n > 0) {
        PyObject *cell = PySequence_GetItem(pending, 0), *v;
        if (!cell) goto done;
        if (!PyList_Check(cell) || PyList_GET_SIZE(cell) < 1) {
            Py_DECREF(cell);
            PyErr_SetString(PyExc_TypeError, "a reply cell is a one-element list");
            goto done;
        }
        v = PyList_GET_ITEM(cell, 0);
        if (v == Py_None) {
            Py_DECREF(cell);
            break;
        }
        if (PyList_Append(chunks, v) < 0) {
            Py_DECREF(cell);
            goto done;
        }
        Py_DECREF(cell);
        r = PyObject_CallMethodNoArgs(pending, s_popleft);
        if (!r) goto done;
        Py_DECREF(r);
        n--;
    }
    if (PyList_GET_SIZE(chunks) == 0) {  /* the next reply is not known yet */
        rc = 0;
        goto done;
    }
    transport = Py_XNewRef(conn->transport);
    if (!transport || transport == Py_None) {
        rc = 0;  /* the client went away: its replies have nowhere to go */
        goto done;
    }
    r = PyObject_CallMethodNoArgs(transport, s_is_closing);
    if (!r) goto done;
    closing = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (closing) {
        rc = closing < 0 ? -1 : 0;
        goto done;
    }
    {
        if (PyList_GET_SIZE(chunks) == 1) {
            data = PyList_GET_ITEM(chunks, 0);
            Py_INCREF(data);
        } else {
            Py_ssize_t i, total = 0;
            char *w;
            for (i = 0; i < PyList_GET_SIZE(chunks); i++) {
                PyObject *b = PyList_GET_ITEM(chunks, i);
                if (!PyBytes_Check(b)) {
                    PyErr_SetString(PyExc_TypeError, "a reply is bytes");
                    goto done;
                }
                total += PyBytes_GET_SIZE(b);
            }
            if (!(data = PyBytes_FromStringAndSize(NULL, total))) goto done;
            w = PyBytes_AS_STRING(data);
            for (i = 0; i < PyList_GET_SIZE(chunks); i++) {
                PyObject *b = PyList_GET_ITEM(chunks, i);
                memcpy(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
                w += PyBytes_GET_SIZE(b);
            }
        }
        conn->net_out += PyBytes_GET_SIZE(data);
        r = PyObject_CallMethodOneArg(transport, s_write, data);
        if (!r) goto done;
        Py_DECREF(r);
    }
    {
        int after = truth(conn->close_after_flush);
        if (after < 0) goto done;
        if (after) {
            Py_ssize_t left = PyObject_Length(pending);
            if (left < 0) goto done;
            if (left == 0) {
                r = PyObject_CallMethodNoArgs(transport, s_close);
                if (!r) goto done;
                Py_DECREF(r);
            }
        }
    }
    rc = 0;
done:
    Py_XDECREF(pending);
    Py_XDECREF(chunks);
    Py_XDECREF(transport);
    Py_XDECREF(data);
    return rc;
}

static PyObject *py_write_ready(PyObject *self, PyObject *conn) {
    if (write_ready(conn) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *write_all(PyObject *self, PyObject *conns) {
    PyObject *it = PyObject_GetIter(conns), *conn;
    if (!it) return NULL;
    while ((conn = PyIter_Next(it)) != NULL) {
        int rc = write_ready(conn);
        Py_DECREF(conn);
        if (rc < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

/* Per-read state read once from the front and the connection. */
typedef struct {
    PyObject *front, *conn, *pending, *links, *dirty_links, *db, *client_id;
    long flags;
    long long next_run;
    int flush_scheduled;
} Ctx;

/* may ``link`` take a run now (no hold, up)? 1 yes, 0 no (Python decides), -1 error */
static int link_free(PyObject *link) {
    LinkObj *l = (LinkObj *)link;
    int t;
    if (!PyObject_TypeCheck(link, &LinkType)) {
        PyErr_SetString(PyExc_TypeError, "a shard link is a LinkBase");
        return -1;
    }
    if (l->holder != Py_None) return l->holder ? 0 : unset("holder");
    if ((t = truth(l->lockq)) != 0) return t < 0 ? -1 : 0;
    return truth(l->up);
}

/* an instance of a __slots__ class without running its __init__: (name, value) pairs */
static PyObject *make_slots(PyTypeObject *type, int n, PyObject *const *kv) {
    PyObject *obj = type->tp_new(type, empty_tuple, NULL);
    int i;
    if (!obj) return NULL;
    for (i = 0; i < n; i++) {
        if (PyObject_SetAttr(obj, kv[2 * i], kv[2 * i + 1]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

/* Front._send for a free link: [run_id, db, flags, raw, client] on the link's
 * next message, ``target`` in its in-flight runs, the flush scheduled; 0 or -1 */
static int send_run(Ctx *c, PyObject *link, PyObject *raw, long flags, PyObject *target) {
    PyObject *rid = PyLong_FromLongLong(c->next_run), *fl = PyLong_FromLong(flags), *item = NULL, *inflight = NULL, *out = NULL, *v;
    int rc = -1;
    if (!rid || !fl || !(item = PyList_New(5))) goto done;
    {
        PyObject *fields[5] = {rid, c->db, fl, raw, c->client_id};
        for (int i = 0; i < 5; i++) PyList_SET_ITEM(item, i, Py_NewRef(fields[i]));
    }
    inflight = Py_XNewRef(((LinkObj *)link)->inflight);
    out = Py_XNewRef(((LinkObj *)link)->out);
    if (!inflight || !out) {
        unset("a link's inflight or out");
        goto done;
    }
    if (PyObject_SetItem(inflight, rid, target) < 0 || PyList_Append(out, item) < 0 || PySet_Add(c->dirty_links, link) < 0) goto done;
    c->next_run++;
    if (!c->flush_scheduled) {
        if (!(v = PyObject_CallMethodNoArgs(c->front, s__schedule_flush))) goto done;
        Py_DECREF(v);
        c->flush_scheduled = 1;
    }
    rc = 0;
done:
    Py_XDECREF(rid);
    Py_XDECREF(fl);
    Py_XDECREF(item);
    Py_XDECREF(inflight);
    Py_XDECREF(out);
    return rc;
}

/* a new empty reply cell ([None]) queued on the connection */
static PyObject *new_cell(Ctx *c) {
    PyObject *cell = PyList_New(1), *r;
    if (!cell) return NULL;
    Py_INCREF(Py_None);
    PyList_SET_ITEM(cell, 0, Py_None);
    if (!(r = PyObject_CallMethodOneArg(c->pending, s_append, cell))) {
        Py_DECREF(cell);
        return NULL;
    }
    Py_DECREF(r);
    return cell;
}

/* Front._close_run for a run of n raw commands of one shard: 1 queued, 0 the
 * shard cannot take it now (on hold, or down: the Python twin decides), -1 error */
static int close_run(Ctx *c, Py_ssize_t shard, PyObject *raw, Py_ssize_t n) {
    PyObject *link, *cell, *count, *target;
    int t;
    if (shard < 0 || shard >= PyList_GET_SIZE(c->links)) {
        PyErr_SetString(PyExc_IndexError, "run for an unknown shard");
        return -1;
    }
    link = PyList_GET_ITEM(c->links, shard);
    if ((t = link_free(link)) <= 0) return t;
    if (!(cell = new_cell(c))) return -1;
    count = PyLong_FromSsize_t(n);
    target = count ? PyTuple_Pack(3, c->conn, cell, count) : NULL;
    t = target && send_run(c, link, raw, c->flags, target) == 0 ? 1 : -1;
    Py_DECREF(cell);
    Py_XDECREF(count);
    Py_XDECREF(target);
    return t;
}

/* A ShardRuns job of ``type`` over ``raws`` (a part per shard, or None): its
 * ShardRuns slots plus ``nextra`` (name, value) pairs, a reply cell queued, and
 * for each part a run with ``flags`` whose target is a ShardPart.  1 queued, 0
 * a shard with a part is on hold or down (Python decides), -1 error */
static int close_parts(Ctx *c, PyObject *raws, PyTypeObject *type, int nextra, PyObject *const *extra, long flags) {
    Py_ssize_t nraws = PyList_GET_SIZE(raws), s, nparts = 0;
    PyObject *cell = NULL, *parts = NULL, *job = NULL, *remaining = NULL;
    int t, rc = -1;
    if (!type || nraws > PyList_GET_SIZE(c->links)) return 0;
    for (s = 0; s < nraws; s++) {
        if (PyList_GET_ITEM(raws, s) == Py_None) continue;
        if ((t = link_free(PyList_GET_ITEM(c->links, s))) <= 0) return t;
        nparts++;
    }
    if (!(parts = PyList_New(nraws))) return -1;
    for (s = 0; s < nraws; s++) PyList_SET_ITEM(parts, s, Py_NewRef(Py_None));
    if (!(remaining = PyLong_FromSsize_t(nparts)) || !(cell = new_cell(c))) goto done;
    {
        PyObject *kv[14] = {s_front, c->front, s_conn, c->conn, s_cell, cell, s_parts, parts, s_remaining, remaining};
        int i, n = nextra < 2 ? nextra : 2;  /* a job's own slots: at most 2 */
        for (i = 0; i < 2 * n; i++) kv[10 + i] = extra[i];
        if (!(job = make_slots(type, 5 + n, kv))) goto done;
    }
    for (s = 0; s < nraws; s++) {
        PyObject *shard, *part = NULL;
        if (PyList_GET_ITEM(raws, s) == Py_None) continue;
        if ((shard = PyLong_FromSsize_t(s))) {
            PyObject *kv[] = {s_job, job, s_shard, shard};
            part = make_slots(part_type, 2, kv);
        }
        t = part && send_run(c, PyList_GET_ITEM(c->links, s), PyList_GET_ITEM(raws, s), flags, part) == 0;
        Py_XDECREF(shard);
        Py_XDECREF(part);
        if (!t) goto done;
    }
    rc = 1;
done:
    Py_XDECREF(cell);
    Py_XDECREF(parts);
    Py_XDECREF(job);
    Py_XDECREF(remaining);
    return rc;
}

/* Front._close_group: one connection's commands spread over shards, as a
 * GroupTarget: 1 queued, 0 Python decides, -1 error */
static int close_group(Ctx *c, PyObject *order, PyObject *raws) {
    PyObject *extra[] = {s_order, order};
    return close_parts(c, raws, group_type, 1, extra, c->flags | F_LENGTHS);
}

/* Front._close_split: commands the router split over shards (MSET, MGET, DEL...)
 * as a RawSplit; their statistics go to the front's _split_sent.  1 queued, 0
 * Python decides (a shard on hold or down, or a write that needs an intent:
 * its merge has the TX bit 0x40), -1 error */
static int close_split(Ctx *c, PyObject *item) {
    PyObject *merges = PyTuple_GET_ITEM(item, 0), *orders = PyTuple_GET_ITEM(item, 1), *raws = PyTuple_GET_ITEM(item, 2),
             *names = PyTuple_GET_ITEM(item, 3), *took, *r;
    PyObject *extra[] = {s_merges, merges, s_orders, orders};
    Py_ssize_t nnames;
    struct timespec t0, t1;
    int t;
    if (!PyList_CheckExact(raws) || !PyList_CheckExact(names) || (nnames = PyList_GET_SIZE(names)) == 0) return 0;
    if (!PyBytes_CheckExact(merges)) return 0;
    for (Py_ssize_t k = 0; k < PyBytes_GET_SIZE(merges); k++)
        if (PyBytes_AS_STRING(merges)[k] & 0x40) return 0;  /* a write under an intent (AOF on): Front._close_split */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((t = close_parts(c, raws, split_type, 2, extra, c->flags | F_LENGTHS | F_SPLIT_PART)) <= 0) return t;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!(took = PyLong_FromLongLong(((long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec)) / nnames))) return -1;
    r = PyObject_CallMethodObjArgs(c->front, s__split_sent, c->conn, names, orders, raws, took, NULL);
    Py_DECREF(took);
    if (!r) return -1;
    Py_DECREF(r);
    return 1;
}

/* is every byte of ``order`` the same shard? */
static int one_shard(PyObject *order) {
    const char *p = PyBytes_AS_STRING(order);
    Py_ssize_t n = PyBytes_GET_SIZE(order), i;
    for (i = 1; i < n; i++)
        if (p[i] != p[0]) return 0;
    return n > 0;
}

/* Queue the leading items the C path covers; returns how many, or -1. */
static Py_ssize_t dispatch_prefix(Ctx *c, PyObject *items, Py_ssize_t *ncmds, PyObject **last) {
    Py_ssize_t i, n = PyList_GET_SIZE(items);
    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i), *order, *raws;
        if (!PyTuple_CheckExact(item)) break;
        if (PyTuple_GET_SIZE(item) == 4) {  /* (merges, orders, raws, names): split over shards */
            PyObject *names = PyTuple_GET_ITEM(item, 3);
            int t = close_split(c, item);
            if (t < 0) return -1;
            if (t == 0) break;
            *ncmds += PyList_GET_SIZE(names);
            Py_XSETREF(*last, Py_NewRef(PyList_GET_ITEM(names, PyList_GET_SIZE(names) - 1)));
            continue;
        }
        if (PyTuple_GET_SIZE(item) != 3) break;
        order = PyTuple_GET_ITEM(item, 0);
        raws = PyTuple_GET_ITEM(item, 1);
        if (order == Py_None) {  /* PING replies, answered in place */
            PyObject *cell = PyList_New(1), *r;
            Py_ssize_t count = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 2));
            if (!cell || (count < 0 && PyErr_Occurred())) {
                Py_XDECREF(cell);
                return -1;
            }
            Py_INCREF(raws);
            PyList_SET_ITEM(cell, 0, raws);
            r = PyObject_CallMethodOneArg(c->pending, s_append, cell);
            Py_DECREF(cell);
            if (!r) return -1;
            Py_DECREF(r);
            *ncmds += count;
            ((FrontObj *)c->front)->pings += count;  /* Front.command_stats adds them */
            Py_XSETREF(*last, Py_NewRef(s_ping));
            continue;
        }
        if (!PyBytes_CheckExact(order) || !PyList_CheckExact(raws) || PyBytes_GET_SIZE(order) == 0) break;
        if (!one_shard(order)) {
            int t = close_group(c, order, raws);
            if (t < 0) return -1;
            if (t == 0) break;
            *ncmds += PyBytes_GET_SIZE(order);
            Py_XSETREF(*last, Py_NewRef(PyTuple_GET_ITEM(item, 2)));
            continue;
        }
        {
            Py_ssize_t shard = (unsigned char)PyBytes_AS_STRING(order)[0];
            int t;
            if (shard >= PyList_GET_SIZE(raws)) break;
            t = close_run(c, shard, PyList_GET_ITEM(raws, shard), PyBytes_GET_SIZE(order));
            if (t < 0) return -1;
            if (t == 0) break;
        }
        *ncmds += PyBytes_GET_SIZE(order);
        Py_XSETREF(*last, Py_NewRef(PyTuple_GET_ITEM(item, 2)));
    }
    return i;
}

/* conn.last_cmd = the table entry of ``name`` (as sent, or lower-cased), if any */
static int set_last_cmd(Ctx *c, PyObject *name) {
    PyObject *names = Py_XNewRef(((FrontObj *)c->front)->names), *spec, *low = NULL;
    int rc = -1;
    if (!names) return unset("_names");
    spec = PyDict_GetItemWithError(names, name);
    if (!spec && !PyErr_Occurred()) {
        if (!(low = PyObject_CallMethodNoArgs(name, s_lower))) goto done;
        spec = PyDict_GetItemWithError(names, low);
    }
    if (!spec) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    Py_XSETREF(((Conn *)c->conn)->last_cmd, Py_NewRef(spec));
    rc = 0;
done:
    Py_DECREF(names);
    Py_XDECREF(low);
    return rc;
}

/* may this connection's input take the router's path now? 1 yes, 0 no, -1 error */
static int eligible(FrontObj *front, Conn *conn, PyObject *parser) {
    int t;
    if ((t = truth(conn->blocked)) != 0) return t < 0 ? -1 : 0;
    if ((t = truth(conn->authenticated)) <= 0) return t;
    if (front->pause_mode != Py_None) return front->pause_mode ? 0 : unset("pause_mode");
    if ((t = truth(front->monitors)) != 0) return t < 0 ? -1 : 0;
    return attr_true(parser, s_routable);
}

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static PyObject *receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *front, *conn, *data, *parser = NULL, *p = NULL, *r = NULL, *fast = NULL, *slotmap = NULL, *owner = NULL,
                                   *nshards = NULL, *items = NULL, *err = NULL, *last = NULL, *result = NULL, *v;
    Ctx c = {0};
    Conn *cn;
    FrontObj *fr;
    Py_ssize_t start, ncmds = 0;
    int t;
    if (nargs != 3 || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "receive(front, conn, data: bytes)");
        return NULL;
    }
    front = args[0];
    conn = args[1];
    data = args[2];
    if (!(cn = as_conn(conn))) return NULL;
    if (!PyObject_TypeCheck(front, &FrontType)) {
        PyErr_SetString(PyExc_TypeError, "the front is a FrontBase");
        return NULL;
    }
    fr = (FrontObj *)front;
    if ((t = truth(cn->closing)) != 0) {
        if (t < 0) return NULL;
        Py_RETURN_TRUE;  /* dropped, as the Python twin does */
    }
    if (!(parser = Py_XNewRef(cn->parser))) {
        PyErr_SetString(PyExc_AttributeError, "parser");
        return NULL;
    }
    if ((t = eligible(fr, cn, parser)) <= 0) {
        Py_DECREF(parser);
        if (t < 0) return NULL;
        Py_RETURN_FALSE;
    }
    cn->net_in += PyBytes_GET_SIZE(data);
    cn->last_active = monotonic();
    if (!(p = PyObject_GetAttr(parser, s__p))) goto done;
    if (!(r = PyObject_CallMethodOneArg(p, s_feed, data))) goto done;
    Py_CLEAR(r);
    fast = Py_XNewRef(fr->fast);
    slotmap = Py_XNewRef(fr->slotmap);
    nshards = Py_XNewRef(fr->nshards);
    if (!fast || !slotmap || !nshards) {
        unset("the front's _fast, slotmap or nshards");
        goto done;
    }
    if (!(owner = PyObject_GetAttr(slotmap, s_raw_owner))) goto done;
    if (!(r = PyObject_CallMethodObjArgs(p, s_drain_routed, fast, owner, nshards, NULL))) goto done;
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2 || !PyList_Check(PyTuple_GET_ITEM(r, 0))) {
        PyErr_SetString(PyExc_TypeError, "drain_routed returns (items, error)");
        goto done;
    }
    items = Py_NewRef(PyTuple_GET_ITEM(r, 0));
    if (PyTuple_GET_ITEM(r, 1) != Py_None) {  /* the parser's wrapper keeps it and gives it as str */
        if (!(err = PyObject_CallMethodOneArg(parser, s_fail, PyTuple_GET_ITEM(r, 1)))) goto done;
    }
    start = 0;
    if (PyList_GET_SIZE(items) > 0) {  /* else a partial command: nothing to queue */
        c.front = front;
        c.conn = conn;
        c.pending = Py_XNewRef(cn->pending);
        c.db = Py_XNewRef(cn->db);
        c.client_id = Py_XNewRef(cn->id);
        if (!c.pending || !c.db || !c.client_id) {
            PyErr_SetString(PyExc_AttributeError, "a connection's pending, db or id is unset");
            goto done;
        }
        c.links = Py_XNewRef(fr->links);
        c.dirty_links = Py_XNewRef(fr->dirty_links);
        if (!c.links || !c.dirty_links) {
            unset("the front's links or _dirty_links");
            goto done;
        }
        if (!PyList_Check(c.links) || !PySet_Check(c.dirty_links)) {
            PyErr_SetString(PyExc_TypeError, "front.links is a list, front._dirty_links a set");
            goto done;
        }
        if ((t = truth(cn->resp3)) < 0) goto done;
        c.flags = t ? F_RESP3 : 0;
        if ((t = truth(cn->no_touch)) < 0) goto done;
        c.flags |= t ? F_NO_TOUCH : 0;
        if ((t = truth(fr->flush_scheduled)) < 0) goto done;
        c.flush_scheduled = t;
        c.next_run = fr->next_run;
        {
            long long first_run = c.next_run;
            start = dispatch_prefix(&c, items, &ncmds, &last);
            if (c.next_run != first_run) fr->next_run = c.next_run;
            if (start < 0) goto done;
        }
        if (ncmds) {
            PyObject *stats;
            cn->tot_cmds += ncmds;
            if (!(stats = Py_XNewRef(fr->stats))) {
                unset("stats");
                goto done;
            }
            t = add_item(stats, s_total_commands_processed, ncmds);
            Py_DECREF(stats);
            if (t < 0) goto done;
        }
        if (last && set_last_cmd(&c, last) < 0) goto done;
    }
    if (start == PyList_GET_SIZE(items) && !err) {
        Py_ssize_t buffered, limit;
        PyObject *b = PyObject_CallMethodNoArgs(p, s_buffered);
        if (!b) goto done;
        buffered = PyLong_AsSsize_t(b);
        Py_DECREF(b);
        limit = fr->query_buffer_limit;
        if (buffered == -1 && PyErr_Occurred()) goto done;
        if (buffered <= limit) {
            if (write_ready(conn) < 0) goto done;
            result = Py_NewRef(Py_True);
            goto done;
        }
    }
    {
        PyObject *pos = PyLong_FromSsize_t(start);
        if (!pos) goto done;
        v = PyObject_CallMethodObjArgs(conn, s_routed, items, pos, err ? err : Py_None, NULL);
        Py_DECREF(pos);
        if (!v) goto done;
        Py_DECREF(v);
    }
    result = Py_NewRef(Py_True);
done:
    Py_XDECREF(parser);
    Py_XDECREF(p);
    Py_XDECREF(r);
    Py_XDECREF(fast);
    Py_XDECREF(slotmap);
    Py_XDECREF(owner);
    Py_XDECREF(nshards);
    Py_XDECREF(items);
    Py_XDECREF(err);
    Py_XDECREF(last);
    Py_XDECREF(c.pending);
    Py_XDECREF(c.links);
    Py_XDECREF(c.dirty_links);
    Py_XDECREF(c.db);
    Py_XDECREF(c.client_id);
    return result;
}

/* ShardPart.deliver for a part of a GroupTarget or a RawSplit: ShardRuns.part_done,
 * then the job's done() once every part is in; other jobs go to Python */
static int part_done(PyObject *part, PyObject *payload, PyObject *dirty) {
    PyObject *job = PyObject_GetAttr(part, s_job), *shard = NULL, *parts = NULL, *pair = NULL, *rem = NULL, *left = NULL;
    Py_ssize_t n;
    int rc = -1, split;
    if (!job) return -1;
    split = split_type && Py_TYPE(job) == split_type;
    if (Py_TYPE(job) != group_type && !split) {
        PyObject *r = PyObject_CallMethodOneArg(part, s_deliver, payload);
        Py_DECREF(job);
        if (!r) return -1;
        Py_DECREF(r);
        return 0;
    }
    if (!(shard = PyObject_GetAttr(part, s_shard)) || !(parts = PyObject_GetAttr(job, s_parts))) goto done;
    if (!(pair = PyTuple_Pack(2, PyList_GET_ITEM(payload, 0), PyList_GET_ITEM(payload, 1)))) goto done;
    if (PyObject_SetItem(parts, shard, pair) < 0 || !(rem = PyObject_GetAttr(job, s_remaining))) goto done;
    n = PyLong_AsSsize_t(rem) - 1;
    if (PyErr_Occurred() || !(left = PyLong_FromSsize_t(n)) || PyObject_SetAttr(job, s_remaining, left) < 0) goto done;
    if (n == 0) {
        PyObject *a = PyObject_GetAttr(job, split ? s_merges : s_order), *b = NULL, *cell = NULL, *conn = NULL, *joined = NULL;
        int ok = 0;
        if (a && (!split || (b = PyObject_GetAttr(job, s_orders))) && (cell = PyObject_GetAttr(job, s_cell)) &&
            (conn = PyObject_GetAttr(job, s_conn))) {
            joined = split ? PyObject_CallFunctionObjArgs(merge_fn, a, b, parts, NULL) : PyObject_CallFunctionObjArgs(interleave_fn, a, parts, NULL);
            if (!joined && split && PyErr_ExceptionMatches(PyExc_ValueError)) {
                /* a shard's reply of an unexpected shape: RawSplit.done makes it an error reply */
                PyErr_Clear();
                PyObject *r = PyObject_CallMethodNoArgs(job, s_done);
                ok = r != NULL;
                Py_XDECREF(r);
            } else if (joined) {
                if (!PyList_Check(cell) || PyList_GET_SIZE(cell) != 1)
                    PyErr_SetString(PyExc_TypeError, "a reply cell is a one-element list");
                else
                    ok = PyList_SetItem(cell, 0, Py_NewRef(joined)) == 0 && PySet_Add(dirty, conn) == 0;
            }
        }
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(cell);
        Py_XDECREF(conn);
        Py_XDECREF(joined);
        if (!ok) goto done;
    }
    rc = 0;
done:
    Py_DECREF(job);
    Py_XDECREF(shard);
    Py_XDECREF(parts);
    Py_XDECREF(pair);
    Py_XDECREF(rem);
    Py_XDECREF(left);
    return rc;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *group, *part, *fn, *split, *merge;
    if (!PyArg_ParseTuple(args, "O!O!OO!O", &PyType_Type, &group, &PyType_Type, &part, &fn, &PyType_Type, &split, &merge)) return NULL;
    Py_XSETREF(group_type, (PyTypeObject *)Py_NewRef(group));
    Py_XSETREF(part_type, (PyTypeObject *)Py_NewRef(part));
    Py_XSETREF(interleave_fn, Py_NewRef(fn));
    Py_XSETREF(split_type, (PyTypeObject *)Py_NewRef(split));
    Py_XSETREF(merge_fn, Py_NewRef(merge));
    Py_RETURN_NONE;
}

static PyObject *deliver(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *items, *inflight, *dirty, *special;
    Py_ssize_t i, n;
    if (nargs != 4 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) || !PySet_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "deliver(items: list, inflight: dict, dirty: set, special)");
        return NULL;
    }
    items = args[0];
    inflight = args[1];
    dirty = args[2];
    special = args[3];
    n = PyList_GET_SIZE(items);
    for (i = 0; i + 1 < n; i += 2) {
        PyObject *rid = PyList_GET_ITEM(items, i), *payload = PyList_GET_ITEM(items, i + 1), *target, *r;
        long long run_id = PyLong_AsLongLong(rid);
        if (run_id == -1 && PyErr_Occurred()) return NULL;
        if (run_id <= 0) {
            r = PyObject_CallFunctionObjArgs(special, rid, payload, NULL);
            if (!r) return NULL;
            Py_DECREF(r);
            continue;
        }
        target = PyDict_GetItemWithError(inflight, rid);
        if (!target) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        Py_INCREF(target);
        if (PyDict_DelItem(inflight, rid) < 0) {
            Py_DECREF(target);
            return NULL;
        }
        if (PyTuple_CheckExact(target)) {
            PyObject *cell;
            if (PyTuple_GET_SIZE(target) != 3 || !PyList_Check(cell = PyTuple_GET_ITEM(target, 1)) || PyList_GET_SIZE(cell) < 1) {
                Py_DECREF(target);
                PyErr_SetString(PyExc_TypeError, "a client run's target is (conn, cell, n)");
                return NULL;
            }
            Py_INCREF(payload);
            PyList_SetItem(cell, 0, payload);
            if (PySet_Add(dirty, PyTuple_GET_ITEM(target, 0)) < 0) {
                Py_DECREF(target);
                return NULL;
            }
        } else if (Py_TYPE(target) == part_type && PyList_Check(payload) && PyList_GET_SIZE(payload) == 2) {
            if (part_done(target, payload, dirty) < 0) {
                Py_DECREF(target);
                return NULL;
            }
        } else {
            r = PyObject_CallMethodOneArg(target, s_deliver, payload);
            if (!r) {
                Py_DECREF(target);
                return NULL;
            }
            Py_DECREF(r);
        }
        Py_DECREF(target);
    }
    Py_RETURN_NONE;
}

/* -- ConnBase, FrontBase, LinkBase ----------------------------------------- */

/* Each base's object fields come first and in a row: one traverse, clear and
 * dealloc serve all three, given where the row starts and how long it is. */
static void row_of(PyObject *self, PyObject ***row, Py_ssize_t *n) {
    size_t at, len;
    if (PyObject_TypeCheck(self, &ConnType)) {
        at = offsetof(Conn, front);
        len = (offsetof(Conn, close_after_flush) - at) / sizeof(PyObject *) + 1;
    } else if (PyObject_TypeCheck(self, &FrontType)) {
        at = offsetof(FrontObj, links);
        len = (offsetof(FrontObj, flush_scheduled) - at) / sizeof(PyObject *) + 1;
    } else {
        at = offsetof(LinkObj, holder);
        len = (offsetof(LinkObj, out) - at) / sizeof(PyObject *) + 1;
    }
    *row = (PyObject **)((char *)self + at);
    *n = (Py_ssize_t)len;
}

static int base_traverse(PyObject *self, visitproc visit, void *arg) {
    PyObject **row;
    Py_ssize_t n, i;
    row_of(self, &row, &n);
    for (i = 0; i < n; i++) Py_VISIT(row[i]);
    return 0;
}

static int base_clear(PyObject *self) {
    PyObject **row;
    Py_ssize_t n, i;
    row_of(self, &row, &n);
    for (i = 0; i < n; i++) Py_CLEAR(row[i]);
    return 0;
}

static void base_dealloc(PyObject *self) {
    PyObject_GC_UnTrack(self);
    base_clear(self);
    Py_TYPE(self)->tp_free(self);
}

/* asyncio.Protocol.data_received: the C path, else the Python twin (process_data) */
static PyObject *Conn_data_received(PyObject *self, PyObject *data) {
    PyObject *args[3] = {((Conn *)self)->front, self, data}, *r;
    if (!args[0]) {
        unset("front");
        return NULL;
    }
    if (!PyBytes_Check(data)) return PyObject_CallMethodOneArg(self, s_process_data, data);
    Py_INCREF(args[0]);  /* the call may run Python code that rebinds conn.front */
    r = receive(NULL, args, 3);
    Py_DECREF(args[0]);
    if (!r) return NULL;
    if (r == Py_True) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    Py_DECREF(r);
    return PyObject_CallMethodOneArg(self, s_process_data, data);
}

static PyMethodDef Conn_methods[] = {
    {"data_received", Conn_data_received, METH_O, "A client's bytes: the C path, else process_data (the Python twin)."},
    {NULL, NULL, 0, NULL},
};

#define MEMBER(type, pyname, field, kind) {pyname, kind, offsetof(type, field), 0, NULL}
#define CONN_OBJ(name) MEMBER(Conn, #name, name, T_OBJECT_EX)
static PyMemberDef Conn_members[] = {
    CONN_OBJ(front), CONN_OBJ(parser), CONN_OBJ(pending), CONN_OBJ(transport), CONN_OBJ(last_cmd), CONN_OBJ(db), CONN_OBJ(id),
    CONN_OBJ(closing), CONN_OBJ(blocked), CONN_OBJ(authenticated), CONN_OBJ(resp3), CONN_OBJ(no_touch), CONN_OBJ(close_after_flush),
    MEMBER(Conn, "net_in", net_in, T_PYSSIZET), MEMBER(Conn, "net_out", net_out, T_PYSSIZET),
    MEMBER(Conn, "tot_cmds", tot_cmds, T_PYSSIZET), MEMBER(Conn, "last_active", last_active, T_DOUBLE),
    {NULL, 0, 0, 0, NULL},
};

#define FRONT_OBJ(pyname, field) MEMBER(FrontObj, pyname, field, T_OBJECT_EX)
static PyMemberDef Front_members[] = {
    FRONT_OBJ("links", links), FRONT_OBJ("nshards", nshards), FRONT_OBJ("slotmap", slotmap), FRONT_OBJ("stats", stats),
    FRONT_OBJ("_names", names), FRONT_OBJ("_fast", fast), FRONT_OBJ("pause_mode", pause_mode), FRONT_OBJ("monitors", monitors),
    FRONT_OBJ("_dirty_links", dirty_links), FRONT_OBJ("_flush_scheduled", flush_scheduled),
    MEMBER(FrontObj, "_next_run", next_run, T_LONGLONG), MEMBER(FrontObj, "query_buffer_limit", query_buffer_limit, T_PYSSIZET),
    MEMBER(FrontObj, "_pings", pings, T_LONGLONG),
    {NULL, 0, 0, 0, NULL},
};

#define LINK_OBJ(name) MEMBER(LinkObj, #name, name, T_OBJECT_EX)
static PyMemberDef Link_members[] = {
    LINK_OBJ(holder), LINK_OBJ(lockq), LINK_OBJ(up), LINK_OBJ(inflight), LINK_OBJ(out), {NULL, 0, 0, 0, NULL},
};

#define BASE_TYPE(pyname, ctype, doc, members, meths)                       \
    {                                                                       \
        PyVarObject_HEAD_INIT(NULL, 0)                                      \
        .tp_name = "shardserver.front._fastpath." pyname,                   \
        .tp_doc = doc,                                                      \
        .tp_basicsize = sizeof(ctype),                                      \
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, \
        .tp_new = PyType_GenericNew,                                        \
        .tp_dealloc = base_dealloc,                                         \
        .tp_traverse = base_traverse,                                       \
        .tp_clear = base_clear,                                             \
        .tp_members = members,                                              \
        .tp_methods = meths,                                                \
    }

static PyTypeObject ConnType = BASE_TYPE("ConnBase", Conn, "The fields of a client connection that the front's C path reads on every read and reply.", Conn_members, Conn_methods);
static PyTypeObject FrontType = BASE_TYPE("FrontBase", FrontObj, "The fields of the front that the C path reads on every read.", Front_members, NULL);
static PyTypeObject LinkType = BASE_TYPE("LinkBase", LinkObj, "The fields of a shard link that the C path reads for every run it sends.", Link_members, NULL);

static PyMethodDef methods[] = {
    {"receive", (PyCFunction)(void (*)(void))receive, METH_FASTCALL, "Route a client's bytes on the C path, or return False."},
    {"write_ready", py_write_ready, METH_O, "Write a connection's ready replies, in order."},
    {"write_all", write_all, METH_O, "write_ready for every connection of an iterable."},
    {"deliver", (PyCFunction)(void (*)(void))deliver, METH_FASTCALL, "Hand one reply message's runs to their targets."},
    {"configure", configure, METH_VARARGS, "configure(GroupTarget, ShardPart, interleave, RawSplit, merge_splits): groups and split commands on the C path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastpath", NULL, -1, methods};

#define INTERN(var, text) \
    if (!(var = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__fastpath(void) {
    INTERN(s__p, "_p");
    INTERN(s_feed, "feed");
    INTERN(s_drain_routed, "drain_routed");
    INTERN(s_raw_owner, "raw_owner");
    INTERN(s_buffered, "buffered");
    INTERN(s__schedule_flush, "_schedule_flush");
    INTERN(s_total_commands_processed, "total_commands_processed");
    INTERN(s_is_closing, "is_closing");
    INTERN(s_write, "write");
    INTERN(s_close, "close");
    INTERN(s_deliver, "deliver");
    INTERN(s_popleft, "popleft");
    INTERN(s_lower, "lower");
    INTERN(s_routed, "routed");
    INTERN(s_fail, "fail");
    INTERN(s_routable, "routable");
    INTERN(s_append, "append");
    INTERN(s_front, "front");
    INTERN(s_conn, "conn");
    INTERN(s_cell, "cell");
    INTERN(s_parts, "parts");
    INTERN(s_remaining, "remaining");
    INTERN(s_order, "order");
    INTERN(s_job, "job");
    INTERN(s_shard, "shard");
    INTERN(s_merges, "merges");
    INTERN(s_orders, "orders");
    INTERN(s__split_sent, "_split_sent");
    INTERN(s_done, "done");
    INTERN(s_process_data, "process_data");
    if (!(empty_tuple = PyTuple_New(0))) return NULL;
    if (!(s_ping = PyBytes_FromString("ping"))) return NULL;
    if (PyType_Ready(&ConnType) < 0 || PyType_Ready(&FrontType) < 0 || PyType_Ready(&LinkType) < 0) return NULL;
    {
        PyObject *m = PyModule_Create(&module);
        if (!m) return NULL;
        if (PyModule_AddObjectRef(m, "ConnBase", (PyObject *)&ConnType) < 0 || PyModule_AddObjectRef(m, "FrontBase", (PyObject *)&FrontType) < 0 ||
            PyModule_AddObjectRef(m, "LinkBase", (PyObject *)&LinkType) < 0) {
            Py_DECREF(m);
            return NULL;
        }
        return m;
    }
}
