/* util: identifiers, dates, base64, the first error of a file. */
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "lib/util.h"
#include "lib/xmalloc.h"

/* xoshiro256**, seeded once per thread from getrandom(2): identifiers
 * need uniqueness, not secrecy, and a system call per connection is
 * measurable. */
static __thread uint64_t rng[4];

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* A child of fork() (a worker of smtp.ini nodes) draws its own numbers:
 * the state it inherited is dropped, so that the next call seeds anew
 * (two workers would otherwise make the same ids). */
static void
rng_forget(void)
{
	memset(rng, 0, sizeof(rng));
}

static void
rng_atfork(void)
{
	pthread_atfork(NULL, NULL, rng_forget);
}

static uint64_t
rng_next(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint64_t r, t;

	if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
		size_t got = 0;

		pthread_once(&once, rng_atfork);

		while (got < sizeof(rng)) {
			ssize_t n = getrandom((char *)rng + got,
			    sizeof(rng) - got, 0);

			if (n > 0)
				got += (size_t)n;
		}
		rng[0] |= 1;
	}
	r = rotl(rng[1] * 5, 7) * 9;
	t = rng[1] << 17;
	rng[2] ^= rng[0];
	rng[3] ^= rng[1];
	rng[1] ^= rng[2];
	rng[0] ^= rng[3];
	rng[2] ^= t;
	rng[3] = rotl(rng[3], 45);
	return r;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_random(void)
{
	return rng_next();
}

void
uuid_v4(char out[UUID_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	uint64_t a = rng_next(), b = rng_next();
	unsigned char r[16];
	char *o = out;

	memcpy(r, &a, 8);
	memcpy(r + 8, &b, 8);
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[r[i] >> 4];
		*o++ = hex[r[i] & 15];
	}
	*o = '\0';
}

void
date_rfc5322(char *out, size_t size, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
	    (off < 0 ? -off : off) % 60);
}

void
base64_encode(struct buf *out, const void *p, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);

	buf_reserve(out, need + 1);
	EVP_EncodeBlock((unsigned char *)out->p + out->len, p, (int)len);
	out->len += need;
	out->p[out->len] = '\0';
}

int
base64_decode(struct buf *out, const char *s, size_t len)
{
	size_t pad = 0;
	int n;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < len - 2)
				return -1;
			pad++;
		} else if (pad || !((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/'))
			return -1;
	}
	buf_reserve(out, len / 4 * 3 + 1);
	n = EVP_DecodeBlock((unsigned char *)out->p + out->len,
	    (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	out->len += (size_t)n - pad;
	out->p[out->len] = '\0';
	return 0;
}

void
err_first(char **err, const char *fmt, ...)
{
	va_list ap;

	if (*err != NULL)
		return;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
}

int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
