/*
 * crc32c: CRC-32C (Castagnoli), the checksum of the queue's files.
 */
#ifndef OUTPOST_CRC32C_H
#define OUTPOST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data, continuing from crc (0 to start); "123456789" gives
 * 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
