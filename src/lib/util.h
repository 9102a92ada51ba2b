/*
 * util: small helpers shared by the roles — random identifiers, RFC 5322
 * dates, base64 (OpenSSL's codec with strict input checks).
 */
#ifndef OUTPOST_UTIL_H
#define OUTPOST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

#define UUID_LEN	36

/* A random (version 4) UUID, upper-case like Haraka's, NUL-terminated. */
void	 uuid_v4(char out[UUID_LEN + 1]);
/* Sets *err (malloc'd) to the formatted text unless it is set already: the
 * first problem of a configuration file is the one told. */
void	 err_first(char **err, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* "Sat, 21 Nov 2026 09:05:01 +0100": RFC 5322, local time. */
void	 date_rfc5322(char *out, size_t size, time_t);

/* 64 random bits from the per-thread xoshiro256** generator (seeded from
 * getrandom): for shuffles and identifiers, not for secrets. */
uint64_t util_random(void);
/* CLOCK_MONOTONIC in milliseconds: the same clock in every process. */
uint64_t util_now_ms(void);
/* The value of hex digit c (either case), or -1. */
int	 hex_value(int c);

/* FNV-1a of the string s, continued from h: FNV_BASIS to start, XORed
 * with a random seed where clients choose the keys (they then cannot aim
 * at one hash chain). */
#define FNV_BASIS	14695981039346656037ULL
static inline uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Appends the base64 of p/len to out. */
void	 base64_encode(struct buf *out, const void *p, size_t len);
/* Decodes s/len (padding required, no whitespace) into out; -1 if s is
 * not valid base64. */
int	 base64_decode(struct buf *out, const char *s, size_t len);

#endif
