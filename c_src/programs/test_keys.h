// Shared by the test programs: send one packet for every key of every
// outgoing key entry in this core's KEYS region (spinn_dnn/regions.py layout),
// paced as the tile programs pace (1 us times the tiles of the layer, offset by
// the tile index, from the PARAMS region when there is one), so that links and
// inputs are not flooded: what is tested is where packets go.
#ifndef SPINN_TEST_KEYS_H
#define SPINN_TEST_KEYS_H

#include "data_specification.h"
#include <spin1_api.h>
#include "spinn_dnn_regions.h"
#include "spinn_program.h"

// Returns the number of packets sent.
static inline uint send_every_outgoing_key(void) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    const uint32_t *keys = data_specification_get_region(REGION_KEYS, ds);
    uint n_out = keys[0];
    const key_entry_t *out = (const key_entry_t *) &keys[1];
    const params_t *params = data_specification_get_region(REGION_PARAMS, ds);
    uint tile = params ? params->tile_index : 0;
    uint gap = params && params->n_tiles ? params->n_tiles : 1;
    uint sent = 0;
    spin1_delay_us(tile);
    for (uint e = 0; e < n_out; e++) {
        for (uint i = 0; i < out[e].count; i++) {
            spin1_send_mc_packet(out[e].key + i, out[e].partition, WITH_PAYLOAD);
            spin1_delay_us(gap);
            sent++;
        }
        SPINN_ACCOUNT(SPINN_OP_WORD, 4 * out[e].count);
    }
    return sent;
}

#endif  // SPINN_TEST_KEYS_H
