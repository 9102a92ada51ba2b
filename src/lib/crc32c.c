/*
 * crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of queue files: SSE 4.2's instruction where the CPU has it
 * (three lanes at once over large inputs), else a table built before
 * main(). Pure; no state but the tables.
 */
#include "lib/crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t crc_table[256];

/* Built before main(): the writer thread and the loop both use it. */
__attribute__((constructor)) static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
		crc_table[i] = c;
	}
}

#if defined(__x86_64__)
/* SSE 4.2 computes CRC-32C (the Castagnoli polynomial) in hardware. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw1(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

/*
 * Large inputs in three lanes of LANE bytes at once: the instruction's
 * latency is three times its throughput, so one dependent chain leaves
 * two thirds of it idle. A CRC register r run over data D is
 * shift(r, |D|) ^ crc(0, D), with shift linear in r: over A B C,
 * shift(shift(crc(r, A)) ^ crc(0, B)) ^ crc(0, C). shift over LANE
 * bytes is four byte tables (built once, on the first large input, from
 * the instruction itself run over zeros).
 */
#define LANE	4096
static uint32_t lane_shift[4][256];
static pthread_once_t lane_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static void
lane_init(void)
{
	static const unsigned char zeros[LANE];

	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++)
			lane_shift[k][b] = crc_hw1(b << (8 * k), zeros, LANE);
}

static uint32_t
shift_lane(uint32_t c)
{
	return lane_shift[0][c & 0xff] ^ lane_shift[1][(c >> 8) & 0xff] ^
	    lane_shift[2][(c >> 16) & 0xff] ^ lane_shift[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	if (len >= 3 * LANE)
		pthread_once(&lane_once, lane_init);
	for (; len >= 3 * LANE; p += 3 * LANE, len -= 3 * LANE) {
		uint64_t a = crc, b = 0, c = 0;

		for (size_t i = 0; i < LANE; i += 8) {
			uint64_t va, vb, vc;

			memcpy(&va, p + i, 8);
			memcpy(&vb, p + LANE + i, 8);
			memcpy(&vc, p + 2 * LANE + i, 8);
			a = __builtin_ia32_crc32di(a, va);
			b = __builtin_ia32_crc32di(b, vb);
			c = __builtin_ia32_crc32di(c, vc);
		}
		crc = shift_lane(shift_lane((uint32_t)a) ^ (uint32_t)b) ^
		    (uint32_t)c;
	}
	return crc_hw1(crc, p, len);
}
#endif

uint32_t
crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(crc, p, len);
#endif
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

