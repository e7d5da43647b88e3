// An index over a chip's routing table that finds the first matching entry
// without scanning it.
//
// A table is a few hundred entries but only a handful of distinct masks.
// Entries are grouped by mask, each group a hash table from the entry's key to
// its position.  A lookup probes one group per mask and keeps the lowest
// position that matches: exactly the entry a first-match scan would find.
#ifndef SPINN_EMU_ROUTE_INDEX_H
#define SPINN_EMU_ROUTE_INDEX_H

#include <stdint.h>

typedef struct emu_route_index emu_route_index_t;

// `keys`, `masks`: the table's n entries, stride `stride` bytes apart.  NULL if memory runs out.
emu_route_index_t *emu_route_index_build(const uint32_t *keys, const uint32_t *masks, uint32_t n,
                                         uint32_t stride);
void emu_route_index_free(emu_route_index_t *ix);
// Position of the first entry whose (key & mask) == its key; -1 if none.
int64_t emu_route_index_find(const emu_route_index_t *ix, uint32_t key);

#endif  // SPINN_EMU_ROUTE_INDEX_H
