/*
 * rate: "N/unit" rates and their GCRA limiter (virtual scheduling form:
 * an event at t is allowed when t >= TAT - tolerance, and then TAT =
 * max(TAT, t) + T). No state but the struct the caller owns.
 */
#include "lib/rate.h"

#include <stdio.h>

#define US_PER_S	1000000ull
#define US_PER_MS	1000ull

static const struct {
	char		 unit;
	uint32_t	 period;
} units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }
};

int
rate_parse(const char *s, struct rate *r, const char **why)
{
	uint64_t n = 0;
	const char *p = s;

	if (s == NULL || *s == '\0') {
		rate_init(r, 0, 1, 1);
		return 0;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (uint64_t)(*p - '0')) > RATE_MAX) {
			*why = "too large: at most 1000000 per period";
			return -1;
		}
	if (p == s || p[0] != '/' || p[1] == '\0' || p[2] != '\0') {
		*why = "not a rate: expected N/s, N/m, N/h or N/d";
		return -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if ((p[1] | 0x20) != units[i].unit)
			continue;
		if (n == 0) {
			*why = "zero: leave the value empty for no limit";
			return -1;
		}
		rate_init(r, (uint32_t)n, units[i].period, 1);
		return 0;
	}
	*why = "not a rate: expected N/s, N/m, N/h or N/d";
	return -1;
}

void
rate_init(struct rate *r, uint32_t n, uint32_t period, uint32_t burst)
{
	r->n = n;
	r->period = period > 0 ? period : 1;
	r->burst = burst < 1 ? 1 : burst > RATE_MAX ? RATE_MAX : burst;
	r->tat = 0;
}

int
rate_unlimited(const struct rate *r)
{
	return r->n == 0;
}

void
rate_update(struct rate *r, const struct rate *from)
{
	uint64_t tat = r->tat;

	*r = *from;
	r->tat = tat;
}

/* T, in µs, rounded up (at least 1). */
static uint64_t
interval(const struct rate *r)
{
	uint64_t period = (uint64_t)r->period * US_PER_S;

	return (period + r->n - 1) / r->n;
}

/* The earliest time (µs) the next event is allowed. */
static uint64_t
allowed_at(const struct rate *r)
{
	uint64_t tolerance = (uint64_t)(r->burst - 1) * interval(r);

	return r->tat > tolerance ? r->tat - tolerance : 0;
}

uint64_t
rate_wait(const struct rate *r, uint64_t now_ms)
{
	uint64_t now = now_ms * US_PER_MS, at;

	if (r->n == 0 || (at = allowed_at(r)) <= now)
		return 0;
	return (at - now + US_PER_MS - 1) / US_PER_MS;
}

uint64_t
rate_take(struct rate *r, uint64_t now_ms)
{
	uint64_t now = now_ms * US_PER_MS, wait;

	if (r->n == 0)
		return 0;
	if ((wait = rate_wait(r, now_ms)) != 0)
		return wait;
	r->tat = (r->tat > now ? r->tat : now) + interval(r);
	return 0;
}

const char *
rate_format(const struct rate *r, char out[RATE_TEXT_MAX])
{
	out[0] = '\0';
	if (r->n == 0)
		return out;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].period == r->period) {
			snprintf(out, RATE_TEXT_MAX, "%u/%c", r->n,
			    units[i].unit);
			return out;
		}
	snprintf(out, RATE_TEXT_MAX, "%u/%us", r->n, r->period);
	return out;
}
