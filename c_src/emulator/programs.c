// The core programs built into the emulator, by name.  A program is added by
// writing c_src/programs/<name>.c (ending in SPINN_PROGRAM(<name>, ...)), listing
// it here and in setup.py's sources (and c_src/Makefile's PROGRAMS).
#include <string.h>

#include "emu.h"

extern const spinn_program_t spinn_program_input;
extern const spinn_program_t spinn_program_layer;
extern const spinn_program_t spinn_program_test_echo;
extern const spinn_program_t spinn_program_test_slow_sink;
extern const spinn_program_t spinn_program_test_slow_isr;
extern const spinn_program_t spinn_program_test_memory;
extern const spinn_program_t spinn_program_test_priorities;

const spinn_program_t *const emu_programs[] = {
    &spinn_program_input,
    &spinn_program_layer,
    &spinn_program_test_echo,
    &spinn_program_test_slow_sink,
    &spinn_program_test_slow_isr,
    &spinn_program_test_memory,
    &spinn_program_test_priorities,
    NULL,
};

const spinn_program_t *emu_find_program(const char *name) {
    for (uint i = 0; emu_programs[i]; i++) {
        if (strcmp(emu_programs[i]->name, name) == 0) {
            return emu_programs[i];
        }
    }
    return NULL;
}
