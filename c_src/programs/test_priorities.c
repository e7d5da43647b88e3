// Test program for the scheduler: queues callbacks at priorities 3, 1, 2, 1
// and triggers a user event (priority 0) from c_main, then logs the order they
// run in; a packet (FIQ, priority -1) is logged too.  Expected: the user event
// first (interrupt level), then the queued ones by priority, FIFO within one.
#include <spin1_api.h>
#include "spinn_program.h"

#define LOG_SIZE 16

typedef struct {
    uint n;
    uint log[LOG_SIZE];  // ids in the order the callbacks ran
} prio_state_t;

SPINN_STATE_DECLARE(prio_state_t);
#define S SPINN_STATE(prio_state_t)

static void note(uint id, uint unused) {
    (void) unused;
    if (S->n < LOG_SIZE) {
        S->log[S->n++] = id;
    }
}

static void on_packet(uint key, uint payload) {
    (void) payload;
    note(1000 + key, 0);
}

static void prio_main(void) {
    spin1_callback_on(USER_EVENT, note, 0);
    spin1_callback_on(MC_PACKET_RECEIVED, on_packet, -1);
    spin1_callback_on(MCPL_PACKET_RECEIVED, on_packet, -1);
    spin1_schedule_callback(note, 3, 0, 3);
    spin1_schedule_callback(note, 1, 0, 1);
    spin1_schedule_callback(note, 2, 0, 2);
    spin1_schedule_callback(note, 11, 0, 1);
    spin1_trigger_user_event(100, 0);
    spin1_start(SYNC_WAIT);
}

SPINN_PROGRAM(test_priorities, prio_state_t, prio_main);
