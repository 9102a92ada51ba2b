/*
 * smtp/session: the read loop — lines to commands.c or auth.c, DATA bytes
 * to data.c and its end to accept.c, one command at a time so pipelined
 * groups are answered in order — and start, drain, kill. Plumbing: conn.c.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/config.h"
#include "core/log.h"
#include "core/vmta.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "smtp/accept.h"
#include "smtp/auth.h"
#include "smtp/commands.h"
#include "smtp/conn.h"
#include "smtp/data.h"
#include "smtp/policy.h"
#include "smtp/session.h"

#define OUT_HIGH	(256 * 1024)	/* stop reading while replies pile up */
#define AUTH_LINE_MAX	12288		/* RFC 4954 4 */
#define DATA_READ	(64 * 1024)	/* read_more's piece */
#define EV_READ_MAX	4096		/* libevent 2.1's read */

/* Reads one line (without its LF, CR kept) of at most max bytes. 1 with a
 * line in *line, 0 when more input is needed; a longer line sets *toolong
 * and is consumed up to its end. */
static int
read_line(struct smtp_session *s, struct evbuffer *in, size_t max,
    struct buf *line, int *toolong)
{
	struct evbuffer_ptr eol;
	size_t avail = evbuffer_get_length(in);

	*toolong = 0;
	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos == -1) {
		if (avail > max) {
			/* Drop what we have; the line ends later. */
			evbuffer_drain(in, avail);
			s->discarding = 1;
		}
		return 0;
	}
	if (s->discarding || (size_t)eol.pos > max) {
		evbuffer_drain(in, (size_t)eol.pos + 1);
		s->discarding = 0;
		*toolong = 1;
		return 1;
	}
	buf_reset(line);
	buf_reserve(line, (size_t)eol.pos + 1);
	evbuffer_remove(in, line->p, (size_t)eol.pos + 1);
	line->len = (size_t)eol.pos;
	if (line->len > 0 && line->p[line->len - 1] == '\r')
		line->len--;
	line->p[line->len] = '\0';
	return 1;
}

static void
data_input(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v[8];
	int n, done = 0;

	while (!done && evbuffer_get_length(in) > 0) {
		size_t used = 0;

		n = evbuffer_peek(in, -1, NULL, v, 8);
		for (int i = 0; i < n && i < 8 && !done; i++) {
			size_t k = data_feed(&s->data, v[i].iov_base,
			    v[i].iov_len, &done);

			used += k;
			if (k < v[i].iov_len)
				break;
		}
		evbuffer_drain(in, used);
	}
	if (done)
		accept_data_end(s);
}

/*
 * DATA on a plain socket once the input is used up: libevent 2.1 reads at
 * most 4 KiB per wake-up, each after an ioctl FIONREAD (its
 * evbuffer_set_max_read is 2.2's), so a large message is read on here, up
 * to DATA_READ at a time into the loop's one buffer and fed from there
 * (what follows the end of data goes back to the input). Tried only
 * after a read that took all it could (the caller's `more`), so a message
 * that came whole costs no extra call. The bytes read; 0 when none came:
 * nothing there yet (the next wake-up), or the end or an error, which the
 * bufferevent's own read then meets and reports.
 */
static size_t
read_more(struct smtp_session *s, struct evbuffer *in)
{
	static char piece[DATA_READ];
	size_t used;
	ssize_t r;
	int done;

	if (bufferevent_get_underlying(s->bev) != NULL ||
	    !(bufferevent_get_enabled(s->bev) & EV_READ))
		return 0;
	do
		r = recv(bufferevent_getfd(s->bev), piece, sizeof(piece),
		    MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return 0;
	used = data_feed(&s->data, piece, (size_t)r, &done);
	if (used < (size_t)r)
		evbuffer_add(in, piece + used, (size_t)r - used);
	if (done)
		accept_data_end(s);
	return (size_t)r;
}

/* The read loop (s->input): runs until input or the state says wait. */
static void
process(struct smtp_session *s)
{
	struct evbuffer *in;
	struct buf line = BUF_INIT;
	int toolong, more = 0;

	while (!s->ended) {
		in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    OUT_HIGH) {
			/* The client is not reading its replies: wait. */
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE, OUT_HIGH / 2,
			    0);
			break;
		}
		if (s->state == S_DATA) {
			size_t n = evbuffer_get_length(in);

			if (n > 0) {
				more = n >= EV_READ_MAX;
				data_input(s, in);
			} else if (!more)
				break;
			else
				more = read_more(s, in) == DATA_READ;
			continue;
		}
		if (s->state != S_HELO && s->state != S_IDLE &&
		    s->state != S_MAIL && s->state != S_RCPT &&
		    s->state != S_AUTH)
			break;
		if (!read_line(s, in, s->state == S_AUTH ? AUTH_LINE_MAX :
		    conn_core(s)->max_line_length - 2, &line, &toolong))
			break;
		if (toolong) {
			conn_reply(s, "500 5.5.2 Line too long (limit %u octets)",
			    s->state == S_AUTH ? AUTH_LINE_MAX :
			    conn_core(s)->max_line_length);
			if (s->state == S_AUTH)
				auth_abort(s);
			continue;
		}
		if (s->state == S_AUTH) {
			auth_response(s, slice_of(line.p, line.len));
			continue;
		}
		log_protocol("core", s->uuid, "C: %s", line.p);
		commands_dispatch(s, slice_of(line.p, line.len));
	}
	buf_free(&line);
}

/* --- life cycle ------------------------------------------------------------------ */

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
		    >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
		return IN6_IS_ADDR_LOOPBACK(a);
	}
	return 0;
}

struct smtp_session *
smtp_session_new(const struct session_ctx *ctx, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const struct reception *r = reception_get();
	int one = 1;

	s->refs = 1;
	s->base = ctx->base;
	s->cfg = config_ref(ctx->cfg);
	s->queue = ctx->queue;
	s->vmta = ctx->vmta != NULL ? vmta_ref(ctx->vmta) : NULL;
	s->input = process;
	s->ended_cb = ctx->ended;
	s->ended_arg = ctx->conn;
	uuid_v4(s->uuid);
	memcpy(&s->sa, sa, salen < sizeof(s->sa) ? salen : sizeof(s->sa));
	snprintf(s->ip, sizeof(s->ip), "%s", ctx->ip);
	snprintf(s->client_key, sizeof(s->client_key), "%s", ctx->client_key);
	s->table = ctx->table;
	s->loopback = is_loopback(sa);
	s->acl_relay = r->relay != NULL && r->relay(sa, r->relay_data);
	s->relaying = s->acl_relay;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_open(s, fd) != 0) {
		close(fd);
		config_unref(s->cfg);
		vmta_unref(s->vmta);
		free(s);
		return NULL;
	}
	log_info("core", s->uuid, "connect ip=%s relaying=%s", s->ip,
	    s->relaying ? "yes" : "no");
	conn_enter(s, S_HELO);
	conn_reply(s, "220 %s ESMTP Outpost ready", conn_core(s)->me);
	return s;
}

void
smtp_session_drain(struct smtp_session *s)
{
	if (s->ended || s->draining)
		return;
	s->draining = 1;
	switch (s->state) {
	case S_HELO:
	case S_IDLE:
	case S_MAIL:
	case S_RCPT:
	case S_AUTH:
		conn_reply(s, "421 4.3.2 %s Service shutting down", conn_core(s)->me);
		conn_tx_reset(s);
		conn_close(s);
		break;
	default:
		/* DATA, a commit, TLS: after it, in conn_resume(). */
		break;
	}
}

void
smtp_session_kill(struct smtp_session *s)
{
	if (s->ended)
		return;
	if (s->state == S_TLS)
		conn_unref(s);
	conn_end(s);
}
