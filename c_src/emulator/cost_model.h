// Every constant of the emulator's timing model, with where it comes from.
//
// Time is counted in cycles of the ARM968 core clock.  "spinnaker_tools" means
// SpiNNakerManchester/spinnaker_tools include/spin1_api_params.h; "version_spin1"
// means spinn_machine/version/version_spin1.py (the toolchain's machine model).
// A constant marked ASSUMED is a model parameter nobody measured for this
// project yet: it is to be calibrated by running the ARM build of the same C
// on a board (DESIGN.md, step 5); results that depend on it are "modeled".
#ifndef SPINN_EMU_COST_MODEL_H
#define SPINN_EMU_COST_MODEL_H

// --- clocks and sizes -------------------------------------------------------
#define EMU_CLOCK_HZ 200000000u          // ARM968 at 200 MHz (version_spin1; REFERENCES.md)
#define EMU_CYCLES_PER_US (EMU_CLOCK_HZ / 1000000u)
#define EMU_DTCM_BYTES 65536u            // DTCM per core (spinnaker_tools spinnaker.h)
#define EMU_ITCM_BYTES 32768u            // ITCM per core (spinnaker.h); checked by the ARM build
#define EMU_SDRAM_BYTES 123469792u       // usable SDRAM per chip (version_spin1)
#define EMU_STACK_BYTES 4096u            // RTS_STACKS, reserved in DTCM (spinnaker_tools)
#define EMU_CORES_PER_CHIP 18u           // ARM968 cores per chip (version_spin1)
#define EMU_LINKS 6u                     // route word bits 0-5: E, NE, N, W, SW, S (spinnaker_tools)

// --- spin1 API queues (spinnaker_tools spin1_api_params.h) ------------------
#define EMU_TASK_QUEUE_SIZE 16u          // TASK_QUEUE_SIZE, one queue per priority 1..N_TASK_QUEUES
#define EMU_N_TASK_QUEUES 4u             // N_TASK_QUEUES
#define EMU_DMA_QUEUE_SIZE 16u           // DMA_QUEUE_SIZE
#define EMU_USER_EVENT_QUEUE_SIZE 4u     // USER_EVENT_QUEUE_SIZE

// --- packet input of a core -------------------------------------------------
// ASSUMED: packets that may wait for a core before the router drops the next
// one.  The hardware holds one packet in the communications controller and the
// router waits a programmable time before dropping (or emergency routing);
// 16 stands for that slack.  Settable per machine (Machine(rx_queue=...)).
#define EMU_RX_QUEUE_DEFAULT 16u
// Interrupt-level events (timer ticks, DMA completions, user events) that may
// be pending on a core; more is a program error (the hardware would lose them).
#define EMU_IRQ_QUEUE_SIZE 64u

// --- router and links (ASSUMED, to calibrate) --------------------------------
#define EMU_ROUTER_CYCLES 40u            // router pipeline, packet in to packet out (~0.2 us)
#define EMU_LINK_CYCLES 60u              // chip-to-chip link propagation, per hop (~0.3 us)
// A link sends one packet at a time: 40 bits (72 with a payload) at ~250 Mbit/s.
#define EMU_LINK_PACKET_CYCLES 32u       // 40-bit packet on a link (0.16 us)
#define EMU_LINK_PACKET_PL_CYCLES 58u    // 72-bit packet (0.29 us)
// A packet whose link stays busy longer than this is dropped by the router
// (the hardware waits, tries emergency routing, then drops; emergency routing
// is not modelled).
#define EMU_ROUTER_DROP_WAIT_CYCLES 1024u

// --- core-side costs (ASSUMED, to calibrate with the ARM build) --------------
#define EMU_ISR_CYCLES 30u               // entering and leaving a packet or timer interrupt
#define EMU_TASK_DISPATCH_CYCLES 60u     // the scheduler dequeuing and calling a queued callback
#define EMU_SEND_CYCLES 10u              // spin1_send_mc_packet writing the comms controller
#define EMU_API_CALL_CYCLES 10u          // any other API call's own bookkeeping
#define EMU_MEMCPY_BYTES_PER_CYCLE 4u    // spin1_memcpy, word copies
#define EMU_DMA_SETUP_CYCLES 100u        // DMA request to first word
#define EMU_DMA_BYTES_PER_CYCLE 4u       // DMA streaming rate, SDRAM <-> DTCM

// Software float on the ARM968 (no FPU): ASSUMED from typical soft-float
// library timings, per operation, including load/store of the operands.
#define EMU_COST_FMAC 90u
#define EMU_COST_FADD 45u
#define EMU_COST_FMUL 45u
#define EMU_COST_FDIV 120u
#define EMU_COST_FEXP 1200u
#define EMU_COST_WORD 1u
// ASSUMED: an unsigned division (or remainder) by a value known only at run time.
// The ARM968 has no divide instruction; GCC calls libgcc's __aeabi_uidivmod, which
// on ARMv5 normalises with CLZ and then takes about 3 cycles a quotient bit: with
// the call, some 20 cycles for small quotients and 70 for 20-bit ones.
#define EMU_COST_UDIV 40u
// ASSUMED: a core's own (non-DMA) read or write of one word in SDRAM, through
// the chip's network-on-chip: tens of cycles of latency per access.
#define EMU_COST_SDRAM_WORD 24u

// --- host I/O (ASSUMED, to calibrate) -----------------------------------------
// Bytes per second the host writes into (or reads from) a board's SDRAM: what
// staging samples and reading results costs between two runs.  The toolchain's
// fast data-in over Ethernet is of this order (tens of MB/s at best; 10 MB/s
// is taken here).
#define EMU_HOST_BYTES_PER_S 10000000u

#endif  // SPINN_EMU_COST_MODEL_H
