// Test program: handles every packet at interrupt level (FIQ priority) for 3 us, so a burst from
// test_echo (a packet a microsecond) fills its input queue and the emulator drops; each packet it
// takes it passes on from the handler itself, to its first outgoing key with the key it took as
// payload; with a first PARAMS word N > 0 it exits (code 7) from the handler of its N-th packet.
// Used to check that the emulator taking queued packets ahead of its clock (core.c) leaves every
// drop, cycle and delivery as they were.
#include "test_keys.h"

#define ISR_US_PER_PACKET 3

typedef struct {
    uint received, relayed;
    uint has_out, out_key;
    uint exit_after;
} slow_isr_state_t;

SPINN_STATE_DECLARE(slow_isr_state_t);
#define S SPINN_STATE(slow_isr_state_t)

static void on_packet(uint key, uint payload) {
    (void) payload;
    spin1_delay_us(ISR_US_PER_PACKET);
    S->received++;
    if (S->exit_after && S->received == S->exit_after) {
        spin1_exit(7);
        return;
    }
    if (S->has_out) {
        spin1_send_mc_packet(S->out_key, key, WITH_PAYLOAD);
        S->relayed++;
    }
}

static void slow_isr_main(void) {
    data_specification_metadata_t *ds = data_specification_get_data_address();
    if (!data_specification_read_header(ds)) {
        spin1_exit(1);
        return;
    }
    const uint32_t *keys = data_specification_get_region(REGION_KEYS, ds);
    const key_entry_t *out = (const key_entry_t *) &keys[1];
    S->has_out = keys[0] > 0;
    S->out_key = S->has_out ? out[0].key : 0;
    const uint32_t *params = data_specification_get_region(REGION_PARAMS, ds);
    S->exit_after = params ? params[0] : 0;
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, -1);
    spin1_callback_on(MC_PACKET_RECEIVED, on_packet, -1);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(test_slow_isr, slow_isr_state_t, slow_isr_main);
