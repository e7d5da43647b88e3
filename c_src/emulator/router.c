// The multicast router of one chip, driven by the toolchain's routing table.
//
// As on SpiNNaker: the first entry whose (key & mask) == entry key decides;
// its route word names links (bits 0-5: E, NE, N, W, SW, S) and cores (bit
// 6 + virtual core number).  A packet no entry matches continues straight
// through on the link it travelled along (default routing) if it came from a
// neighbour, and is dropped if a core on this chip sent it.  Each copy sent on
// a link waits for the link to be free (one packet at a time, its length in
// bits decides how long), then reaches the neighbour's router after the
// link's latency; a packet that would wait longer than the router's drop time
// is dropped (back-pressure: the thesis's failure mode).  Each copy for a core
// reaches the core's input after the router's latency; the core's input queue
// decides whether it is taken.  Drops are counted per chip and per key.
#include <stdlib.h>

#include "emu.h"

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

// The first entry that matches key.  A LeNet-5 chip's table is hundreds of entries long, so a
// chip remembers the entry of each key it has seen (a direct-mapped memo: the same keys cross
// it every sample) and finds the others through its index (route_index.h).  Both are built
// at the first lookup; emu_add_route drops them.
static const emu_route_t *lookup(emu_chip_t *chip, uint key) {
    if (!chip->n_routes) {
        return NULL;
    }
    if (!chip->index) {
        chip->index = emu_route_index_build(&chip->table[0].key, &chip->table[0].mask, chip->n_routes,
                                            sizeof(emu_route_t));
        free(chip->memo);
        chip->memo = calloc(EMU_ROUTE_MEMO, sizeof(*chip->memo));
        if (!chip->index || !chip->memo) {
            return scan(chip, key);
        }
    }
    emu_route_memo_t *slot = &chip->memo[(key * 2654435761u) >> (32 - EMU_ROUTE_MEMO_BITS)];
    if (slot->entry && slot->key == key) {
        return &chip->table[slot->entry - 1];
    }
    int64_t i = emu_route_index_find(chip->index, key);
    if (i < 0) {
        return NULL;  // a drop or default routing: rare, not remembered
    }
    *slot = (emu_route_memo_t) {key, (uint) i + 1};
    return &chip->table[i];
}

void emu_router_receive(emu_machine_t *m, uint chip_index, uint key, uint data, uint has_payload,
                        int came_along) {
    emu_chip_t *chip = &m->chips[chip_index];
    const emu_route_t *entry = lookup(chip, key);
    uint route;
    if (entry) {
        route = entry->route;
        chip->c.routed++;
    } else if (came_along >= 0) {
        route = 1u << came_along;  // default routing: straight through
        chip->c.default_routed++;
    } else {
        router_drop(m, chip, key, &chip->c.dropped_no_route);
        return;
    }
    for (uint links = route & ((1u << EMU_LINKS) - 1); links; links &= links - 1) {  // lowest first
        uint link = (uint) __builtin_ctz(links);
        int next = chip->neighbour[link];
        if (next < 0) {
            router_drop(m, chip, key, &chip->c.dropped_no_link);
            continue;
        }
        uint64_t ready = m->now + EMU_ROUTER_CYCLES;
        uint64_t start = chip->link_free[link] > ready ? chip->link_free[link] : ready;
        if (start - ready > EMU_ROUTER_DROP_WAIT_CYCLES) {
            router_drop(m, chip, key, &chip->c.dropped_link_busy);
            continue;
        }
        chip->link_free[link] = start + (has_payload ? EMU_LINK_PACKET_PL_CYCLES : EMU_LINK_PACKET_CYCLES);
        emu_eq_push(&m->events, chip->link_free[link] + EMU_LINK_CYCLES, EV_ROUTER, (uint) next, key, data,
                    has_payload | ((link + 1) << 8));
    }
    // the copies for this chip's cores all leave the router together: one
    // event carries the set of cores (a queue operation per packet, not per core)
    uint wanted = (route >> EMU_LINKS) & ((1u << EMU_CORES_PER_CHIP) - 1);
    uint missing = wanted & ~chip->cores_present;
    for (; missing; missing &= missing - 1) {
        router_drop(m, chip, key, &chip->c.dropped_no_core);
    }
    uint cores = wanted & chip->cores_present;
    if (cores) {
        emu_eq_push(&m->events, m->now + EMU_ROUTER_CYCLES, EV_DELIVER, chip_index, key, data,
                    has_payload | (cores << 1));
    }
}
