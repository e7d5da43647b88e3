// Walking and keeping the multicast tree of each (chip, key) a core sends
// (route_tree.h says why).
#include <stdlib.h>
#include <string.h>

#include "emu.h"

void emu_tree_cache_free(emu_tree_cache_t *c) {
    free(c->slots);
    free(c->nodes);
    memset(c, 0, sizeof(*c));
}

// Forgets every tree: the tables, links or cores changed.
void emu_tree_cache_clear(emu_tree_cache_t *c) {
    if (c->slots) {
        memset(c->slots, 0, ((size_t) 1 << c->bits) * sizeof(*c->slots));
    }
    c->n = 0;
    c->n_nodes = 0;
}

// A core sends runs of consecutive keys (one per atom of a partition), so keys that differ
// only in their low 6 bits go to neighbouring slots: a run's lookups share cache lines,
// where a hash of the whole key sent each packet's lookup to a cache miss (91% of the
// lookup's time under perf).  The chip and the rest of the key are hashed.
static uint32_t slot_of(uint64_t id, uint32_t bits) {
    uint64_t block = (id - 1) >> 6;  // the chip and the key's high 26 bits
    uint32_t base = (uint32_t) ((block * 0x9E3779B97F4A7C15ull) >> (64 - bits));
    return (base + (uint32_t) ((id - 1) & 63u)) & ((1u << bits) - 1);
}

static int grow_slots(emu_tree_cache_t *c) {
    uint32_t bits = c->bits ? c->bits + 1 : 12;
    size_t n_slots = (size_t) 1 << bits;
    emu_tree_slot_t *slots = calloc(n_slots, sizeof(*slots));
    if (!slots) {
        return 0;
    }
    for (size_t s = 0; c->slots && s < ((size_t) 1 << c->bits); s++) {
        if (c->slots[s].id) {
            uint32_t t = slot_of(c->slots[s].id, bits);
            while (slots[t].id) {
                t = (t + 1) & (uint32_t) (n_slots - 1);
            }
            slots[t] = c->slots[s];
        }
    }
    free(c->slots);
    c->slots = slots;
    c->bits = bits;
    return 1;
}

static emu_tree_node_t *new_node(emu_tree_cache_t *c) {
    if (c->n_nodes == c->cap_nodes) {
        uint32_t cap = c->cap_nodes ? c->cap_nodes * 2 : 4096;
        emu_tree_node_t *nodes = realloc(c->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            return NULL;
        }
        c->nodes = nodes;
        c->cap_nodes = cap;
    }
    emu_tree_node_t *node = &c->nodes[c->n_nodes++];
    memset(node, 0, sizeof(*node));
    return node;
}

// Appends the tree of `key` from `chip_index` to the cache's nodes, breadth first: each
// router's links lowest first, as the router sends its copies.  Returns its node count, 0 on failure.
static uint32_t walk(emu_machine_t *m, emu_tree_cache_t *c, uint chip_index, uint key) {
    uint32_t first = c->n_nodes;
    emu_tree_node_t *root = new_node(c);
    if (!root) {
        return 0;
    }
    root->chip = chip_index;
    root->parent = -1;
    for (uint32_t i = first; i < c->n_nodes; i++) {
        if (c->n_nodes - first > EMU_TREE_MAX_NODES) {
            emu_fail(m, "key 0x%08x sent from chip (%u, %u) passes more than %u routers: its routes loop",
                     key, m->chips[chip_index].x, m->chips[chip_index].y, EMU_TREE_MAX_NODES);
            c->n_nodes = first;
            return 0;
        }
        emu_chip_t *chip = &m->chips[c->nodes[i].chip];
        const emu_route_t *entry = emu_router_lookup(chip, key);
        uint route;
        if (entry) {
            route = entry->route;
            c->nodes[i].how = EMU_TREE_ROUTED;
        } else if (i > first) {
            route = 1u << c->nodes[i].link;  // default routing: on along the same direction
            c->nodes[i].how = EMU_TREE_DEFAULT;
        } else {
            c->nodes[i].how = EMU_TREE_NO_ROUTE;
            continue;
        }
        uint wanted = (route >> EMU_LINKS) & ((1u << EMU_CORES_PER_CHIP) - 1);
        c->nodes[i].cores = wanted & chip->cores_present;
        c->nodes[i].no_core = (uint8_t) __builtin_popcount(wanted & ~chip->cores_present);
        for (uint links = route & ((1u << EMU_LINKS) - 1); links; links &= links - 1) {
            uint link = (uint) __builtin_ctz(links);
            int next = chip->neighbour[link];
            if (next < 0) {
                c->nodes[i].no_link++;
                continue;
            }
            emu_tree_node_t *child = new_node(c);  // may move c->nodes
            if (!child) {
                c->n_nodes = first;
                return 0;
            }
            child->chip = (uint32_t) next;
            child->parent = (int32_t) (i - first);  // within the tree
            child->link = (uint8_t) link;
        }
    }
    return c->n_nodes - first;
}

const emu_tree_node_t *emu_route_tree(emu_machine_t *m, uint chip_index, uint key, uint *n_nodes) {
    emu_tree_cache_t *c = &m->trees;
    uint64_t id = (((uint64_t) chip_index << 32) | key) + 1;
    if (c->slots) {
        uint32_t mask = (1u << c->bits) - 1;
        for (uint32_t s = slot_of(id, c->bits); c->slots[s].id; s = (s + 1) & mask) {
            if (c->slots[s].id == id) {
                *n_nodes = c->slots[s].count;
                return &c->nodes[c->slots[s].first];
            }
        }
    }
    if ((!c->slots || 2 * (c->n + 1) > (1u << c->bits)) && !grow_slots(c)) {
        emu_fail(m, "out of host memory for the routes of key 0x%08x", key);
        return NULL;
    }
    uint32_t first = c->n_nodes;
    uint32_t count = walk(m, c, chip_index, key);
    if (!count) {
        if (!m->stopped) {
            emu_fail(m, "out of host memory for the routes of key 0x%08x", key);
        }
        return NULL;
    }
    uint32_t mask = (1u << c->bits) - 1;
    uint32_t s = slot_of(id, c->bits);
    while (c->slots[s].id) {
        s = (s + 1) & mask;
    }
    c->slots[s] = (emu_tree_slot_t) {id, first, count};
    c->n++;
    *n_nodes = count;
    return &c->nodes[first];
}
