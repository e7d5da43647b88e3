// What every spinn_dnn tile program reads from its regions (spinn_dnn/regions.py
// layout, through the generated spinn_dnn_regions.h) and the packet pacing all
// senders share.
#ifndef SPINN_TILE_COMMON_H
#define SPINN_TILE_COMMON_H

#include "data_specification.h"
#include <spin1_api.h>
#include "spinn_dnn_regions.h"
#include "spinn_program.h"

// Send pacing: a tile sends one packet every SEND_GAP_US * (tiles of its
// layer) microseconds, offset by its tile index, so that the tiles of a layer
// interleave and a receiver gets at most one packet per SEND_GAP_US from them:
// the time a receiver's packet handler needs (cost_model.h: about 50 cycles) is
// well inside that, so inputs never overflow.  (Pacing is the program's job on
// the board too: the router drops what a core does not take.)
#define SEND_GAP_US 2

typedef struct {
    const params_t *params;
    uint n_out;
    const key_entry_t *out;
    uint n_in;
    const key_entry_t *in;
    void *work;  // the WORK region in SDRAM
} tile_regions_t;

// Fills r from this core's data-specification regions; FALSE if the image is not a spinn_dnn one.
static inline uint tile_read_regions(tile_regions_t *r) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    if (!data_specification_read_header(ds)) {
        return FALSE;
    }
    r->params = data_specification_get_region(REGION_PARAMS, ds);
    if (r->params->magic != SPINN_DNN_MAGIC) {
        return FALSE;
    }
    const uint32_t *keys = data_specification_get_region(REGION_KEYS, ds);
    r->n_out = keys[0];
    r->out = (const key_entry_t *) &keys[1];
    r->n_in = keys[1 + r->n_out * (sizeof(key_entry_t) / 4)];
    r->in = (const key_entry_t *) &keys[2 + r->n_out * (sizeof(key_entry_t) / 4)];
    r->work = data_specification_get_region(REGION_WORK, ds);
    return TRUE;
}

// The outgoing entry of a partition, or NULL.
static inline const key_entry_t *tile_out_entry(const tile_regions_t *r, uint partition) {
    for (uint i = 0; i < r->n_out; i++) {
        if (r->out[i].partition == partition) {
            return &r->out[i];
        }
    }
    return NULL;
}

// How many outgoing entries of a partition follow *first (the host writes a
// partition's entries together, in atom order: errors have one per receiving tile).
static inline uint tile_out_count(const tile_regions_t *r, const key_entry_t *first) {
    uint n = 0;
    while (first && first + n < r->out + r->n_out && first[n].partition == first->partition) {
        n++;
    }
    return n;
}

static inline uint float_bits(float f) {
    union { float f; uint u; } v = {.f = f};
    return v.u;
}

static inline float bits_float(uint u) {
    union { uint u; float f; } v = {.u = u};
    return v.f;
}

// Minibatches by sample number (samples count from the start of the run, across
// epochs): with n samples per epoch (0: unknown, every batch is full) and batch
// size b > 0, which batch a sample is in, that batch's size (an epoch's last
// batch may be short, as in Keras), and whether the sample ends its batch.
// The input tile and every dense tile must agree on these, so they live here.
static inline uint tile_batch_of(uint n, uint b, uint sample) {
    return n ? (sample / n) * ((n + b - 1) / b) + (sample % n) / b : sample / b;
}

// The first sample of batch k (tile_batch_of's inverse: batch_of(s) >= k exactly when s >= it).
static inline uint tile_batch_start(uint n, uint b, uint k) {
    if (!n) {
        return k * b;
    }
    uint per_epoch = (n + b - 1) / b;
    return (k / per_epoch) * n + (k % per_epoch) * b;
}

static inline uint tile_batch_size_of(uint n, uint b, uint sample) {
    if (!n) {
        return b;
    }
    uint start = ((sample % n) / b) * b;
    return n - start < b ? n - start : b;
}

static inline uint tile_ends_batch(uint n, uint b, uint sample) {
    uint i = n ? sample % n : sample;
    return (i + 1) % b == 0 || (n && i + 1 == n);
}

// Sends a tile's activations (values[atom - first_atom]) on its n_entries forward entries:
// one partition, or one per run of atoms with the same readers (spinn_dnn.tiling.fwd_runs).
// Paced (see SEND_GAP_US) as for a partition that every tile of the layer sends to every
// receiver: tile i starts i gaps in, and leaves n_tiles gaps between its packets.
static inline void tile_send_fwd(const key_entry_t *entries, uint n_entries, const float *values,
                                 uint first_atom, uint tile_index, uint n_tiles) {
    spin1_delay_us(SEND_GAP_US * tile_index);
    uint sent = 0;
    for (uint j = 0; j < n_entries; j++) {
        const key_entry_t *e = &entries[j];
        for (uint i = 0; i < e->count; i++) {
            if (sent++) {
                spin1_delay_us(SEND_GAP_US * n_tiles);
            }
            spin1_send_mc_packet(e->key + i, float_bits(values[e->offset - first_atom + i]), WITH_PAYLOAD);
        }
    }
}

// Sends errors, one entry per receiving tile, values indexed by atom - first_atom.  The pacing
// assumes every receiving tile takes errors from every tile of the sending layer (n_tiles);
// conv and pool receivers hear from only the tiles overlapping them, so it is safe there;
// k = ceil(n_tiles / n_entries) senders share each receiver.  Tile i starts at
// entry i * n_entries / n_tiles and goes round, one packet every k * SEND_GAP_US,
// offset by (i % k) * SEND_GAP_US: the tiles sharing a start interleave, so a
// receiver gets about one packet per SEND_GAP_US whatever the two counts (one
// entry, k = n_tiles: tile_send_fwd's pacing).  `unpaced` sends back to back,
// as the thesis prototype did: kept to reproduce its drops.
// k is also at least ceil(n_tiles / ERROR_LINK_SHARE): at most ERROR_LINK_SHARE tiles of a
// layer send at once, whatever their receivers, because their packets may share a
// chip-to-chip link, which carries about 7 payload packets per SEND_GAP_US
// (cost_model.h, ASSUMED): LeNet-5's 15 C5 tiles sending to 25 S4 tiles all at once
// overran one, and 8 at once still did.
#define ERROR_LINK_SHARE 4

static inline uint tile_error_interleave(uint n_entries, uint n_tiles) {
    uint k = n_tiles > n_entries ? (n_tiles + n_entries - 1) / n_entries : 1;
    uint link = (n_tiles + ERROR_LINK_SHARE - 1) / ERROR_LINK_SHARE;
    return k > link ? k : link;
}

// `covered` (a bit per value from first_atom; NULL: all) leaves out the values no receptive field
// of the tile reads: their error is zero, and the receivers count only the others (per_sample).
static inline void tile_send_errors(const key_entry_t *entries, uint n_entries, const float *values,
                                    const uint32_t *covered, uint first_atom, uint tile_index,
                                    uint n_tiles, uint unpaced) {
    if (!n_entries) {
        return;
    }
    uint k = tile_error_interleave(n_entries, n_tiles);
    uint start = n_tiles ? (tile_index * n_entries) / n_tiles : 0;
    if (!unpaced) {
        spin1_delay_us(SEND_GAP_US * (tile_index % k));
    }
    uint sent = 0;
    for (uint j = 0; j < n_entries; j++) {
        const key_entry_t *e = &entries[(start + j) % n_entries];
        for (uint i = 0; i < e->count; i++) {
            uint at = e->offset - first_atom + i;
            if (covered && !(covered[at >> 5] & (1u << (at & 31)))) {
                continue;
            }
            if (sent++ && !unpaced) {
                spin1_delay_us(SEND_GAP_US * k);
            }
            spin1_send_mc_packet(e->key + i, float_bits(values[at]), WITH_PAYLOAD);
        }
        if (covered) {
            SPINN_ACCOUNT(SPINN_OP_WORD, 3 * e->count);
        }
    }
}

#endif  // SPINN_TILE_COMMON_H
