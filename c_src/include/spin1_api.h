// The subset of the SpiNNaker spin1 API that spinn_dnn's core programs use.
//
// This is the project's own declaration, written from the facts of
// spinnaker_tools (include/spin1_api.h, spin1_api_params.h, spinnaker.h,
// sark.h): the same names, signatures, event numbers and constants, so a
// program written against it builds unchanged
//   - for the host, linked with the emulator's implementation (c_src/emulator/spin1_host.c);
//   - for ARM968 against this header (the ITCM size check, c_src/Makefile `arm`);
//   - for a real board against spinnaker_tools itself (SPINN_DIRS on the include
//     path before c_src/include, so its spin1_api.h is the one found).
// Only what the programs use is here; add to it from spinnaker_tools, never invent.
#ifndef SPINN_DNN_SPIN1_API_H
#define SPINN_DNN_SPIN1_API_H

#include <stdint.h>

// sark.h basic types
typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;

// sark.h: argument of spin1_start
typedef enum { SYNC_NOWAIT = 0, SYNC_WAIT = 1 } sync_bool;

// spin1_api.h general constants
#define TRUE (0 == 0)
#define FALSE (0 != 0)
#define SUCCESS (uint) 1
#define FAILURE (uint) 0
#ifndef NULL
#define NULL 0
#endif

// spin1_api.h events (spin1_callback_on's event_id)
#define NUM_EVENTS 8
#define MC_PACKET_RECEIVED 0
#define DMA_TRANSFER_DONE 1
#define TIMER_TICK 2
#define SDP_PACKET_RX 3
#define USER_EVENT 4
#define MCPL_PACKET_RECEIVED 5
#define FR_PACKET_RECEIVED 6
#define FRPL_PACKET_RECEIVED 7

// spin1_api.h DMA direction, from the core's point of view
#define DMA_READ 0
#define DMA_WRITE 1

// spin1_api.h payload presence (spin1_send_mc_packet's load)
#define NO_PAYLOAD 0
#define WITH_PAYLOAD 1

// spinnaker.h packet control bits (the TCR of spin1_send_packet)
#define PKT_MC 0x00000000
#define PKT_PL 0x00020000
#define PKT_MC_PL (PKT_MC + PKT_PL)

// spin1_api.h: callbacks take two words.  Priorities (spin1_callback_on):
// -1 runs at FIQ level (MC packets only, one such callback), 0 runs at
// interrupt level and is not queued, 1.. are queued and run in priority order
// (lower first) when no interrupt-level work is pending.
typedef void (*callback_t)(uint, uint);

// simulation control
uint spin1_start(sync_bool sync);
void spin1_exit(uint error);
void spin1_set_timer_tick_and_phase(uint time, uint phase);
static inline void spin1_set_timer_tick(uint time) {
    spin1_set_timer_tick_and_phase(time, 0);
}
uint spin1_get_simulation_time(void);
void spin1_delay_us(uint n);
// stop the timer (ticks stop coming) until spin1_resume
void spin1_pause(void);
void spin1_resume(sync_bool sync);

// callbacks and tasks
__attribute__((nonnull)) void spin1_callback_on(uint event_id, callback_t cback, int priority);
void spin1_callback_off(uint event_id);
__attribute__((nonnull)) uint spin1_schedule_callback(callback_t cback, uint arg0, uint arg1, uint priority);
uint spin1_trigger_user_event(uint arg0, uint arg1);

// data transfer: returns the transfer's id, or FAILURE when the DMA queue is full
__attribute__((nonnull)) uint spin1_dma_transfer(uint tag, void *system_address, void *tcm_address,
                                                 uint direction, uint length);
__attribute__((nonnull)) void spin1_memcpy(void *dst, void const *src, uint len);

// communications: SUCCESS when the packet was queued for sending
uint spin1_send_packet(uint key, uint data, uint TCR);
static inline uint spin1_send_mc_packet(uint key, uint data, uint load) {
    return spin1_send_packet(key, data, load ? PKT_MC_PL : PKT_MC);
}

// interrupt control (spinnaker_tools implements these in ARM assembly; the
// emulator runs one callback at a time per core, so they have nothing to mask there)
uint spin1_irq_disable(void);
uint spin1_int_disable(void);
void spin1_mode_restore(uint cpsr);

// system resources
uint spin1_get_id(void);       // (chip id << 5) | core id
uint spin1_get_core_id(void);  // virtual core number on the chip
uint spin1_get_chip_id(void);  // (x << 8) | y
// DTCM heap allocation; NULL when the core's DTCM cannot hold it.  (spinnaker_tools
// defines it inline as sark_alloc(bytes, 1); the behaviour is the same.)
void *spin1_malloc(uint bytes);

#endif  // SPINN_DNN_SPIN1_API_H
