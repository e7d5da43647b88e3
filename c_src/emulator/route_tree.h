// The multicast tree of a key sent from a chip: every chip its copies pass,
// in the order a breadth-first walk of the routing tables meets them.
//
// The tables do not change while a machine runs, so which chips, links and
// cores a packet reaches depends only on its key and the chip it starts from.
// A machine keeps each tree it has walked (a hash table from (chip, key) to
// its nodes) and the router only times the copies along it (router.c), instead
// of finding a table entry and queueing an event at every chip.
#ifndef SPINN_EMU_ROUTE_TREE_H
#define SPINN_EMU_ROUTE_TREE_H

#include <stdint.h>

typedef struct {
    uint32_t chip;        // chip index
    int32_t parent;       // node whose router sends the copy here; -1: the chip of the sending core
    uint8_t link;         // the link the parent sends it on
    uint8_t how;          // EMU_TREE_ROUTED, EMU_TREE_DEFAULT or EMU_TREE_NO_ROUTE
    uint8_t no_link;      // links in the route that lead to no chip (copies dropped there)
    uint8_t no_core;      // cores in the route that the chip does not have (copies dropped)
    uint32_t cores;       // the chip's virtual cores that get a copy
} emu_tree_node_t;

enum {
    EMU_TREE_ROUTED,    // a table entry matched
    EMU_TREE_DEFAULT,   // no entry matched: straight on along the link it came on
    EMU_TREE_NO_ROUTE,  // no entry matched at the sending core's chip: the packet is dropped
};

// Too many nodes for one packet means the tables send it round a loop.
#define EMU_TREE_MAX_NODES 65536u

// One slot of the cache's hash table: a lookup per packet sent touches one cache line.
typedef struct {
    uint64_t id;     // ((chip << 32) | key) + 1, 0 when free
    uint32_t first;  // the tree's first node in `nodes`
    uint32_t count;  // its number of nodes
} emu_tree_slot_t;

typedef struct {
    emu_tree_slot_t *slots;
    uint32_t bits, n;   // log2 of the slots; trees held
    emu_tree_node_t *nodes;
    uint32_t n_nodes, cap_nodes;
} emu_tree_cache_t;

void emu_tree_cache_clear(emu_tree_cache_t *c);
void emu_tree_cache_free(emu_tree_cache_t *c);

#endif  // SPINN_EMU_ROUTE_TREE_H
