// The machine's event queue: a binary min-heap ordered by (time in cycles,
// insertion number), so events at the same cycle run in the order they were
// made and every run of the same machine is identical.
#ifndef SPINN_EMU_EVENT_QUEUE_H
#define SPINN_EMU_EVENT_QUEUE_H

#include <stdint.h>

enum emu_event_kind {
    EV_START,    // a: core: run its program's entry (c_main)
    EV_ROUTER,   // a: chip, b: key, c: data, d: has_payload | (link it came along + 1) << 8
    EV_DELIVER,  // a: chip, b: key, c: data, d: has_payload | (set of virtual cores) << 1
    EV_WAKE,     // a: core: its interrupt level or running task has finished
    EV_TIMER,    // a: core, b: timer generation (a reprogrammed timer cancels older ticks)
    EV_DMA_DONE, // a: core
    EV_USER,     // a: core, b, c: the arguments of spin1_trigger_user_event
    EV_KINDS
};

typedef struct {
    uint64_t time, seq;
    uint32_t kind, a, b, c, d;
} emu_event_t;

typedef struct {
    emu_event_t *heap;
    uint64_t n, cap, next_seq;
} emu_event_queue_t;

void emu_eq_init(emu_event_queue_t *q);
void emu_eq_free(emu_event_queue_t *q);
int emu_eq_push(emu_event_queue_t *q, uint64_t time, uint32_t kind, uint32_t a, uint32_t b, uint32_t c,
                uint32_t d);
// Removes every event `keep` refuses (events that can no longer do anything).
void emu_eq_filter(emu_event_queue_t *q, int (*keep)(const emu_event_t *, void *), void *ctx);
// Removes the earliest event into *out; 0 if the queue is empty.
int emu_eq_pop(emu_event_queue_t *q, emu_event_t *out);

#endif  // SPINN_EMU_EVENT_QUEUE_H
