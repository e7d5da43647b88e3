// Test program: on start, sends one packet (payload: its partition) for every
// key of its outgoing partitions; counts what it receives.  Used to check the
// emulator delivers exactly along the toolchain's routing tables.
#include "test_keys.h"

typedef struct {
    uint sent, received, last_key;
} echo_state_t;

SPINN_STATE_DECLARE(echo_state_t);
#define S SPINN_STATE(echo_state_t)

static void on_packet(uint key, uint payload) {
    (void) payload;
    S->received++;
    S->last_key = key;
}

static void send_all(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    S->sent = send_every_outgoing_key();
}

static void echo_main(void) {
    if (!data_specification_read_header(data_specification_get_data_address())) {
        spin1_exit(1);
        return;
    }
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, -1);
    spin1_callback_on(MC_PACKET_RECEIVED, on_packet, -1);
    spin1_schedule_callback(send_all, 0, 0, 1);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(test_echo, echo_state_t, echo_main);
