// Test program: like test_echo, but takes 5 us over every packet it receives
// (a queued callback, priority 1), so a burst from a fast sender overflows its
// input: the emulator must drop and report.
#include "test_keys.h"

#define SINK_US_PER_PACKET 5

typedef struct {
    uint received;
} sink_state_t;

SPINN_STATE_DECLARE(sink_state_t);
#define S SPINN_STATE(sink_state_t)

static void on_packet(uint key, uint payload) {
    (void) key;
    (void) payload;
    spin1_delay_us(SINK_US_PER_PACKET);
    S->received++;
}

static void send_all(uint unused0, uint unused1) {
    (void) unused0;
    (void) unused1;
    send_every_outgoing_key();
}

static void sink_main(void) {
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, 1);
    spin1_callback_on(MC_PACKET_RECEIVED, on_packet, 1);
    spin1_schedule_callback(send_all, 0, 0, 2);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(test_slow_sink, sink_state_t, sink_main);
