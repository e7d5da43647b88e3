// Counters per routing key (packets sent, received, dropped), in an
// open-addressing hash table that grows, so a core or router reports exactly
// which keys it saw without knowing the key space in advance.
#ifndef SPINN_EMU_KEYSTATS_H
#define SPINN_EMU_KEYSTATS_H

#include <stdint.h>

typedef struct {
    uint32_t key, used;
    uint64_t sent, received, dropped;
} emu_keystat_t;

typedef struct {
    emu_keystat_t *slots;
    uint32_t cap, n;
} emu_keystats_t;

void emu_ks_init(emu_keystats_t *ks);
void emu_ks_free(emu_keystats_t *ks);
// The counters of `key`, created at zero; NULL only when memory runs out.
emu_keystat_t *emu_ks_get(emu_keystats_t *ks, uint32_t key);

#endif  // SPINN_EMU_KEYSTATS_H
