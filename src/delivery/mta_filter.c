/*
 * mta_filter: which queue entries an administrator's listing or action
 * concerns (mta_admin.h): criteria parsed from the API's names, matched
 * against an entry, its scheduler state and destination. Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/mta_admin.h"
#include "queue/entry.h"

static const char *const state_names[] = {
	"held", "deferred", "due", "running"
};

void
mta_filter_init(struct mta_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->min_age = -1;
	f->max_age = -1;
}

const char *
mta_state_name(unsigned st)
{
	for (unsigned i = 0; i < 4; i++)
		if (st == 1u << i)
			return state_names[i];
	return "unknown";
}

/* "90", "90s", "15m", "2h", "3d": seconds, or -1. */
static int64_t
parse_age(const char *v)
{
	char *end;
	long long n;
	int64_t mul = 1;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || n < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':	mul = 1; break;
	case 'm':	mul = 60; break;
	case 'h':	mul = 3600; break;
	case 'd':	mul = 86400; break;
	default:	return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (n > INT64_MAX / 1000 / mul)
		return -1;
	return (int64_t)n * mul;
}

static int
parse_states(const char *v, unsigned *out)
{
	unsigned bits = 0;
	const char *p = v;

	while (*p != '\0') {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < 4; i++)
			if (strlen(state_names[i]) == n &&
			    strncasecmp(p, state_names[i], n) == 0)
				break;
		if (i == 4)
			return -1;
		bits |= 1u << i;
		p += n;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	if (bits == 0)
		return -1;
	*out = bits;
	return 0;
}

int
mta_filter_set(struct mta_filter *f, const char *key, const char *value,
    const char **why)
{
	if (value == NULL || (*value == '\0' && strcmp(key, "sender") != 0)) {
		*why = "empty value";
		return -1;
	}
	if (strcmp(key, "domain") == 0)
		f->domain = value;
	else if (strcmp(key, "sender") == 0)
		f->sender = value;
	else if (strcmp(key, "recipient") == 0)
		f->recipient = value;
	else if (strcmp(key, "destination") == 0)
		f->dest = value;
	else if (strcmp(key, "state") == 0) {
		if (parse_states(value, &f->states) != 0) {
			*why = "state: a comma list of held, deferred, due, "
			    "running";
			return -1;
		}
	} else if (strcmp(key, "min_age") == 0 ||
	    strcmp(key, "max_age") == 0) {
		int64_t s = parse_age(value);

		if (s < 0) {
			*why = "age: seconds, or a number with s, m, h or d";
			return -1;
		}
		*(key[1] == 'i' ? &f->min_age : &f->max_age) = s;
	} else
		return 1;
	return 0;
}

/* addr is pat (an address: compared without case, local part too: a
 * filter, not a delivery), or its domain is (pat without '@'). */
static int
addr_match(const char *addr, const char *pat)
{
	const char *at;

	if (strchr(pat, '@') != NULL)
		return strcasecmp(addr, pat) == 0;
	at = strrchr(addr, '@');
	return at != NULL && strcasecmp(at + 1, pat) == 0;
}

int
mta_filter_match(const struct mta_filter *f, const struct qentry *e,
    unsigned st, const char *dest, int64_t now)
{
	int64_t age = (now - e->queue_time) / 1000;

	if (f == NULL)
		return 1;
	if (f->states != 0 && !(f->states & st))
		return 0;
	if (f->domain != NULL && strcasecmp(e->domain, f->domain) != 0)
		return 0;
	if (f->dest != NULL && (dest == NULL || strcmp(dest, f->dest) != 0))
		return 0;
	if (f->sender != NULL) {
		if (strcmp(f->sender, "<>") == 0 || f->sender[0] == '\0') {
			if (e->mail_from[0] != '\0')
				return 0;
		} else if (!addr_match(e->mail_from, f->sender))
			return 0;
	}
	if (f->recipient != NULL) {
		size_t i;

		for (i = 0; i < e->nrcpts; i++)
			if (e->rcpts[i].state == QRCPT_PENDING &&
			    addr_match(e->rcpts[i].addr, f->recipient))
				break;
		if (i == e->nrcpts)
			return 0;
	}
	if (f->min_age >= 0 && age < f->min_age)
		return 0;
	if (f->max_age >= 0 && age > f->max_age)
		return 0;
	return 1;
}
