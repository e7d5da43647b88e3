// The emulated machine: chips with routers and SDRAM, cores with DTCM and the
// spin1 API's queues, links between neighbour chips, and one event queue that
// orders everything in cycles.  One machine_t holds all of it: there is no
// global state, so several machines can exist (and run in different threads)
// in one process.  The only per-thread variable is the core whose callback is
// running (emu_current), which the host spin1 API needs to know who calls it.
#ifndef SPINN_EMU_H
#define SPINN_EMU_H

#include <stddef.h>
#include <stdint.h>

#ifndef SPINN_HOST
#define SPINN_HOST 1
#endif
#include "../include/spinn_program.h"
#include "cost_model.h"
#include "event_queue.h"
#include "keystats.h"
#include "link_schedule.h"
#include "route_index.h"
#include "route_tree.h"

// Callback slot of one event (spin1_callback_on)
typedef struct {
    callback_t cb;
    int priority;
} emu_slot_t;

typedef struct {
    callback_t cb;
    uint arg0, arg1;
} emu_task_t;

// A bounded FIFO of queued callbacks (one per priority, as the spin1 API has)
typedef struct {
    emu_task_t q[EMU_TASK_QUEUE_SIZE];
    uint head, n;
} emu_task_queue_t;

typedef struct {
    uint key, data, has_payload;
} emu_packet_t;

// Interrupt-level work other than packets: the event and its two arguments
typedef struct {
    uint event, arg0, arg1;
} emu_irq_t;

typedef struct {
    uint id, tag, direction, length;
    uint8_t *sdram, *tcm;
} emu_dma_t;

// Counters of one core; the Python side reads them by name (pymodule.c)
typedef struct {
    uint64_t sent, received, dropped_rx, dropped_task_queue, unhandled;
    uint64_t callbacks, tasks_dropped, busy_cycles, dma_transfers, dma_bytes, timer_ticks, wakes;
} emu_core_counters_t;

typedef struct emu_core {
    // What every packet touches comes first, in the struct's first cache lines: a delivery
    // reaches a core whose state is rarely in the host's cache (150 cores' DTCM and state
    // outgrow its L2), and fields spread over the struct cost a miss each.
    uint64_t now;        // modeled clock of the callback running now (start + cycles charged)
    uint64_t irq_free;   // interrupt level busy until
    uint64_t task_end;   // the running queued callback ends then
    uint64_t wake_at;    // a WAKE event is pending at this time (0: none)
    emu_packet_t *rx;    // ring of rx_mask + 1 slots (a power of two >= rx_capacity)
    uint rx_head, rx_n;
    uint irq_n;
    uint tasks_queued;   // callbacks waiting in all the task queues together
    int task_running;
    int exited;
    // packets taken ahead of the host's clock (core.c, take_ahead): when each is taken in
    // modeled time, a ring as large as rx; until then each still fills the input queue
    uint64_t *ahead_at;
    uint ahead_head, ahead_n;
    uint64_t callback_at;  // the cycle the running callback was taken or dispatched at
    emu_slot_t slots[NUM_EVENTS];
    emu_core_counters_t c;
    uint id, chip, x, y, p;
    const spinn_program_t *program;
    struct emu_machine *machine;
    // DTCM: one arena; the program's state first, then spin1_malloc's bump heap
    uint8_t *dtcm;
    uint dtcm_used;   // bytes taken (state + heap), stack reserve excluded
    uint dtcm_limit;  // EMU_DTCM_BYTES - EMU_STACK_BYTES
    void *ds_metadata;  // data_specification_metadata_t in the chip's SDRAM
    uint n_regions;
    emu_task_queue_t tasks[EMU_N_TASK_QUEUES + 1];  // index = priority (0 unused)
    emu_irq_t irq[EMU_IRQ_QUEUE_SIZE];
    uint irq_head;
    emu_dma_t dma[EMU_DMA_QUEUE_SIZE];
    uint dma_head, dma_n, dma_next_id;
    uint64_t dma_free;  // when the DMA engine finishes its last queued transfer
    uint user_events_pending;
    // timer
    uint64_t timer_period;  // cycles; 0 = no timer
    uint64_t timer_phase;
    uint timer_generation;
    uint ticks;
    int started, paused;
    uint exit_code;
    uint64_t exit_at;    // exited: from this cycle on (a handler taken ahead exits at its own cycle)
    uint64_t jitter_state;  // the timing fuzz's generator of this core (core.c, jitter)
    emu_keystats_t keys;  // per key: sent, received, dropped
} emu_core_t;

typedef struct {
    uint key, mask, route;
} emu_route_t;

typedef struct {
    uint64_t routed, default_routed, dropped_no_route, dropped_no_link, dropped_no_core, dropped_link_busy;
} emu_router_counters_t;

typedef struct {
    uint x, y;
    int neighbour[EMU_LINKS];  // chip index on each link, -1 if none
    emu_link_schedule_t link_busy[EMU_LINKS];  // each outgoing link's bookings
    emu_route_t *table;
    uint n_routes, cap_routes;
    int core_of[EMU_CORES_PER_CHIP];  // core index by virtual core number, -1 if none
    uint cores_present;  // bit p: core_of[p] >= 0
    emu_route_index_t *index;  // of `table`, built at its first lookup (emu_add_route drops it)
    uint8_t *sdram;
    uint64_t sdram_size, sdram_used;
    emu_router_counters_t c;
} emu_chip_t;

typedef struct emu_machine {
    emu_chip_t *chips;
    uint n_chips, cap_chips;
    emu_core_t **cores;
    uint n_cores, cap_cores;
    emu_event_queue_t events;
    emu_tree_cache_t trees;  // each (chip, key) sent so far: the chips, links and cores it reaches
    uint64_t *arrival;       // scratch for router.c: when each node of a tree is reached
    uint arrival_cap;
    uint rx_capacity;  // packets a core's input queue holds
    uint rx_mask;      // its ring's slots - 1: a power of two, so no host division per packet
    uint64_t run_until;  // emu_run's limit while it runs, else 0: no packet is taken beyond it
    uint64_t ahead_last; // the latest cycle a packet was taken ahead at (the clock reaches it)
    int take_ahead;      // queued packets taken ahead of the host's clock (core.c); 0 for tests to compare
    int stop_on_drop;
    // count sent and received packets per key and core (what the routing tests compare
    // with the key walk); a hash lookup per delivery, so training sessions leave it off.
    // Drops are counted per key always.
    int key_stats;
    // timing fuzz (0: off): every task starts up to jitter_cycles - 1 cycles later than the
    // model says, drawn from a seeded generator, so that tests can run one program under many
    // event orders (a result that changes beyond rounding is a race in the program)
    uint jitter_cycles;
    uint64_t jitter_state;
    uint64_t now;
    // when the last thing happened: an event that acted, or the end of a callback's
    // modeled work (stale events, such as ticks of a timer that stopped, do not count)
    uint64_t end_time;
    // set when the run must stop: a drop with stop_on_drop, or a core's error
    int stopped;
    char error[512];
    // first drop seen: where and which key (for the error naming core and partition)
    int drop_seen;
    uint drop_core, drop_key;
    uint64_t drop_time;
    emu_keystats_t router_drops;  // per key, packets the routers dropped
    uint64_t deliveries, events_processed;
    uint64_t events_by_kind[EV_KINDS];  // where the event count goes (benchmarks/emulator_throughput.py)
} emu_machine_t;

// machine.c
emu_machine_t *emu_machine_new(uint rx_capacity, int stop_on_drop);
void emu_machine_free(emu_machine_t *m);
int emu_add_chip(emu_machine_t *m, uint x, uint y);
int emu_chip_index(const emu_machine_t *m, uint x, uint y);
int emu_add_link(emu_machine_t *m, uint chip, uint link, uint neighbour);
int emu_add_route(emu_machine_t *m, uint chip, uint key, uint mask, uint route);
int emu_add_core(emu_machine_t *m, uint chip, uint p, const spinn_program_t *program,
                 const uint8_t *const *region_data, const uint *region_bytes, uint n_regions);
// Runs until no event is left (returns 1), the cycle limit (0) or a stop (-1: see m->error).
int emu_run(emu_machine_t *m, uint64_t max_cycles);
void emu_fail(emu_machine_t *m, const char *fmt, ...);
static inline void emu_note_activity(emu_machine_t *m, uint64_t t) {
    if (t > m->end_time) {
        m->end_time = t;
    }
}

// router.c: a packet a core on `chip` sent enters the chip's router
void emu_router_send(emu_machine_t *m, uint chip, uint key, uint data, uint has_payload);
// router.c: the router of chip `chip` drops `copies` copies of `key` now (EV_ROUTER_DROP; why: router.c)
void emu_router_dropped(emu_machine_t *m, uint chip, uint key, uint why, uint copies);
const emu_route_t *emu_router_lookup(emu_chip_t *chip, uint key);

// route_tree.c: the tree of `key` sent from `chip` (walked at its first send); NULL after emu_fail
const emu_tree_node_t *emu_route_tree(emu_machine_t *m, uint chip, uint key, uint *n_nodes);

// core.c
void emu_core_start(emu_machine_t *m, emu_core_t *core);
void emu_core_packet(emu_machine_t *m, emu_core_t *core, uint key, uint data, uint has_payload);
void emu_core_irq(emu_machine_t *m, emu_core_t *core, uint event, uint arg0, uint arg1);
void emu_core_service(emu_machine_t *m, emu_core_t *core);
void emu_core_timer(emu_machine_t *m, emu_core_t *core, uint generation);
int emu_core_queue_task(emu_core_t *core, callback_t cb, uint arg0, uint arg1, uint priority);
void emu_core_wake_at(emu_machine_t *m, emu_core_t *core, uint64_t t);
void emu_core_free(emu_core_t *core);
// The host's message to a core (on a board: an SDP packet its program handles): a USER_EVENT
// callback with arg0, arg1 at machine time `at`.
int emu_host_signal(emu_machine_t *m, emu_core_t *core, uint64_t at, uint arg0, uint arg1);

// dma.c
uint emu_dma_request(emu_core_t *core, uint tag, void *system_address, void *tcm_address,
                     uint direction, uint length);
void emu_dma_done(emu_machine_t *m, emu_core_t *core);

// spin1_host.c: which core's callback runs (per thread), and the clock it charges
emu_core_t *emu_current(void);
void emu_set_current(emu_core_t *core);
void emu_charge(emu_core_t *core, uint64_t cycles);

// programs.c
const spinn_program_t *emu_find_program(const char *name);
extern const spinn_program_t *const emu_programs[];

#endif  // SPINN_EMU_H
