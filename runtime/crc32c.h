/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of plan.bin.
 */
#ifndef CRC32C_H
#define CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC (start with 0) over len bytes. */
uint32_t rt_crc32c(uint32_t crc, const void *data, size_t len);

#endif
