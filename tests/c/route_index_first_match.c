// The routing-table index (c_src/emulator/route_index.c) against a first-match
// scan: random tables with few masks, overlapping entries, repeated keys and
// entries that match nothing, probed with keys near the entries and at random.
// Prints "ok <lookups>" or the first mismatch.  Built and run by tests/test_emulator_fast_paths.py.
#include <stdio.h>
#include <stdlib.h>

#include "route_index.h"

typedef struct {
    uint32_t key, mask, route;
} entry_t;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {  // xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) (rng_state >> 16);
}

static int64_t scan(const entry_t *t, uint32_t n, uint32_t key) {
    for (uint32_t i = 0; i < n; i++) {
        if ((key & t[i].mask) == t[i].key) {
            return i;
        }
    }
    return -1;
}

int main(void) {
    static entry_t table[800];
    uint64_t lookups = 0, hits = 0;
    for (int trial = 0; trial < 300; trial++) {
        uint32_t n = rnd() % 800;
        uint32_t masks[12];
        uint32_t n_masks = 1 + rnd() % 12;
        for (uint32_t m = 0; m < n_masks; m++) {
            masks[m] = 0xFFFFFFFFu << (rnd() % 12);  // blocks of 1 to 2048 keys
        }
        masks[0] = 0xFFFFFFFFu << 11;  // wide blocks that shadow narrower ones
        for (uint32_t i = 0; i < n; i++) {
            uint32_t mask = masks[rnd() % n_masks];
            uint32_t key = (rnd() % 64) << 12 | (rnd() & 0xFFF);  // a small space: overlaps
            if (rnd() % 10) {
                key &= mask;
            }  // else: bits outside the mask, an entry nothing matches
            if (i && rnd() % 20 == 0) {
                key = table[rnd() % i].key;  // the same key again, perhaps with another mask
            }
            table[i] = (entry_t) {key, mask, i};
        }
        emu_route_index_t *ix = emu_route_index_build(&table[0].key, &table[0].mask, n, sizeof(entry_t));
        if (!ix) {
            puts("build failed");
            return 1;
        }
        for (int probe = 0; probe < 2000; probe++) {
            uint32_t key = n && probe % 2 ? table[rnd() % n].key + rnd() % 4096 : (rnd() % 64) << 12 | (rnd() & 0xFFF);
            int64_t want = scan(table, n, key), got = emu_route_index_find(ix, key);
            lookups++;
            hits += want >= 0;
            if (got != want) {
                printf("trial %d: key 0x%08x: index %lld, scan %lld\n", trial, key, (long long) got,
                       (long long) want);
                return 1;
            }
        }
        emu_route_index_free(ix);
    }
    if (hits < lookups / 10) {
        printf("too few matches to test (%llu of %llu)\n", (unsigned long long) hits,
               (unsigned long long) lookups);
        return 1;
    }
    printf("ok %llu\n", (unsigned long long) lookups);
    return 0;
}
