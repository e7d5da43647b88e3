// The multicast routers of the chips, driven by the toolchain's routing tables.
//
// As on SpiNNaker: the first entry whose (key & mask) == entry key decides;
// its route word names links (bits 0-5: E, NE, N, W, SW, S) and cores (bit
// 6 + virtual core number).  A packet no entry matches continues straight
// through on the link it travelled along (default routing) if it came from a
// neighbour, and is dropped if a core on this chip sent it.  Each copy sent on
// a link waits for the link to be free (one packet at a time, its length in
// bits decides how long), then reaches the neighbour's router after the
// link's latency; a copy that would wait longer than the router's drop time
// is dropped with the copies it would have made (back-pressure: the thesis's
// failure mode).  Each copy for a core reaches the core's input after the
// router's latency; the core's input queue decides whether it is taken.
// Drops are counted per chip and per key.
//
// A packet's whole tree is timed when it enters its first router (one event
// per packet sent, not one per chip it passes): the tree comes from the
// machine's cache (route_tree.h) and each link keeps its bookings
// (link_schedule.h), so a copy booked later can still take an earlier gap.
// Links are therefore served in the order packets were sent, filling gaps,
// not strictly in the order copies reach them: a copy that is ready first but
// does not fit before a booking already made waits behind it (the README
// says what that changes).  What happens later in the tree happens at its own
// time: the deliveries, and the drops, which are queued as events (so a
// drop's cycle, a stop on the first drop and a run's cycle limit see them
// when they happen).  Only the routed / default-routed counters are counted
// when the packet is sent, and a copy an entry sends nowhere (an empty route
// word: the toolchain writes some on chips its dead copies reach, and
// spinn_dnn.route_pruning leaves entries whose links it removed empty) leaves
// no mark on the run's end time.
#include <stdlib.h>

#include "emu.h"

// Why a router drops a copy (EV_ROUTER_DROP's c).
enum { DROP_LINK_BUSY, DROP_NO_ROUTE, DROP_NO_LINK, DROP_NO_CORE };

static void router_drop(emu_machine_t *m, emu_chip_t *chip, uint key, uint64_t *counter) {
    (*counter)++;
    emu_keystat_t *ks = emu_ks_get(&m->router_drops, key);
    if (ks) {
        ks->dropped++;
    }
    if (!m->drop_seen) {
        m->drop_seen = 1;
        m->drop_core = (uint) -1;  // a router, not a core
        m->drop_key = key;
        m->drop_time = m->now;
    }
    if (m->stop_on_drop) {
        emu_fail(m, "router of chip (%u, %u) dropped key 0x%08x", chip->x, chip->y, key);
    }
}

static const emu_route_t *scan(const emu_chip_t *chip, uint key) {
    for (uint i = 0; i < chip->n_routes; i++) {
        if ((key & chip->table[i].mask) == chip->table[i].key) {
            return &chip->table[i];
        }
    }
    return NULL;
}

// The first entry that matches key, found through the chip's index (route_index.h), built at
// the first lookup (emu_add_route drops it).  Only walking a new tree looks entries up.
const emu_route_t *emu_router_lookup(emu_chip_t *chip, uint key) {
    if (!chip->n_routes) {
        return NULL;
    }
    if (!chip->index) {
        chip->index = emu_route_index_build(&chip->table[0].key, &chip->table[0].mask, chip->n_routes,
                                            sizeof(emu_route_t));
        if (!chip->index) {
            return scan(chip, key);
        }
    }
    int64_t i = emu_route_index_find(chip->index, key);
    return i < 0 ? NULL : &chip->table[i];
}

void emu_router_dropped(emu_machine_t *m, uint chip_index, uint key, uint why, uint copies) {
    emu_chip_t *chip = &m->chips[chip_index];
    uint64_t *counter = why == DROP_LINK_BUSY  ? &chip->c.dropped_link_busy
                        : why == DROP_NO_ROUTE ? &chip->c.dropped_no_route
                        : why == DROP_NO_LINK  ? &chip->c.dropped_no_link
                                               : &chip->c.dropped_no_core;
    for (uint k = 0; k < copies && !m->stopped; k++) {
        router_drop(m, chip, key, counter);
    }
}

// The drop of `copies` copies at `chip_index`'s router, at cycle `at` (now or later in the tree).
static void drop_at(emu_machine_t *m, uint64_t at, uint chip_index, uint key, uint why, uint copies) {
    emu_eq_push(&m->events, at, EV_ROUTER_DROP, chip_index, key, why, copies);
}

#define DROPPED UINT64_MAX

// A copy crossing `link` of chip `chip_index`, reaching its router at `reached`: when it
// reaches the neighbour's router, or DROPPED if the router drops it because the link stays
// busy too long (the router decides when the copy reaches it, as a hop event did).
static uint64_t cross(emu_machine_t *m, uint chip_index, uint link, uint key, uint64_t reached,
                      uint length) {
    emu_chip_t *chip = &m->chips[chip_index];
    uint64_t ready = reached + EMU_ROUTER_CYCLES;
    uint32_t slot;
    uint64_t start = emu_link_first_gap(&chip->link_busy[link], m->now, ready, length, &slot);
    if (start - ready > EMU_ROUTER_DROP_WAIT_CYCLES) {
        drop_at(m, reached, chip_index, key, DROP_LINK_BUSY, 1);
        return DROPPED;
    }
    if (!emu_link_book(&chip->link_busy[link], slot, start, length)) {
        emu_fail(m, "out of host memory for the bookings of a link of chip (%u, %u)", chip->x, chip->y);
        return DROPPED;
    }
    return start + length + EMU_LINK_CYCLES;
}

void emu_router_send(emu_machine_t *m, uint chip_index, uint key, uint data, uint has_payload) {
    uint n;
    const emu_tree_node_t *nodes = emu_route_tree(m, chip_index, key, &n);
    if (!nodes) {
        return;
    }
    if (n > m->arrival_cap) {
        uint64_t *arrival = realloc(m->arrival, n * sizeof(*arrival));
        if (!arrival) {
            emu_fail(m, "out of host memory for the copies of key 0x%08x", key);
            return;
        }
        m->arrival = arrival;
        m->arrival_cap = n;
    }
    uint length = has_payload ? EMU_LINK_PACKET_PL_CYCLES : EMU_LINK_PACKET_CYCLES;
    for (uint i = 0; i < n; i++) {
        const emu_tree_node_t *node = &nodes[i];
        uint64_t at = m->now;  // when the copy reaches this chip's router, or DROPPED on the way
        if (node->parent >= 0) {
            uint64_t before = m->arrival[node->parent];
            at = before == DROPPED ? DROPPED
                                   : cross(m, nodes[node->parent].chip, node->link, key, before, length);
        }
        m->arrival[i] = at;
        if (at == DROPPED) {
            continue;
        }
        emu_chip_t *chip = &m->chips[node->chip];
        if (node->how == EMU_TREE_NO_ROUTE) {
            drop_at(m, at, node->chip, key, DROP_NO_ROUTE, 1);
            continue;
        }
        if (node->how == EMU_TREE_ROUTED) {
            chip->c.routed++;
        } else {
            chip->c.default_routed++;
        }
        if (node->no_link) {
            drop_at(m, at, node->chip, key, DROP_NO_LINK, node->no_link);
        }
        if (node->no_core) {
            drop_at(m, at, node->chip, key, DROP_NO_CORE, node->no_core);
        }
        // the copies for this chip's cores all leave the router together: one
        // event carries the set of cores (a queue operation per packet, not per core)
        if (node->cores) {
            emu_eq_push(&m->events, at + EMU_ROUTER_CYCLES, EV_DELIVER, node->chip, key, data,
                        has_payload | (node->cores << 1));
        }
    }
}
