// How a spinn_dnn core program is written so that many instances of it can
// run in one host process (the emulator) and one instance runs on an ARM core.
//
// THE RULE for program authors: a program has NO mutable static or global
// variables.  All of its state lives in one struct, reached through
// SPINN_STATE(type):
//
//     typedef struct { uint n_received; float *sums; } dense_state_t;
//     SPINN_STATE_DECLARE(dense_state_t);
//     #define S SPINN_STATE(dense_state_t)
//     static void on_packet(uint key, uint payload) { S->n_received++; }
//     static void dense_main(void) { ...; spin1_start(SYNC_WAIT); }
//     SPINN_PROGRAM(dense, dense_state_t, dense_main);
//
// On ARM the struct is one static global (it sits in DTCM, as any global
// would); on the host it is the current core's own instance, allocated in that
// core's emulated DTCM, so it counts against the core's 64 KiB like the ARM
// globals do.  Read-only tables (static const) are fine: they are code.
// `c_src/Makefile host-check` (and tests/test_emulator_build.py) compiles every
// program for the host and fails if its object has .data or .bss.
//
// Also: spin1_start must be the last thing c_main's entry function does (on
// ARM it returns only after spin1_exit; in the emulator it returns at once and
// the emulator then drives the callbacks).
#ifndef SPINN_DNN_PROGRAM_H
#define SPINN_DNN_PROGRAM_H

// Angle brackets: `make aplx` puts spinnaker_tools' include directory first, so its own
// spin1_api.h is the one found there; elsewhere it is include/spin1_api.h.
#include <spin1_api.h>

// Work the emulator cannot see by itself (software float on the ARM968), so
// that modeled time counts it: kinds and their cycle costs are in
// c_src/emulator/cost_model.h.  On ARM these compile to nothing.
enum spinn_op {
    SPINN_OP_FMAC = 0,  // one float32 multiply and add (separately rounded)
    SPINN_OP_FADD = 1,  // one float32 add or compare
    SPINN_OP_FMUL = 2,  // one float32 multiply
    SPINN_OP_FDIV = 3,  // one float32 divide
    SPINN_OP_FEXP = 4,  // one expf (softmax, sigmoid, tanh)
    SPINN_OP_WORD = 5,  // one 32-bit integer load/store/ALU step of bookkeeping
    SPINN_OP_SDRAM_WORD = 6,  // one 32-bit word read or written in SDRAM by the core itself (not DMA)
    SPINN_OP_UDIV = 7,  // one integer division by a run-time value (quotient and remainder: one call)
    SPINN_N_OPS = 8
};

#ifdef SPINN_HOST

typedef struct spinn_program {
    const char *name;
    uint state_bytes;
    void (*entry)(void);
} spinn_program_t;

// `const`: within one callback the answer never changes, so the compiler may
// keep it in a register instead of calling for every S->field (a callback runs
// for one core from start to end; the next call of the function asks again).
void *spinn_core_state(void) __attribute__((const));
void spinn_account(enum spinn_op op, uint count);
// Two kinds in one call: the packet handler's path is the emulator's hottest, and a call costs the host.
void spinn_account2(enum spinn_op op_a, uint count_a, enum spinn_op op_b, uint count_b);

#define SPINN_STATE_DECLARE(type) typedef char spinn_state_declared_##type
#define SPINN_STATE(type) ((type *) spinn_core_state())
#define SPINN_PROGRAM(name, type, entry_fn) \
    const spinn_program_t spinn_program_##name = {#name, (uint) sizeof(type), entry_fn}
#define SPINN_ACCOUNT(op, count) spinn_account((op), (count))
#define SPINN_ACCOUNT2(op_a, count_a, op_b, count_b) spinn_account2((op_a), (count_a), (op_b), (count_b))

#else  // ARM

#define SPINN_STATE_DECLARE(type) static type spinn_state_storage
#define SPINN_STATE(type) (&spinn_state_storage)
#define SPINN_PROGRAM(name, type, entry_fn) \
    void c_main(void) { entry_fn(); }
#define SPINN_ACCOUNT(op, count) ((void) 0)
#define SPINN_ACCOUNT2(op_a, count_a, op_b, count_b) ((void) 0)

#endif

#endif  // SPINN_DNN_PROGRAM_H
