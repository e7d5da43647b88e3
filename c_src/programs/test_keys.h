// Shared by the test programs: send one packet for every key of every
// outgoing key entry in this core's KEYS region (spinn_dnn/regions.py layout).
#ifndef SPINN_TEST_KEYS_H
#define SPINN_TEST_KEYS_H

#include "data_specification.h"
#include "spin1_api.h"
#include "spinn_dnn_regions.h"
#include "spinn_program.h"

// Returns the number of packets sent.
static inline uint send_every_outgoing_key(void) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    const uint32_t *keys = data_specification_get_region(REGION_KEYS, ds);
    uint n_out = keys[0];
    const key_entry_t *out = (const key_entry_t *) &keys[1];
    uint sent = 0;
    for (uint e = 0; e < n_out; e++) {
        for (uint i = 0; i < out[e].count; i++) {
            spin1_send_mc_packet(out[e].key + i, out[e].partition, WITH_PAYLOAD);
            sent++;
        }
        SPINN_ACCOUNT(SPINN_OP_WORD, 4 * out[e].count);
    }
    return sent;
}

#endif  // SPINN_TEST_KEYS_H
