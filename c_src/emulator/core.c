// One core's event handling, as the spin1 API's scheduler does it.
//
// Two levels run on a core:
//   - interrupt level: packets whose callback has priority -1 (FIQ) or 0, and
//     priority-0 callbacks of the other events (timer, DMA done, user event).
//     It runs as soon as the event arrives unless interrupt-level work is
//     already running; packets then wait in the core's input queue (bounded:
//     one more is DROPPED and counted, per core and per key, as the router
//     would drop a packet the core does not take), other events in their queue.
//   - task level: callbacks queued with priority >= 1 (spin1_schedule_callback,
//     or events registered with such a priority), run one at a time in
//     priority order (lower number first), FIFO within a priority; each
//     priority's queue holds EMU_TASK_QUEUE_SIZE and a callback that finds it
//     full is lost (counted; a packet lost that way is a drop).
// Interrupt-level work preempts a running task: its cycles are added to the
// task's end.  A callback executes on the host at once, at the modeled time it
// starts; interrupts that preempt it in modeled time execute after it on the
// host, which is one of the interleavings the hardware allows (programs must
// be correct under any of them anyway).
#include <stdlib.h>
#include <string.h>

#include "emu.h"

// The timing fuzz's next delay of a task (xorshift64*: fast, and the same sequence for a seed).
// Tasks only: delaying every packet's handler as well would slow a core's intake below the
// senders' pace and turn the fuzz into drops.  A generator per core (seeded from the machine's
// seed and the core's number, machine.c), so that a core's delays do not hang on the host's
// order of other cores' tasks in the same cycle (which packets taken ahead change).
static uint64_t jitter(emu_machine_t *m, emu_core_t *core) {
    if (!m->jitter_cycles) {
        return 0;
    }
    uint64_t x = core->jitter_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    core->jitter_state = x;
    return ((x * 0x2545F4914F6CDD1DULL) >> 32) % m->jitter_cycles;
}

static void run_callback(emu_machine_t *m, emu_core_t *core, callback_t cb, uint a0, uint a1,
                         uint64_t start) {
    core->now = start;
    core->c.callbacks++;
    emu_set_current(core);
    cb(a0, a1);
    emu_set_current(NULL);
    emu_note_activity(m, core->now);
}

void emu_core_wake_at(emu_machine_t *m, emu_core_t *core, uint64_t t) {
    if (core->wake_at && core->wake_at <= t) {
        return;  // an earlier wake will look again
    }
    core->wake_at = t;
    emu_eq_push(&m->events, t, EV_WAKE, core->id, 0, 0, 0);
}

static void count_drop(emu_machine_t *m, emu_core_t *core, uint key, uint64_t *counter) {
    (*counter)++;
    emu_keystat_t *ks = emu_ks_get(&core->keys, key);
    if (ks) {
        ks->dropped++;
    }
    if (!m->drop_seen) {
        m->drop_seen = 1;
        m->drop_core = core->id;
        m->drop_key = key;
        m->drop_time = m->now;
    }
    if (m->stop_on_drop) {
        emu_fail(m, "core (%u, %u, %u) dropped key 0x%08x", core->x, core->y, core->p, key);
    }
}

int emu_core_queue_task(emu_core_t *core, callback_t cb, uint arg0, uint arg1, uint priority) {
    if (priority < 1 || priority > EMU_N_TASK_QUEUES) {
        return 0;
    }
    emu_task_queue_t *q = &core->tasks[priority];
    if (q->n == EMU_TASK_QUEUE_SIZE) {
        core->c.tasks_dropped++;
        return 0;
    }
    q->q[(q->head + q->n++) % EMU_TASK_QUEUE_SIZE] = (emu_task_t) {cb, arg0, arg1};
    core->tasks_queued++;
    return 1;
}

static void handle_packet(emu_machine_t *m, emu_core_t *core, emu_packet_t pkt, uint64_t start);

// Packets taken ahead whose modeled take has come have left the input queue.
static void retire_ahead(emu_machine_t *m, emu_core_t *core) {
    while (core->ahead_n && core->ahead_at[core->ahead_head] <= m->now) {
        core->ahead_head = (core->ahead_head + 1) & m->rx_mask;
        core->ahead_n--;
    }
}

void emu_core_packet(emu_machine_t *m, emu_core_t *core, uint key, uint data, uint has_payload) {
    if (core->exited && m->now >= core->exit_at) {
        return;  // an exited core takes nothing (before a handler taken ahead exits, packets still queue)
    }
    retire_ahead(m, core);
    if (core->rx_n + core->ahead_n == m->rx_capacity) {
        count_drop(m, core, key, &core->c.dropped_rx);
        return;
    }
    emu_packet_t pkt = {key, data, has_payload};
    if (!core->rx_n && core->irq_free <= m->now && !core->exited && !m->stopped) {
        // the interrupt level is free and nothing is queued ahead of it: emu_core_service would
        // take this packet first, now; it does, without the round trip through the queue
        handle_packet(m, core, pkt, m->now);
    } else {
        core->rx[(core->rx_head + core->rx_n++) & m->rx_mask] = pkt;
    }
    emu_core_service(m, core);
}

void emu_core_irq(emu_machine_t *m, emu_core_t *core, uint event, uint arg0, uint arg1) {
    if (core->exited) {
        return;
    }
    if (core->irq_n == EMU_IRQ_QUEUE_SIZE) {
        emu_fail(m, "core (%u, %u, %u): more than %u interrupt events pending (event %u)", core->x, core->y,
                 core->p, EMU_IRQ_QUEUE_SIZE, event);
        return;
    }
    core->irq[(core->irq_head + core->irq_n++) % EMU_IRQ_QUEUE_SIZE] = (emu_irq_t) {event, arg0, arg1};
    emu_core_service(m, core);
}

// Interrupt level took the cycles from `start` to the core's clock: it is busy, and a running
// task is delayed.
static void irq_busy(emu_core_t *core, uint64_t start) {
    uint64_t cycles = core->now - start;
    core->irq_free = core->now;
    core->c.busy_cycles += cycles;
    if (core->task_running && core->task_end > start) {
        core->task_end += cycles;
    }
}

// One packet, at interrupt level, from cycle `start` (the machine's clock, or later: take_ahead).
static void handle_packet(emu_machine_t *m, emu_core_t *core, emu_packet_t pkt, uint64_t start) {
    core->callback_at = start;
    uint event = pkt.has_payload ? MCPL_PACKET_RECEIVED : MC_PACKET_RECEIVED;
    emu_slot_t slot = core->slots[event];
    emu_keystat_t *ks = m->key_stats ? emu_ks_get(&core->keys, pkt.key) : NULL;
    if (!slot.cb) {
        core->c.unhandled++;  // the API reads and discards a packet nobody asked for
        core->now = start + EMU_ISR_CYCLES;
    } else if (slot.priority <= 0) {
        core->c.received++;
        if (ks) {
            ks->received++;
        }
        m->deliveries++;
        run_callback(m, core, slot.cb, pkt.key, pkt.data, start + EMU_ISR_CYCLES);
    } else {
        core->now = start + EMU_ISR_CYCLES;
        if (emu_core_queue_task(core, slot.cb, pkt.key, pkt.data, (uint) slot.priority)) {
            core->c.received++;
            if (ks) {
                ks->received++;
            }
            m->deliveries++;
        } else {
            count_drop(m, core, pkt.key, &core->c.dropped_task_queue);
        }
    }
    irq_busy(core, start);
}

// The next packet of the input queue, at `start`: the machine's clock, or later (take_ahead).
static void take_packet(emu_machine_t *m, emu_core_t *core, uint64_t start) {
    emu_packet_t pkt = core->rx[core->rx_head];
    core->rx_head = (core->rx_head + 1) & m->rx_mask;
    core->rx_n--;
    handle_packet(m, core, pkt, start);
}

static void take_irq(emu_machine_t *m, emu_core_t *core) {
    core->callback_at = m->now;
    emu_irq_t ev = core->irq[core->irq_head];
    core->irq_head = (core->irq_head + 1) % EMU_IRQ_QUEUE_SIZE;
    core->irq_n--;
    if (ev.event == USER_EVENT && core->user_events_pending) {
        core->user_events_pending--;
    }
    emu_slot_t slot = core->slots[ev.event];
    if (!slot.cb) {
        core->now = m->now + EMU_ISR_CYCLES;
    } else if (slot.priority <= 0) {
        run_callback(m, core, slot.cb, ev.arg0, ev.arg1, m->now + EMU_ISR_CYCLES);
    } else {
        core->now = m->now + EMU_ISR_CYCLES;
        if (!emu_core_queue_task(core, slot.cb, ev.arg0, ev.arg1, (uint) slot.priority)) {
            emu_fail(m, "core (%u, %u, %u): task queue of priority %d full for event %u", core->x, core->y,
                     core->p, slot.priority, ev.event);
        }
    }
    irq_busy(core, m->now);
}

static int next_task(emu_core_t *core, emu_task_t *out) {
    if (!core->tasks_queued) {
        return 0;
    }
    for (uint pr = 1; pr <= EMU_N_TASK_QUEUES; pr++) {
        emu_task_queue_t *q = &core->tasks[pr];
        if (q->n) {
            *out = q->q[q->head];
            q->head = (q->head + 1) % EMU_TASK_QUEUE_SIZE;
            q->n--;
            core->tasks_queued--;
            return 1;
        }
    }
    return 0;
}

static int tasks_waiting(const emu_core_t *core) {
    return core->tasks_queued != 0;
}

// Whether the core may take its next queued packet now on the host, at the modeled cycle its
// interrupt level frees (`at`), instead of from a WAKE event then.  Between now and `at` the core
// runs nothing else (interrupt level is busy; packets come first when it frees, in queue order),
// and what may reach it in between only joins its queues: later packets, which are then taken
// ahead in turn, and ticks, DMA completions and host signals, which are refused here because a
// handler could see their effects (the tick count, the DMA queue).  Only handlers that run at
// interrupt level are taken ahead: a packet queued as a task could find its task queue full, a
// drop that must happen at its own cycle.  Deliveries before `at` still find the packet in the
// input queue (ahead_at), and a handler that exits stops the core at its own cycle (exit_at).
// What differs from a WAKE per packet (the review in the README found these):
//   - events in the same cycle: the handler runs on the host before other events of its cycle
//     and of the cycles before it, so what it makes is numbered before them, and at `at` itself
//     the packet counts as taken; where a delivery, a task start or a DMA completion falls in
//     the same cycle as a packet taken ahead, their order, and so a drop or a start, can differ
//     (costs that are multiples of 10 cycles made such ties common in a fuzz of small machines;
//     training runs came out identical);
//   - the first error (emu_fail) is the first on the host, which may be a later one in
//     modeled time;
//   - cores are assumed to share nothing but packets (a program reading SDRAM another core on
//     its chip writes would see the write in host order).
static int take_ahead(const emu_machine_t *m, const emu_core_t *core, uint64_t at) {
    const emu_packet_t *next = &core->rx[core->rx_head];
    emu_slot_t slot = core->slots[next->has_payload ? MCPL_PACKET_RECEIVED : MC_PACKET_RECEIVED];
    return m->take_ahead && at <= m->run_until && !core->timer_period && !core->dma_n &&
           !core->user_events_pending && core->ahead_n <= m->rx_mask && slot.priority <= 0;
}

// Runs whatever the core can run now, and asks to be woken when it can run
// more.  A core with nothing waiting is not woken: the next packet or event
// calls this again (half the events a delivery would otherwise cost).
void emu_core_service(emu_machine_t *m, emu_core_t *core) {
    while (!core->exited && !m->stopped) {
        if (core->irq_free > m->now) {
            if (core->rx_n && take_ahead(m, core, core->irq_free)) {
                uint64_t at = core->irq_free;
                core->ahead_at[(core->ahead_head + core->ahead_n++) & m->rx_mask] = at;
                m->ahead_last = at > m->ahead_last ? at : m->ahead_last;
                take_packet(m, core, at);
                continue;
            }
            if (core->rx_n || core->irq_n) {
                emu_core_wake_at(m, core, core->irq_free);
            } else if (tasks_waiting(core)) {
                // only a task waits: it can start when both the interrupt level and the
                // running task are done; waking at irq_free first would only re-arm the wake
                // (two wakes per packet that interrupts a long task)
                uint64_t t = core->irq_free;
                if (core->task_running && core->task_end > t) {
                    t = core->task_end;
                }
                emu_core_wake_at(m, core, t);
            }
            return;
        }
        if (core->rx_n) {
            take_packet(m, core, m->now);
            continue;
        }
        if (core->irq_n) {
            take_irq(m, core);
            continue;
        }
        if (core->task_running && core->task_end > m->now) {
            if (tasks_waiting(core)) {
                emu_core_wake_at(m, core, core->task_end);
            }
            return;
        }
        core->task_running = 0;
        emu_task_t task;
        if (!next_task(core, &task)) {
            return;  // idle: the API's wait-for-interrupt
        }
        core->callback_at = m->now;
        run_callback(m, core, task.cb, task.arg0, task.arg1, m->now + EMU_TASK_DISPATCH_CYCLES + jitter(m, core));
        core->task_running = 1;
        core->task_end = core->now;
        core->c.busy_cycles += core->now - m->now;
    }
}

void emu_core_timer(emu_machine_t *m, emu_core_t *core, uint generation) {
    if (core->exited || generation != core->timer_generation || !core->timer_period) {
        return;  // a stale tick: not activity
    }
    emu_note_activity(m, m->now);
    core->ticks++;
    core->c.timer_ticks++;
    emu_eq_push(&m->events, m->now + core->timer_period, EV_TIMER, core->id, generation, 0, 0);
    // spinnaker_tools passes the tick count as the first argument
    emu_core_irq(m, core, TIMER_TICK, core->ticks, 0);
}

void emu_core_start(emu_machine_t *m, emu_core_t *core) {
    core->now = m->now;
    core->callback_at = m->now;
    emu_set_current(core);
    core->program->entry();
    emu_set_current(NULL);
    emu_note_activity(m, core->now);
    core->irq_free = core->now;  // c_main's own work occupies the core before any callback
    core->c.busy_cycles += core->now - m->now;
    if (!core->started && !core->exited) {
        emu_fail(m, "core (%u, %u, %u): program '%s' returned from c_main without calling spin1_start",
                 core->x, core->y, core->p, core->program->name);
        return;
    }
    emu_core_service(m, core);
}

void emu_core_free(emu_core_t *core) {
    if (!core) {
        return;
    }
    free(core->dtcm);
    free(core->rx);
    free(core->ahead_at);
    emu_ks_free(&core->keys);
    free(core);
}

int emu_host_signal(emu_machine_t *m, emu_core_t *core, uint64_t at, uint arg0, uint arg1) {
    if (core->exited || core->user_events_pending == EMU_USER_EVENT_QUEUE_SIZE) {
        return 0;
    }
    core->user_events_pending++;
    emu_eq_push(&m->events, at, EV_USER, core->id, arg0, arg1, 0);
    return 1;
}
