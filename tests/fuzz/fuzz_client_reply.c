/*
 * libFuzzer target: the delivery client's reply reading
 * (client_conn_reply over a bufferevent's input, delivery/client_conn.c),
 * continuation lines included. Input: [chunk seed] then what a server
 * sends. Oracle: whether the bytes come at once or in random chunks (each
 * chunk read as far as it goes, as on_read does), the client reads the
 * same replies, then stops at the same malformed line (same reason) or
 * waits with the same bytes left; every reply read is well formed.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz.h"
#include "core/log.h"
#include "delivery/client_conn.h"
#include "proto/reply.h"

struct reading {
	struct reply	*v;
	size_t		 n;
	int		 failed;	/* client_conn_reply said -1 */
	char		*bad;
	size_t		 left;		/* input not taken */
};

static struct event_base *base;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_EMERG);
	if ((base = event_base_new()) == NULL)
		abort();
	return 0;
}

static void
well_formed(const struct reply *r)
{
	check(r->code >= 200 && r->code <= 599);
	check(r->text != NULL && r->nlines >= 1 &&
	    r->nlines <= REPLY_LINES_MAX);
	for (size_t i = 0; i < r->nlines; i++)
		check(strlen(r->lines[i]) <= REPLY_LINE_MAX);
}

/* Takes the replies now in the input, as the session's read callback. */
static void
take(struct client_conn *c, struct reading *rd)
{
	for (;;) {
		struct reply r;
		char *bad = NULL;
		int rv = client_conn_reply(c, &r, &bad);

		if (rv == 0) {
			check(bad == NULL);
			return;
		}
		if (rv < 0) {
			check(bad != NULL);
			rd->failed = 1;
			rd->bad = bad;
			return;
		}
		check(rv == 1 && bad == NULL);
		well_formed(&r);
		rd->v = realloc(rd->v, (rd->n + 1) * sizeof(*rd->v));
		if (rd->v == NULL)
			abort();
		rd->v[rd->n++] = r;
	}
}

static void
read_all(const char *p, size_t len, struct fuzz_rng *rng,
    struct reading *rd)
{
	struct client_conn c;
	struct evbuffer *in;
	size_t off = 0;

	memset(rd, 0, sizeof(*rd));
	client_conn_init(&c, base, "192.0.2.1", "FUZZ", 5, NULL, NULL, NULL);
	if ((c.bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		abort();
	in = bufferevent_get_input(c.bev);
	/* No socket under it: the input takes bytes from here. */
	evbuffer_unfreeze(in, 0);
	while (off < len && !rd->failed) {
		size_t n = rng != NULL ? fuzz_chunk(rng, len - off) : len - off;

		if (evbuffer_add(in, p + off, n) != 0)
			abort();
		off += n;
		take(&c, rd);
	}
	rd->left = evbuffer_get_length(in) + (len - off);
	client_conn_clear(&c);
	/* A bufferevent is finalised by the loop. */
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static int
same_reply(const struct reply *a, const struct reply *b)
{
	if (a->code != b->code || strcmp(a->extc, b->extc) != 0 ||
	    strcmp(a->text, b->text) != 0 || a->nlines != b->nlines)
		return 0;
	for (size_t i = 0; i < a->nlines; i++)
		if (strcmp(a->lines[i], b->lines[i]) != 0)
			return 0;
	return 1;
}

static void
reading_free(struct reading *rd)
{
	for (size_t i = 0; i < rd->n; i++)
		reply_clear(&rd->v[i]);
	free(rd->v);
	free(rd->bad);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reading one, many;
	struct fuzz_rng rng;

	if (size < 1)
		return 0;
	fuzz_rng_init(&rng, data[0]);
	read_all((const char *)data + 1, size - 1, NULL, &one);
	read_all((const char *)data + 1, size - 1, &rng, &many);
	check(one.n == many.n);
	for (size_t i = 0; i < one.n; i++)
		check(same_reply(&one.v[i], &many.v[i]));
	check(one.failed == many.failed);
	if (one.failed)	/* an over-long line is cut where it was seen */
		check(strncmp(one.bad, many.bad, strlen(many.bad)) == 0);
	else	/* waiting for the rest of a reply: the same bytes */
		check(one.left == many.left);
	reading_free(&one);
	reading_free(&many);
	return 0;
}
