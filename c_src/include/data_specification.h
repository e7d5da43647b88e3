// Reading a core's regions as the toolchain's data specification wrote them.
//
// The project's own declaration of the subset of spinn_front_end_common's
// c_common/front_end_common_lib/include/data_specification.h that the programs
// use, with the same layout: on a board the toolchain leaves the metadata's
// address in the core's user0 register; in the emulator it is built in the
// chip's emulated SDRAM with the same structure.
#ifndef SPINN_DNN_DATA_SPECIFICATION_H
#define SPINN_DNN_DATA_SPECIFICATION_H

#include <stdbool.h>
#include <stdint.h>

typedef struct region_desc_t {
    void *pointer;
    uint32_t checksum;  // rounded 32-bit unsigned sum of the region's words
    uint32_t n_words;   // valid words in the region
} region_desc_t;

typedef struct data_specification_metadata_t {
    uint32_t magic_number;
    uint32_t version;
    region_desc_t regions[];
} data_specification_metadata_t;

// The data specification executor's magic number and layout version
// (spinn_front_end_common: data_specification.c / ds_sqllite_database).
#define DATA_SPECIFICATION_MAGIC 0xAD130AD6u
#define DATA_SPECIFICATION_VERSION 0x00010000u

data_specification_metadata_t *data_specification_get_data_address(void);
bool data_specification_read_header(data_specification_metadata_t *ds_regions);

static inline void *data_specification_get_region(uint32_t region, data_specification_metadata_t *ds_regions) {
    return ds_regions->regions[region].pointer;
}

#endif  // SPINN_DNN_DATA_SPECIFICATION_H
