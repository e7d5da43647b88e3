// spinn_dnn._emulator: the emulator as a Python extension.  A Machine is
// built piece by piece (chips, links, routing entries, cores with their
// programs and region images) by spinn_dnn/emulator/machine.py, run, and read
// back (counters per core, per key and per router).  run() releases the GIL:
// machines in different threads run in parallel; one machine refuses a second
// run while it is running.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "../include/data_specification.h"
#include "emu.h"

typedef struct {
    PyObject_HEAD
    emu_machine_t *m;
    int running;
} MachineObject;

static int Machine_init(MachineObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"rx_queue", "stop_on_drop", "key_stats", "jitter_cycles", "jitter_seed", "take_ahead",
                             NULL};
    unsigned int rx_queue = EMU_RX_QUEUE_DEFAULT, jitter_cycles = 0;
    unsigned long long jitter_seed = 1;
    int stop_on_drop = 1, key_stats = 1, take_ahead = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|IppIKp", kwlist, &rx_queue, &stop_on_drop, &key_stats,
                                     &jitter_cycles, &jitter_seed, &take_ahead)) {
        return -1;
    }
    if (rx_queue < 1) {
        PyErr_SetString(PyExc_ValueError, "rx_queue must be at least 1");
        return -1;
    }
    emu_machine_free(self->m);
    self->m = emu_machine_new(rx_queue, stop_on_drop);
    if (!self->m) {
        PyErr_NoMemory();
        return -1;
    }
    self->m->key_stats = key_stats;
    self->m->jitter_cycles = jitter_cycles;
    self->m->jitter_state = jitter_seed ? jitter_seed : 1;  // xorshift stays at zero from zero
    self->m->take_ahead = take_ahead;
    return 0;
}

static void Machine_dealloc(MachineObject *self) {
    emu_machine_free(self->m);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static int ready(MachineObject *self) {
    if (!self->m) {
        PyErr_SetString(PyExc_RuntimeError, "Machine not initialised");
        return 0;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "this Machine is running in another thread");
        return 0;
    }
    return 1;
}

static PyObject *Machine_add_chip(MachineObject *self, PyObject *args) {
    unsigned int x, y;
    if (!ready(self) || !PyArg_ParseTuple(args, "II", &x, &y)) {
        return NULL;
    }
    int i = emu_add_chip(self->m, x, y);
    if (i < 0) {
        return PyErr_Format(PyExc_ValueError, "chip (%u, %u) already exists", x, y);
    }
    return PyLong_FromLong(i);
}

static PyObject *Machine_add_link(MachineObject *self, PyObject *args) {
    unsigned int chip, link, neighbour;
    if (!ready(self) || !PyArg_ParseTuple(args, "III", &chip, &link, &neighbour)) {
        return NULL;
    }
    if (!emu_add_link(self->m, chip, link, neighbour)) {
        return PyErr_Format(PyExc_ValueError, "bad link %u from chip %u to chip %u", link, chip, neighbour);
    }
    Py_RETURN_NONE;
}

static PyObject *Machine_add_route(MachineObject *self, PyObject *args) {
    unsigned int chip, key, mask, route;
    if (!ready(self) || !PyArg_ParseTuple(args, "IIII", &chip, &key, &mask, &route)) {
        return NULL;
    }
    if (route >> (EMU_LINKS + EMU_CORES_PER_CHIP)) {
        return PyErr_Format(PyExc_ValueError, "route word 0x%x names cores beyond %u", route,
                            EMU_CORES_PER_CHIP - 1);
    }
    if (!emu_add_route(self->m, chip, key, mask, route)) {
        return PyErr_Format(PyExc_ValueError, "no chip %u", chip);
    }
    Py_RETURN_NONE;
}

// regions: a sequence whose items are bytes (content), an int (bytes reserved,
// zeroed) or None (no region)
static PyObject *Machine_add_core(MachineObject *self, PyObject *args) {
    unsigned int chip, p;
    const char *name;
    PyObject *regions;
    if (!ready(self) || !PyArg_ParseTuple(args, "IIsO", &chip, &p, &name, &regions)) {
        return NULL;
    }
    const spinn_program_t *program = emu_find_program(name);
    if (!program) {
        return PyErr_Format(PyExc_ValueError, "no core program named '%s' is built in", name);
    }
    PyObject *seq = PySequence_Fast(regions, "regions must be a sequence");
    if (!seq) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const uint8_t **data = calloc((size_t) n + 1, sizeof(*data));
    uint *bytes = calloc((size_t) n + 1, sizeof(*bytes));
    PyObject *result = NULL;
    if (!data || !bytes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (item == Py_None) {
            continue;
        }
        if (PyBytes_Check(item)) {
            data[i] = (const uint8_t *) PyBytes_AS_STRING(item);
            bytes[i] = (uint) PyBytes_GET_SIZE(item);
        } else if (PyLong_Check(item)) {
            bytes[i] = (uint) PyLong_AsUnsignedLong(item);
            if (PyErr_Occurred()) {
                goto done;
            }
        } else {
            PyErr_SetString(PyExc_TypeError, "a region is bytes, an int (bytes to reserve) or None");
            goto done;
        }
    }
    int id = emu_add_core(self->m, chip, p, program, data, bytes, (uint) n);
    if (id < 0) {
        PyErr_Format(PyExc_ValueError, "cannot add core %u on chip %u: %s", p, chip,
                     self->m->stopped ? self->m->error : "bad chip or core number, or core taken");
        goto done;
    }
    result = PyLong_FromLong(id);
done:
    free(data);
    free(bytes);
    Py_DECREF(seq);
    return result;
}

static PyObject *Machine_run(MachineObject *self, PyObject *args) {
    unsigned long long max_cycles;
    if (!ready(self) || !PyArg_ParseTuple(args, "K", &max_cycles)) {
        return NULL;
    }
    int status;
    self->running = 1;
    Py_BEGIN_ALLOW_THREADS
    status = emu_run(self->m, (uint64_t) max_cycles);
    Py_END_ALLOW_THREADS
    self->running = 0;
    return PyLong_FromLong(status);
}

static int core_arg(MachineObject *self, PyObject *args, emu_core_t **core) {
    unsigned int id;
    if (!ready(self) || !PyArg_ParseTuple(args, "I", &id)) {
        return 0;
    }
    if (id >= self->m->n_cores) {
        PyErr_Format(PyExc_IndexError, "no core %u", id);
        return 0;
    }
    *core = self->m->cores[id];
    return 1;
}

#define PUT(dict, name, value) do { \
        PyObject *v_ = PyLong_FromUnsignedLongLong((unsigned long long) (value)); \
        if (!v_ || PyDict_SetItemString(dict, name, v_) < 0) { Py_XDECREF(v_); Py_DECREF(dict); return NULL; } \
        Py_DECREF(v_); \
    } while (0)

static PyObject *Machine_core_counters(MachineObject *self, PyObject *args) {
    emu_core_t *c;
    if (!core_arg(self, args, &c)) {
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (!d) {
        return NULL;
    }
    PUT(d, "sent", c->c.sent);
    PUT(d, "received", c->c.received);
    PUT(d, "dropped_rx", c->c.dropped_rx);
    PUT(d, "dropped_task_queue", c->c.dropped_task_queue);
    PUT(d, "unhandled", c->c.unhandled);
    PUT(d, "callbacks", c->c.callbacks);
    PUT(d, "tasks_dropped", c->c.tasks_dropped);
    PUT(d, "busy_cycles", c->c.busy_cycles);
    PUT(d, "dma_transfers", c->c.dma_transfers);
    PUT(d, "dma_bytes", c->c.dma_bytes);
    PUT(d, "timer_ticks", c->c.timer_ticks);
    PUT(d, "wakes", c->c.wakes);
    PUT(d, "dtcm_used", c->dtcm_used + EMU_STACK_BYTES);
    PUT(d, "state_bytes", c->program->state_bytes);
    PUT(d, "started", c->started);
    PUT(d, "exited", c->exited);
    PUT(d, "exit_code", c->exit_code);
    return d;
}

static PyObject *keystats_list(const emu_keystats_t *ks) {
    PyObject *out = PyList_New(0);
    if (!out) {
        return NULL;
    }
    for (uint32_t i = 0; i < ks->cap; i++) {
        const emu_keystat_t *s = &ks->slots[i];
        if (!s->used) {
            continue;
        }
        PyObject *t = Py_BuildValue("(IKKK)", s->key, (unsigned long long) s->sent,
                                    (unsigned long long) s->received, (unsigned long long) s->dropped);
        if (!t || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    if (PyList_Sort(out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *Machine_core_keys(MachineObject *self, PyObject *args) {
    emu_core_t *c;
    if (!core_arg(self, args, &c)) {
        return NULL;
    }
    return keystats_list(&c->keys);
}

static PyObject *Machine_router_drops(MachineObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!ready(self)) {
        return NULL;
    }
    return keystats_list(&self->m->router_drops);
}

static PyObject *Machine_router_counters(MachineObject *self, PyObject *args) {
    unsigned int chip;
    if (!ready(self) || !PyArg_ParseTuple(args, "I", &chip)) {
        return NULL;
    }
    if (chip >= self->m->n_chips) {
        return PyErr_Format(PyExc_IndexError, "no chip %u", chip);
    }
    const emu_router_counters_t *c = &self->m->chips[chip].c;
    PyObject *d = PyDict_New();
    if (!d) {
        return NULL;
    }
    PUT(d, "routed", c->routed);
    PUT(d, "default_routed", c->default_routed);
    PUT(d, "dropped_no_route", c->dropped_no_route);
    PUT(d, "dropped_no_link", c->dropped_no_link);
    PUT(d, "dropped_no_core", c->dropped_no_core);
    PUT(d, "dropped_link_busy", c->dropped_link_busy);
    PUT(d, "sdram_used", self->m->chips[chip].sdram_used);
    return d;
}

static PyObject *Machine_read_region(MachineObject *self, PyObject *args) {
    unsigned int id, region;
    if (!ready(self) || !PyArg_ParseTuple(args, "II", &id, &region)) {
        return NULL;
    }
    if (id >= self->m->n_cores) {
        return PyErr_Format(PyExc_IndexError, "no core %u", id);
    }
    emu_core_t *core = self->m->cores[id];
    if (region >= core->n_regions) {
        return PyErr_Format(PyExc_IndexError, "core %u has no region %u", id, region);
    }
    data_specification_metadata_t *ds = core->ds_metadata;
    region_desc_t r = ds->regions[region];
    return PyBytes_FromStringAndSize(r.pointer, r.pointer ? (Py_ssize_t) r.n_words * 4 : 0);
}

// Host staging: writes bytes into a core's region at an offset (what the host
// does over the network before a run on a board).
static PyObject *Machine_write_region(MachineObject *self, PyObject *args) {
    unsigned int id, region, offset;
    Py_buffer data;
    if (!ready(self) || !PyArg_ParseTuple(args, "IIIy*", &id, &region, &offset, &data)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (id >= self->m->n_cores || region >= self->m->cores[id]->n_regions) {
        PyErr_Format(PyExc_IndexError, "no core %u or no region %u on it", id, region);
        goto done;
    }
    data_specification_metadata_t *ds = self->m->cores[id]->ds_metadata;
    region_desc_t r = ds->regions[region];
    if (!r.pointer || (uint64_t) offset + (uint64_t) data.len > (uint64_t) r.n_words * 4) {
        PyErr_Format(PyExc_ValueError, "%zd bytes at offset %u do not fit region %u (%u bytes)", data.len,
                     offset, region, r.n_words * 4);
        goto done;
    }
    memcpy((uint8_t *) r.pointer + offset, data.buf, (size_t) data.len);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&data);
    return result;
}

// The host's message to a core at a machine time (cycles): a USER_EVENT callback on
// that core (on a board, an SDP packet its program handles).  For restarting a
// paused program after the host staged new data.
static PyObject *Machine_host_signal(MachineObject *self, PyObject *args) {
    unsigned int id, arg0, arg1;
    unsigned long long at;
    if (!ready(self) || !PyArg_ParseTuple(args, "IKII", &id, &at, &arg0, &arg1)) {
        return NULL;
    }
    if (id >= self->m->n_cores) {
        return PyErr_Format(PyExc_IndexError, "no core %u", id);
    }
    if (at < self->m->now) {
        return PyErr_Format(PyExc_ValueError, "cycle %llu is in the past (the clock is at %llu)", at,
                            (unsigned long long) self->m->now);
    }
    if (!emu_host_signal(self->m, self->m->cores[id], (uint64_t) at, arg0, arg1)) {
        return PyErr_Format(PyExc_RuntimeError, "core %u has exited or has too many user events pending", id);
    }
    Py_RETURN_NONE;
}

// The program's state struct (SPINN_STATE) of a core, as bytes: for tests and debugging
static PyObject *Machine_read_state(MachineObject *self, PyObject *args) {
    emu_core_t *c;
    if (!core_arg(self, args, &c)) {
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *) c->dtcm, (Py_ssize_t) c->program->state_bytes);
}

static PyObject *Machine_get_state(MachineObject *self, void *Py_UNUSED(closure)) {
    if (!self->m) {
        Py_RETURN_NONE;
    }
    emu_machine_t *m = self->m;
    PyObject *d = PyDict_New();
    if (!d) {
        return NULL;
    }
    PUT(d, "cycles", m->end_time);
    PUT(d, "clock", m->now);
    PUT(d, "deliveries", m->deliveries);
    PUT(d, "events", m->events_processed);
    static const char *const kind_names[EV_KINDS] = {"events_start", "events_router", "events_deliver",
                                                     "events_wake", "events_timer", "events_dma_done",
                                                     "events_user", "events_router_drop"};
    for (uint k = 0; k < EV_KINDS; k++) {
        PUT(d, kind_names[k], m->events_by_kind[k]);
    }
    PUT(d, "pending_events", m->events.n);
    PUT(d, "queue_heap_pushes", m->events.heap_pushes);
    PUT(d, "stopped", m->stopped);
    PUT(d, "cores", m->n_cores);
    PUT(d, "chips", m->n_chips);
    PUT(d, "rx_queue", m->rx_capacity);
    PUT(d, "clock_hz", EMU_CLOCK_HZ);
    return d;
}

static PyObject *Machine_get_error(MachineObject *self, void *Py_UNUSED(closure)) {
    if (!self->m || !self->m->stopped) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromString(self->m->error);
}

// (core id or -1 for a router, key, cycle) of the first drop, or None
static PyObject *Machine_get_first_drop(MachineObject *self, void *Py_UNUSED(closure)) {
    if (!self->m || !self->m->drop_seen) {
        Py_RETURN_NONE;
    }
    emu_machine_t *m = self->m;
    return Py_BuildValue("(iIK)", m->drop_core == (uint) -1 ? -1 : (int) m->drop_core, m->drop_key,
                         (unsigned long long) m->drop_time);
}

static PyMethodDef Machine_methods[] = {
    {"add_chip", (PyCFunction) Machine_add_chip, METH_VARARGS, "add_chip(x, y) -> chip index"},
    {"add_link", (PyCFunction) Machine_add_link, METH_VARARGS,
     "add_link(chip, link, neighbour): link 0-5 (E, NE, N, W, SW, S) of chip leads to neighbour"},
    {"add_route", (PyCFunction) Machine_add_route, METH_VARARGS,
     "add_route(chip, key, mask, route): append a routing entry (links bits 0-5, cores 6+)"},
    {"add_core", (PyCFunction) Machine_add_core, METH_VARARGS,
     "add_core(chip, p, program, regions) -> core id; regions: bytes | int (reserve) | None each"},
    {"run", (PyCFunction) Machine_run, METH_VARARGS,
     "run(max_cycles) -> 1 quiescent, 0 cycle limit reached, -1 stopped (see .error)"},
    {"core_counters", (PyCFunction) Machine_core_counters, METH_VARARGS, "core_counters(core) -> dict"},
    {"core_keys", (PyCFunction) Machine_core_keys, METH_VARARGS,
     "core_keys(core) -> sorted [(key, sent, received, dropped)]"},
    {"router_counters", (PyCFunction) Machine_router_counters, METH_VARARGS, "router_counters(chip) -> dict"},
    {"router_drops", (PyCFunction) Machine_router_drops, METH_NOARGS,
     "router_drops() -> sorted [(key, 0, 0, dropped)]"},
    {"read_region", (PyCFunction) Machine_read_region, METH_VARARGS,
     "read_region(core, region) -> bytes as the core's SDRAM holds it now"},
    {"write_region", (PyCFunction) Machine_write_region, METH_VARARGS,
     "write_region(core, region, offset, data): stage bytes in a core's region before a run"},
    {"host_signal", (PyCFunction) Machine_host_signal, METH_VARARGS,
     "host_signal(core, at_cycle, arg0, arg1): a USER_EVENT on the core, as the host's message"},
    {"read_state", (PyCFunction) Machine_read_state, METH_VARARGS,
     "read_state(core) -> bytes of the program's state struct in the core's DTCM"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Machine_getset[] = {
    {"state", (getter) Machine_get_state, NULL, "machine-wide counters and the clock", NULL},
    {"error", (getter) Machine_get_error, NULL, "why the run stopped, or None", NULL},
    {"first_drop", (getter) Machine_get_first_drop, NULL, "(core or -1, key, cycle) of the first drop", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MachineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "spinn_dnn._emulator.Machine",
    .tp_basicsize = sizeof(MachineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An emulated SpiNNaker machine running spinn_dnn's core programs.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Machine_init,
    .tp_dealloc = (destructor) Machine_dealloc,
    .tp_methods = Machine_methods,
    .tp_getset = Machine_getset,
};

static PyObject *module_programs(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    for (uint i = 0; out && emu_programs[i]; i++) {
        PyObject *s = PyUnicode_FromString(emu_programs[i]->name);
        if (!s || PyList_Append(out, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(s);
    }
    return out;
}

static PyMethodDef module_methods[] = {
    {"programs", module_programs, METH_NOARGS, "names of the core programs built in"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "spinn_dnn._emulator",
    "The C emulator of a SpiNNaker machine running spinn_dnn's core programs.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__emulator(void) {
    if (PyType_Ready(&MachineType) < 0) {
        return NULL;
    }
    PyObject *mod = PyModule_Create(&module);
    if (!mod) {
        return NULL;
    }
    Py_INCREF(&MachineType);
    if (PyModule_AddObject(mod, "Machine", (PyObject *) &MachineType) < 0 ||
            PyModule_AddIntConstant(mod, "CLOCK_HZ", EMU_CLOCK_HZ) < 0 ||
            PyModule_AddIntConstant(mod, "DTCM_BYTES", EMU_DTCM_BYTES) < 0 ||
            PyModule_AddIntConstant(mod, "SDRAM_BYTES", EMU_SDRAM_BYTES) < 0 ||
            PyModule_AddIntConstant(mod, "RX_QUEUE_DEFAULT", EMU_RX_QUEUE_DEFAULT) < 0 ||
            PyModule_AddIntConstant(mod, "COST_FMAC", EMU_COST_FMAC) < 0 ||
            PyModule_AddIntConstant(mod, "COST_FADD", EMU_COST_FADD) < 0 ||
            PyModule_AddIntConstant(mod, "COST_WORD", EMU_COST_WORD) < 0 ||
            PyModule_AddIntConstant(mod, "SEND_CYCLES", EMU_SEND_CYCLES) < 0 ||
            PyModule_AddIntConstant(mod, "TASK_DISPATCH_CYCLES", EMU_TASK_DISPATCH_CYCLES) < 0 ||
            PyModule_AddIntConstant(mod, "COST_FDIV", EMU_COST_FDIV) < 0 ||
            PyModule_AddIntConstant(mod, "COST_FEXP", EMU_COST_FEXP) < 0 ||
            PyModule_AddIntConstant(mod, "ISR_CYCLES", EMU_ISR_CYCLES) < 0 ||
            PyModule_AddIntConstant(mod, "COST_FMUL", EMU_COST_FMUL) < 0 ||
            PyModule_AddIntConstant(mod, "COST_SDRAM_WORD", EMU_COST_SDRAM_WORD) < 0 ||
            PyModule_AddIntConstant(mod, "COST_UDIV", EMU_COST_UDIV) < 0 ||
            PyModule_AddIntConstant(mod, "HOST_BYTES_PER_S", EMU_HOST_BYTES_PER_S) < 0) {
        Py_DECREF(&MachineType);
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
