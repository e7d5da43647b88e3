// The spin1 API (c_src/include/spin1_api.h) and data_specification.h on the
// host: every call acts on the core whose callback is running, and charges its
// modeled cost (cost_model.h) to that callback's clock.
#include <stdarg.h>
#include <string.h>

#include "../include/data_specification.h"
#include "emu.h"

// The core whose code runs on this thread now.  Per thread, so that machines
// running in different threads do not see each other's cores.
// initial-exec: a fixed offset from the thread pointer instead of a __tls_get_addr call per API
// call (4.5% of a training run's host time under perf, with the global-dynamic model of -fPIC).
static _Thread_local emu_core_t *current __attribute__((tls_model("initial-exec")));

emu_core_t *emu_current(void) {
    return current;
}

void emu_set_current(emu_core_t *core) {
    current = core;
}

void emu_charge(emu_core_t *core, uint64_t cycles) {
    core->now += cycles;
}

// A program calling the API outside a callback is a bug in the emulator's use.
static emu_core_t *me(void) {
    return current;
}

void *spinn_core_state(void) {
    return me()->dtcm;
}

static const uint op_cost[SPINN_N_OPS] = {
    [SPINN_OP_FMAC] = EMU_COST_FMAC, [SPINN_OP_FADD] = EMU_COST_FADD, [SPINN_OP_FMUL] = EMU_COST_FMUL,
    [SPINN_OP_FDIV] = EMU_COST_FDIV, [SPINN_OP_FEXP] = EMU_COST_FEXP, [SPINN_OP_WORD] = EMU_COST_WORD,
    [SPINN_OP_SDRAM_WORD] = EMU_COST_SDRAM_WORD, [SPINN_OP_UDIV] = EMU_COST_UDIV,
};

static uint64_t op_cycles(enum spinn_op op, uint count) {
    return (uint) op < SPINN_N_OPS ? (uint64_t) op_cost[op] * count : 0;
}

void spinn_account(enum spinn_op op, uint count) {
    emu_charge(me(), op_cycles(op, count));
}

void spinn_account2(enum spinn_op op_a, uint count_a, enum spinn_op op_b, uint count_b) {
    emu_charge(me(), op_cycles(op_a, count_a) + op_cycles(op_b, count_b));
}

// ---- simulation control ----------------------------------------------------

uint spin1_start(sync_bool sync) {
    (void) sync;  // one machine starts all its cores at cycle 0: they are in sync
    emu_core_t *core = me();
    core->started = 1;
    if (core->timer_period) {
        emu_eq_push(&core->machine->events, core->now + core->timer_phase + core->timer_period, EV_TIMER,
                    core->id, core->timer_generation, 0, 0);
    }
    return SUCCESS;
}

void spin1_exit(uint error) {
    emu_core_t *core = me();
    core->exited = 1;
    core->exit_at = core->callback_at;  // a handler taken ahead exits at its own cycle (core.c)
    core->exit_code = error;
    core->timer_period = 0;
}

void spin1_set_timer_tick_and_phase(uint time, uint phase) {
    emu_core_t *core = me();
    core->timer_period = (uint64_t) time * EMU_CYCLES_PER_US;
    core->timer_phase = (uint64_t) phase * EMU_CYCLES_PER_US;
    core->timer_generation++;
    if (core->started && core->timer_period) {
        emu_eq_push(&core->machine->events, core->now + core->timer_period, EV_TIMER, core->id,
                    core->timer_generation, 0, 0);
    }
    emu_charge(core, EMU_API_CALL_CYCLES);
}

void spin1_pause(void) {
    emu_core_t *core = me();
    core->paused = 1;
    core->timer_generation++;  // ticks already queued become stale
    emu_charge(core, EMU_API_CALL_CYCLES);
}

void spin1_resume(sync_bool sync) {
    (void) sync;  // one machine: the cores that resume are in step already
    emu_core_t *core = me();
    emu_charge(core, EMU_API_CALL_CYCLES);
    if (!core->paused) {
        return;
    }
    core->paused = 0;
    core->timer_generation++;
    if (core->timer_period) {
        emu_eq_push(&core->machine->events, core->now + core->timer_period, EV_TIMER, core->id,
                    core->timer_generation, 0, 0);
    }
}

uint spin1_get_simulation_time(void) {
    return me()->ticks;
}

void spin1_delay_us(uint n) {
    emu_charge(me(), (uint64_t) n * EMU_CYCLES_PER_US);
}

// ---- callbacks -------------------------------------------------------------

void spin1_callback_on(uint event_id, callback_t cback, int priority) {
    emu_core_t *core = me();
    if (event_id >= NUM_EVENTS || priority < -1 || priority > (int) EMU_N_TASK_QUEUES ||
            (priority == -1 && event_id != MC_PACKET_RECEIVED && event_id != MCPL_PACKET_RECEIVED)) {
        emu_fail(core->machine, "core (%u, %u, %u): spin1_callback_on(%u, _, %d) is not allowed", core->x,
                 core->y, core->p, event_id, priority);
        return;
    }
    core->slots[event_id] = (emu_slot_t) {cback, priority};
    emu_charge(core, EMU_API_CALL_CYCLES);
}

void spin1_callback_off(uint event_id) {
    emu_core_t *core = me();
    if (event_id < NUM_EVENTS) {
        core->slots[event_id] = (emu_slot_t) {NULL, 0};
    }
}

uint spin1_schedule_callback(callback_t cback, uint arg0, uint arg1, uint priority) {
    emu_core_t *core = me();
    emu_charge(core, EMU_API_CALL_CYCLES);
    uint ok = (uint) emu_core_queue_task(core, cback, arg0, arg1, priority);
    if (ok && core->started) {
        emu_core_wake_at(core->machine, core, core->now);  // service decides when it can run
    }
    return ok ? SUCCESS : FAILURE;
}

uint spin1_trigger_user_event(uint arg0, uint arg1) {
    emu_core_t *core = me();
    if (core->user_events_pending == EMU_USER_EVENT_QUEUE_SIZE) {
        return FAILURE;
    }
    core->user_events_pending++;
    emu_charge(core, EMU_API_CALL_CYCLES);
    emu_eq_push(&core->machine->events, core->now, EV_USER, core->id, arg0, arg1, 0);
    return SUCCESS;
}

// ---- data transfer ---------------------------------------------------------

uint spin1_dma_transfer(uint tag, void *system_address, void *tcm_address, uint direction, uint length) {
    emu_core_t *core = me();
    emu_charge(core, EMU_API_CALL_CYCLES);
    return emu_dma_request(core, tag, system_address, tcm_address, direction, length);
}

void spin1_memcpy(void *dst, void const *src, uint len) {
    memmove(dst, src, len);
    emu_charge(me(), EMU_API_CALL_CYCLES + len / EMU_MEMCPY_BYTES_PER_CYCLE);
}

// ---- communications --------------------------------------------------------

uint spin1_send_packet(uint key, uint data, uint tcr) {
    emu_core_t *core = me();
    emu_charge(core, EMU_SEND_CYCLES);
    core->c.sent++;
    emu_keystat_t *ks = core->machine->key_stats ? emu_ks_get(&core->keys, key) : NULL;
    if (ks) {
        ks->sent++;
    }
    // the packet enters its chip's router when the core has written it
    emu_eq_push(&core->machine->events, core->now, EV_ROUTER, core->chip, key, data,
                (tcr & PKT_PL) ? 1u : 0u);
    return SUCCESS;
}

// ---- interrupt control: one callback runs at a time per core here ----------

uint spin1_irq_disable(void) {
    return 0;
}

uint spin1_int_disable(void) {
    return 0;
}

void spin1_mode_restore(uint cpsr) {
    (void) cpsr;
}

// ---- system resources ------------------------------------------------------

uint spin1_get_core_id(void) {
    return me()->p;
}

uint spin1_get_chip_id(void) {
    return (me()->x << 8) | me()->y;
}

uint spin1_get_id(void) {
    return (spin1_get_chip_id() << 5) | spin1_get_core_id();
}

void *spin1_malloc(uint bytes) {
    emu_core_t *core = me();
    uint start = (core->dtcm_used + 7u) & ~7u;  // sark_alloc's 8-byte granularity
    emu_charge(core, EMU_API_CALL_CYCLES);
    if (bytes > core->dtcm_limit || start > core->dtcm_limit - bytes) {
        return NULL;  // over the core's DTCM: the program must handle it (as on the board)
    }
    core->dtcm_used = start + bytes;
    return core->dtcm + start;
}

// ---- data specification ----------------------------------------------------

data_specification_metadata_t *data_specification_get_data_address(void) {
    return me()->ds_metadata;
}

bool data_specification_read_header(data_specification_metadata_t *ds_regions) {
    return ds_regions && ds_regions->magic_number == DATA_SPECIFICATION_MAGIC &&
           ds_regions->version == DATA_SPECIFICATION_VERSION;
}
