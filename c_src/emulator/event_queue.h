// The machine's event queue, ordered by (time in cycles, insertion number), so
// events at the same cycle run in the order they were made and every run of
// the same machine is identical.
//
// A callback runs on the host at once but sends its packets at the modeled
// times of its sends, up to tens of ms ahead of the machine's clock; the
// router hops and deliveries that follow land a few hundred cycles later.  A
// binary heap of those tens of thousands of pending events cost a dozen
// cache-missing levels per event, so the queue is a hierarchical timing wheel:
//   - the near wheel: one FIFO bucket per cycle up to `limit` (at most
//     EMU_EQ_NEAR cycles past the last time popped);
//   - the far wheel: one FIFO bucket per EMU_EQ_GRAIN cycles for the next
//     EMU_EQ_FAR_BUCKETS grains; a grain moves, in order, into the near wheel
//     when `limit` reaches it;
//   - a 4-ary heap for anything later still, or earlier than the last pop.
// A pop takes the earlier of the near wheel's head and the heap's top.
// event_queue.c says why that order is exactly (time, seq).
#ifndef SPINN_EMU_EVENT_QUEUE_H
#define SPINN_EMU_EVENT_QUEUE_H

#include <stdint.h>

enum emu_event_kind {
    EV_START,    // a: core: run its program's entry (c_main)
    EV_ROUTER,   // a packet a core sent enters its chip's router; a: chip, b: key, c: data, d: has_payload
    EV_DELIVER,  // a: chip, b: key, c: data, d: has_payload | (set of virtual cores) << 1
    EV_WAKE,     // a: core: its interrupt level or running task has finished
    EV_TIMER,    // a: core, b: timer generation (a reprogrammed timer cancels older ticks)
    EV_DMA_DONE, // a: core
    EV_USER,     // a: core, b, c: the arguments of spin1_trigger_user_event
    EV_ROUTER_DROP, // a router drops copies of a packet: a: chip, b: key, c: why (router.c), d: copies
    EV_KINDS
};

typedef struct {
    uint64_t time, seq;
    uint32_t kind, a, b, c, d;
} emu_event_t;

// powers of two, each at least 4096 (two levels of occupancy bitmap)
#define EMU_EQ_NEAR (1u << 14)          // cycles, one bucket each (82 us)
#define EMU_EQ_GRAIN (1u << 10)         // cycles per far bucket
#define EMU_EQ_FAR_BUCKETS (1u << 15)   // 2^25 cycles ahead (168 ms)
#define EMU_EQ_NONE UINT32_MAX

typedef struct {
    emu_event_t ev;
    uint32_t next;  // next node of the same bucket, or of the free list
} emu_eq_node_t;

// FIFO buckets of nodes, and a two-level bitmap of those that hold any
typedef struct {
    uint32_t n_buckets;
    uint32_t *first, *last;  // node indices, EMU_EQ_NONE when empty
    uint64_t *occupied;      // a bit per bucket
    uint64_t *occupied_words;  // a bit per word of `occupied` that is not zero
    uint64_t n;
} emu_eq_wheel_t;

typedef struct {
    emu_event_t *heap;
    uint64_t heap_n, heap_cap;
    emu_eq_node_t *nodes;
    uint32_t nodes_cap, free_node;
    emu_eq_wheel_t near, far;
    uint64_t cursor;  // no earlier time is in the wheels: the last time popped, or later
    uint64_t limit;   // near wheel: [cursor, limit); far wheel: [limit, limit + its span)
    uint64_t n, next_seq;
    uint64_t heap_pushes;  // events that went to the heap (benchmarks/emulator_throughput.py)
} emu_event_queue_t;

int emu_eq_init(emu_event_queue_t *q);
void emu_eq_free(emu_event_queue_t *q);
int emu_eq_push(emu_event_queue_t *q, uint64_t time, uint32_t kind, uint32_t a, uint32_t b, uint32_t c,
                uint32_t d);
// Removes every event `keep` refuses (events that can no longer do anything).
void emu_eq_filter(emu_event_queue_t *q, int (*keep)(const emu_event_t *, void *), void *ctx);
// The earliest event, without removing it; NULL if the queue is empty.
const emu_event_t *emu_eq_peek(emu_event_queue_t *q);
// Removes the earliest event into *out; 0 if the queue is empty.
int emu_eq_pop(emu_event_queue_t *q, emu_event_t *out);
// The same if the earliest event's time is at most `until` (1); 0 if the queue is empty; -1 if
// it is later: it stays queued, and out->time is its time.  (One search where peek then pop
// would make two.)
int emu_eq_pop_until(emu_event_queue_t *q, uint64_t until, emu_event_t *out);

#endif  // SPINN_EMU_EVENT_QUEUE_H
