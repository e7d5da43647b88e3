// Routing-table index: one open-addressing hash table per distinct mask
// (route_index.h says why).
#include "route_index.h"

#include <stdlib.h>

#define EMPTY UINT32_MAX

typedef struct {
    uint32_t mask;
    uint32_t first;  // lowest position in the group: a lookup that already has a lower one stops
    uint32_t bits;   // log2 of the slots
    uint32_t *key;   // entry key per slot
    uint32_t *pos;   // entry position per slot, EMPTY if the slot is free
} group_t;

struct emu_route_index {
    uint32_t n_groups;
    group_t *groups;  // by `first`, ascending
};

static uint32_t slot_of(uint32_t key, uint32_t bits) {
    return (uint32_t) ((key * 2654435761u) >> (32 - bits));
}

void emu_route_index_free(emu_route_index_t *ix) {
    if (!ix) {
        return;
    }
    for (uint32_t g = 0; g < ix->n_groups; g++) {
        free(ix->groups[g].key);
        free(ix->groups[g].pos);
    }
    free(ix->groups);
    free(ix);
}

static uint32_t at(const uint32_t *words, uint32_t i, uint32_t stride) {
    return *(const uint32_t *) ((const char *) words + (size_t) i * stride);
}

emu_route_index_t *emu_route_index_build(const uint32_t *keys, const uint32_t *masks, uint32_t n,
                                         uint32_t stride) {
    emu_route_index_t *ix = calloc(1, sizeof(*ix));
    if (!ix) {
        return NULL;
    }
    ix->groups = calloc(n ? n : 1, sizeof(*ix->groups));
    uint32_t *count = calloc(n ? n : 1, sizeof(*count));
    if (!ix->groups || !count) {
        free(count);
        emu_route_index_free(ix);
        return NULL;
    }
    // groups in order of their first entry, so `first` ascends
    for (uint32_t i = 0; i < n; i++) {
        uint32_t mask = at(masks, i, stride);
        uint32_t g = 0;
        while (g < ix->n_groups && ix->groups[g].mask != mask) {
            g++;
        }
        if (g == ix->n_groups) {
            ix->groups[ix->n_groups++] = (group_t) {mask, i, 0, NULL, NULL};
        }
        count[g]++;
    }
    for (uint32_t g = 0; g < ix->n_groups; g++) {
        group_t *gr = &ix->groups[g];
        gr->bits = 1;
        while ((1u << gr->bits) < 2 * count[g]) {
            gr->bits++;
        }
        gr->key = malloc(sizeof(uint32_t) << gr->bits);
        gr->pos = malloc(sizeof(uint32_t) << gr->bits);
        if (!gr->key || !gr->pos) {
            free(count);
            emu_route_index_free(ix);
            return NULL;
        }
        for (uint32_t s = 0; s < (1u << gr->bits); s++) {
            gr->pos[s] = EMPTY;
        }
    }
    free(count);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t key = at(keys, i, stride), mask = at(masks, i, stride);
        if (key & ~mask) {
            continue;  // no key can match it
        }
        group_t *gr = ix->groups;
        while (gr->mask != mask) {
            gr++;
        }
        uint32_t s = slot_of(key, gr->bits);
        while (gr->pos[s] != EMPTY && gr->key[s] != key) {
            s = (s + 1) & ((1u << gr->bits) - 1);
        }
        if (gr->pos[s] == EMPTY) {  // an earlier entry with the same key and mask wins
            gr->key[s] = key;
            gr->pos[s] = i;
        }
    }
    return ix;
}

int64_t emu_route_index_find(const emu_route_index_t *ix, uint32_t key) {
    uint32_t best = EMPTY;
    for (uint32_t g = 0; g < ix->n_groups; g++) {
        const group_t *gr = &ix->groups[g];
        if (gr->first >= best) {
            break;  // every later group's entries come after the match already found
        }
        uint32_t k = key & gr->mask;
        uint32_t s = slot_of(k, gr->bits);
        while (gr->pos[s] != EMPTY) {
            if (gr->key[s] == k) {
                if (gr->pos[s] < best) {
                    best = gr->pos[s];
                }
                break;
            }
            s = (s + 1) & ((1u << gr->bits) - 1);
        }
    }
    return best == EMPTY ? -1 : (int64_t) best;
}
