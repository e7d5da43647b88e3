#include "keystats.h"

#include <stdlib.h>

void emu_ks_init(emu_keystats_t *ks) {
    ks->slots = NULL;
    ks->cap = ks->n = 0;
}

void emu_ks_free(emu_keystats_t *ks) {
    free(ks->slots);
    emu_ks_init(ks);
}

// Knuth's multiplicative hash, taking the product's top bits (cap is a power of two):
// the low bits would send keys that differ only above them (partition bases) to one slot.
static uint32_t slot_of(uint32_t key, uint32_t cap) {
    return (uint32_t) ((key * 2654435761u) >> (32 - __builtin_ctz(cap)));
}

static int grow(emu_keystats_t *ks) {
    uint32_t cap = ks->cap ? ks->cap * 2 : 64;
    emu_keystat_t *slots = calloc(cap, sizeof(*slots));
    if (!slots) {
        return 0;
    }
    for (uint32_t i = 0; i < ks->cap; i++) {
        if (ks->slots[i].used) {
            uint32_t j = slot_of(ks->slots[i].key, cap);
            while (slots[j].used) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = ks->slots[i];
        }
    }
    free(ks->slots);
    ks->slots = slots;
    ks->cap = cap;
    return 1;
}

emu_keystat_t *emu_ks_get(emu_keystats_t *ks, uint32_t key) {
    if ((ks->n + 1) * 2 > ks->cap && !grow(ks)) {  // keep the load under one half
        return NULL;
    }
    uint32_t i = slot_of(key, ks->cap);
    while (ks->slots[i].used && ks->slots[i].key != key) {
        i = (i + 1) & (ks->cap - 1);
    }
    if (!ks->slots[i].used) {
        ks->slots[i].used = 1;
        ks->slots[i].key = key;
        ks->n++;
    }
    return &ks->slots[i];
}
