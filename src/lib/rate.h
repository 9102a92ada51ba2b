/*
 * rate: a rate written "N/s", "N/m", "N/h" or "N/d" (shaping.ini's
 * max_message_rate, max_connection_rate), and a limiter for it: GCRA, the
 * generic cell rate algorithm — a token bucket kept as one number, the
 * theoretical arrival time (TAT) of the next event.
 *
 * Events are spaced one emission interval T = period / N apart. The burst
 * B is how many may come at once after an idle spell; with B = 1 (what
 * rate_parse gives) events are evenly spaced and no window of one period
 * ever holds more than N of them ("10/s": at most 10 in any second, one
 * every 100 ms). With B > 1 a window of one period may hold N + B - 1.
 * T is kept in microseconds, rounded up, so the rate is never exceeded.
 *
 * Pure: the caller passes the time (monotonic milliseconds); a struct rate
 * is plain data, copied freely (the limits in shaping.ini are rates whose
 * state is zero).
 */
#ifndef OUTPOST_RATE_H
#define OUTPOST_RATE_H

#include <stddef.h>
#include <stdint.h>

#define RATE_MAX	1000000u	/* events per period, at most */
#define RATE_TEXT_MAX	24		/* "1000000/h", "N/<period>s" */

struct rate {
	uint32_t	 n;		/* events per period; 0: unlimited */
	uint32_t	 period;	/* seconds: 1, 60, 3600 or 86400 */
	uint32_t	 burst;		/* events at once after idling, >= 1 */
	uint64_t	 tat;		/* µs: the theoretical arrival time */
};

/*
 * Parses s into *r (burst 1, state zero): "" or NULL is unlimited.
 * Returns 0, or -1 with *why set to a static reason ("not a rate ...",
 * "zero ...", "too large ...") and *r untouched.
 */
int		 rate_parse(const char *s, struct rate *r, const char **why);
/* n events per period seconds (n 0: unlimited); the burst is clamped to
 * 1..RATE_MAX. */
void		 rate_init(struct rate *r, uint32_t n, uint32_t period,
		    uint32_t burst);
int		 rate_unlimited(const struct rate *);
/* The limits of from on r, keeping r's state (a configuration reload). */
void		 rate_update(struct rate *r, const struct rate *from);

/* Milliseconds until an event would be allowed (0: now); consumes
 * nothing. */
uint64_t	 rate_wait(const struct rate *, uint64_t now_ms);
/* 0 when an event is allowed at now_ms, and counts it; else the
 * milliseconds to wait (>= 1), and nothing is counted. */
uint64_t	 rate_take(struct rate *, uint64_t now_ms);

/* "10/s" (what rate_parse reads back), or "" when unlimited. */
const char	*rate_format(const struct rate *, char out[RATE_TEXT_MAX]);

#endif
