// Building an emulated machine (chips, links, tables, cores with their memory
// images) and running it: the event loop.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/data_specification.h"
#include "emu.h"

emu_machine_t *emu_machine_new(uint rx_capacity, int stop_on_drop) {
    emu_machine_t *m = calloc(1, sizeof(*m));
    if (!m) {
        return NULL;
    }
    if (!emu_eq_init(&m->events)) {
        free(m);
        return NULL;
    }
    emu_ks_init(&m->router_drops);
    m->rx_capacity = rx_capacity ? rx_capacity : EMU_RX_QUEUE_DEFAULT;
    uint slots = 1;
    while (slots < m->rx_capacity) {
        slots <<= 1;
    }
    m->rx_mask = slots - 1;
    m->stop_on_drop = stop_on_drop;
    m->take_ahead = 1;
    return m;
}

void emu_machine_free(emu_machine_t *m) {
    if (!m) {
        return;
    }
    for (uint i = 0; i < m->n_chips; i++) {
        free(m->chips[i].table);
        emu_route_index_free(m->chips[i].index);
        for (uint l = 0; l < EMU_LINKS; l++) {
            emu_link_schedule_free(&m->chips[i].link_busy[l]);
        }
        free(m->chips[i].sdram);
    }
    for (uint i = 0; i < m->n_cores; i++) {
        emu_core_free(m->cores[i]);
    }
    free(m->chips);
    free(m->cores);
    emu_eq_free(&m->events);
    emu_tree_cache_free(&m->trees);
    free(m->arrival);
    emu_ks_free(&m->router_drops);
    free(m);
}

void emu_fail(emu_machine_t *m, const char *fmt, ...) {
    if (m->stopped) {
        return;  // the first error is the one to report
    }
    m->stopped = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof(m->error), fmt, ap);
    va_end(ap);
}

static int grow(void **array, uint *cap, uint n, size_t item) {
    if (n < *cap) {
        return 1;
    }
    uint new_cap = *cap ? *cap * 2 : 16;
    void *p = realloc(*array, new_cap * item);
    if (!p) {
        return 0;
    }
    *array = p;
    *cap = new_cap;
    return 1;
}

int emu_chip_index(const emu_machine_t *m, uint x, uint y) {
    for (uint i = 0; i < m->n_chips; i++) {
        if (m->chips[i].x == x && m->chips[i].y == y) {
            return (int) i;
        }
    }
    return -1;
}

int emu_add_chip(emu_machine_t *m, uint x, uint y) {
    if (emu_chip_index(m, x, y) >= 0 || !grow((void **) &m->chips, &m->cap_chips, m->n_chips, sizeof(emu_chip_t))) {
        return -1;
    }
    emu_chip_t *chip = &m->chips[m->n_chips];
    memset(chip, 0, sizeof(*chip));
    chip->x = x;
    chip->y = y;
    for (uint i = 0; i < EMU_LINKS; i++) {
        chip->neighbour[i] = -1;
    }
    for (uint i = 0; i < EMU_CORES_PER_CHIP; i++) {
        chip->core_of[i] = -1;
    }
    return (int) m->n_chips++;
}

int emu_add_link(emu_machine_t *m, uint chip, uint link, uint neighbour) {
    if (chip >= m->n_chips || neighbour >= m->n_chips || link >= EMU_LINKS) {
        return 0;
    }
    m->chips[chip].neighbour[link] = (int) neighbour;
    emu_tree_cache_clear(&m->trees);
    return 1;
}

int emu_add_route(emu_machine_t *m, uint chip, uint key, uint mask, uint route) {
    if (chip >= m->n_chips) {
        return 0;
    }
    emu_chip_t *c = &m->chips[chip];
    if (!grow((void **) &c->table, &c->cap_routes, c->n_routes, sizeof(emu_route_t))) {
        return 0;
    }
    c->table[c->n_routes++] = (emu_route_t) {key, mask, route};
    emu_route_index_free(c->index);  // rebuilt with the new entry at the next lookup
    c->index = NULL;
    emu_tree_cache_clear(&m->trees);
    return 1;
}

// A chip's SDRAM: the whole budget is reserved at the chip's first
// allocation (calloc maps zero pages only when touched, so an emulated chip
// costs the host what its cores use) and handed out by a bump allocator, as
// the toolchain allocates each core's regions once.  Regions are referenced by
// pointer, so the block never moves.
static uint8_t *sdram_alloc(emu_machine_t *m, emu_chip_t *chip, uint64_t bytes) {
    uint64_t start = (chip->sdram_used + 7u) & ~(uint64_t) 7u;
    if (start + bytes > EMU_SDRAM_BYTES) {
        emu_fail(m, "chip (%u, %u): SDRAM over its %u bytes", chip->x, chip->y, EMU_SDRAM_BYTES);
        return NULL;
    }
    if (!chip->sdram) {
        chip->sdram = calloc(1, EMU_SDRAM_BYTES);
        if (!chip->sdram) {
            emu_fail(m, "chip (%u, %u): cannot reserve host memory for its SDRAM", chip->x, chip->y);
            return NULL;
        }
        chip->sdram_size = EMU_SDRAM_BYTES;
    }
    chip->sdram_used = start + bytes;
    return chip->sdram + start;
}

int emu_add_core(emu_machine_t *m, uint chip_index, uint p, const spinn_program_t *program,
                 const uint8_t *const *region_data, const uint *region_bytes, uint n_regions) {
    if (chip_index >= m->n_chips || p >= EMU_CORES_PER_CHIP || m->chips[chip_index].core_of[p] >= 0) {
        return -1;
    }
    emu_chip_t *chip = &m->chips[chip_index];
    uint state = (program->state_bytes + 7u) & ~7u;
    if (state > EMU_DTCM_BYTES - EMU_STACK_BYTES) {
        emu_fail(m, "program '%s': its state (%u bytes) does not fit DTCM", program->name, state);
        return -1;
    }
    if (!grow((void **) &m->cores, &m->cap_cores, m->n_cores, sizeof(emu_core_t *))) {
        return -1;
    }
    // on a cache line of its own, so that the fields every packet touches share one or two
    size_t core_bytes = (sizeof(emu_core_t) + 63u) & ~(size_t) 63u;
    emu_core_t *core = aligned_alloc(64, core_bytes);
    if (!core) {
        return -1;
    }
    memset(core, 0, core_bytes);
    core->dtcm = calloc(1, EMU_DTCM_BYTES);
    core->rx = calloc(m->rx_mask + 1, sizeof(emu_packet_t));
    core->ahead_at = calloc(m->rx_mask + 1, sizeof(uint64_t));
    if (!core->dtcm || !core->rx || !core->ahead_at) {
        emu_core_free(core);
        return -1;
    }
    emu_ks_init(&core->keys);
    core->id = m->n_cores;
    // the timing fuzz's generator of this core: the machine's seed and the core's number mixed
    // (splitmix64), never zero (xorshift stays at zero)
    uint64_t z = m->jitter_state + 0x9E3779B97F4A7C15ULL * (core->id + 1u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    core->jitter_state = z ? z : 1;
    core->chip = chip_index;
    core->x = chip->x;
    core->y = chip->y;
    core->p = p;
    core->program = program;
    core->machine = m;
    core->dtcm_used = state;
    core->dtcm_limit = EMU_DTCM_BYTES - EMU_STACK_BYTES;
    // the data specification's metadata, then each region, in the chip's SDRAM
    size_t meta = sizeof(data_specification_metadata_t) + n_regions * sizeof(region_desc_t);
    data_specification_metadata_t *ds = (data_specification_metadata_t *) sdram_alloc(m, chip, meta);
    if (!ds) {
        emu_core_free(core);
        return -1;
    }
    ds->magic_number = DATA_SPECIFICATION_MAGIC;
    ds->version = DATA_SPECIFICATION_VERSION;
    for (uint r = 0; r < n_regions; r++) {
        if (!region_bytes[r]) {
            ds->regions[r] = (region_desc_t) {NULL, 0, 0};
            continue;
        }
        uint8_t *at = sdram_alloc(m, chip, region_bytes[r]);
        if (!at) {
            emu_core_free(core);
            return -1;
        }
        uint32_t sum = 0;
        if (region_data[r]) {
            memcpy(at, region_data[r], region_bytes[r]);
            for (uint i = 0; i + 4 <= region_bytes[r]; i += 4) {
                uint32_t w;
                memcpy(&w, at + i, 4);
                sum += w;
            }
        }
        ds->regions[r] = (region_desc_t) {at, sum, region_bytes[r] / 4};
    }
    core->ds_metadata = ds;
    core->n_regions = n_regions;
    chip->core_of[p] = (int) core->id;
    chip->cores_present |= 1u << p;
    emu_tree_cache_clear(&m->trees);
    m->cores[m->n_cores++] = core;
    emu_eq_push(&m->events, 0, EV_START, core->id, 0, 0, 0);
    return (int) core->id;
}

static void dispatch(emu_machine_t *m, const emu_event_t *ev) {
    switch (ev->kind) {
    case EV_START:
        emu_core_start(m, m->cores[ev->a]);
        break;
    case EV_ROUTER:
        emu_router_send(m, ev->a, ev->b, ev->c, ev->d & 1u);
        break;
    case EV_DELIVER: {
        emu_note_activity(m, m->now);
        const emu_chip_t *chip = &m->chips[ev->a];
        for (uint cores = ev->d >> 1, p = 0; cores; cores >>= 1, p++) {  // in core order: deterministic
            if (cores & 1u) {
                emu_core_packet(m, m->cores[chip->core_of[p]], ev->b, ev->c, ev->d & 1u);
            }
        }
        break;
    }
    case EV_WAKE: {
        emu_core_t *core = m->cores[ev->a];
        core->c.wakes++;
        if (core->wake_at == ev->time) {
            core->wake_at = 0;
        }
        emu_core_service(m, core);
        break;
    }
    case EV_TIMER:
        emu_core_timer(m, m->cores[ev->a], ev->b);
        break;
    case EV_DMA_DONE:
        emu_dma_done(m, m->cores[ev->a]);
        break;
    case EV_USER:
        emu_core_irq(m, m->cores[ev->a], USER_EVENT, ev->b, ev->c);
        break;
    case EV_ROUTER_DROP:
        emu_note_activity(m, m->now);
        emu_router_dropped(m, ev->a, ev->b, ev->c, ev->d);
        break;
    default:
        emu_fail(m, "unknown event kind %u", ev->kind);
    }
}

// An event that can still do something: not one for a core that has exited
// (its timer ticks, wakes and DMA completions), nor a tick of a reprogrammed timer.
static int live(const emu_event_t *ev, void *ctx) {
    emu_machine_t *m = ctx;
    switch (ev->kind) {
    case EV_TIMER:
        return !m->cores[ev->a]->exited && ev->b == m->cores[ev->a]->timer_generation;
    case EV_WAKE:
    case EV_DMA_DONE:
    case EV_USER:
        return !m->cores[ev->a]->exited;
    default:
        return 1;
    }
}

static int run_events(emu_machine_t *m, uint64_t max_cycles);

int emu_run(emu_machine_t *m, uint64_t max_cycles) {
    m->run_until = max_cycles;
    int result = run_events(m, max_cycles);
    m->run_until = 0;
    return result;
}

static int run_events(emu_machine_t *m, uint64_t max_cycles) {
    emu_event_t ev;
    int purged = 0;
    while (!m->stopped) {
        int got = emu_eq_pop_until(&m->events, max_cycles, &ev);
        if (!got) {
            // quiescent: the clock has passed every packet taken ahead, as the WAKE events that
            // would have taken them (core.c, take_ahead)
            m->now = m->ahead_last > m->now ? m->ahead_last : m->now;
            return 1;
        }
        if (got < 0 && !purged) {
            // before calling it a cycle limit, drop what can no longer act: a
            // machine whose cores have all finished is quiescent
            emu_eq_filter(&m->events, live, m);
            purged = 1;
            continue;
        }
        if (got < 0) {
            m->now = max_cycles;
            emu_note_activity(m, max_cycles);
            return 0;
        }
        purged = 0;
        m->now = ev.time;
        m->events_processed++;
        if (ev.kind < EV_KINDS) {
            m->events_by_kind[ev.kind]++;
        }
        dispatch(m, &ev);
    }
    return -1;
}
