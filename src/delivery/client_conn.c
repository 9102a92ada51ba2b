/*
 * client_conn: the socket, bufferevent and output of one client session,
 * the deadline timer, the body pulled from its source and dot-stuffed a
 * block at a time, and the connections closing with QUIT that linger on a
 * list owned here. Calls the session only through the callbacks it was
 * given (no SMTP state).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "proto/reply.h"
#include "core/log.h"
#include "core/metrics.h"
#include "delivery/client_conn.h"

#define SRC		"outbound"

static void	on_deadline(evutil_socket_t, short, void *);

void
client_conn_init(struct client_conn *c, struct event_base *base,
    const char *peer, const char *uuid, double quit,
    bufferevent_data_cb readcb, bufferevent_event_cb eventcb, void *cbarg)
{
	memset(c, 0, sizeof(*c));
	c->base = base;
	c->peer = peer;
	c->uuid = uuid;
	c->quit_s = quit;
	c->readcb = readcb;
	c->eventcb = eventcb;
	c->cbarg = cbarg;
	c->deadline = evtimer_new(base, on_deadline, c);
}

void
client_conn_clear(struct client_conn *c)
{
	client_conn_unwatch(c);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		metric_add(m_outbound_open, NULL, -1);
	}
	c->bev = NULL;
	event_free(c->deadline);
	c->deadline = NULL;
	buf_free(&c->out);
}

/* --- the deadline ------------------------------------------------------------ */

static struct timeval
seconds(double s)
{
	struct timeval tv;

	if (s < 0.001)
		s = 0.001;
	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	return tv;
}

void
client_conn_deadline(struct client_conn *c, double secs)
{
	struct timeval tv;

	if (c->deadline == NULL)
		return;
	if (secs <= 0) {
		event_del(c->deadline);
		return;
	}
	tv = seconds(secs);
	c->deadline_s = secs;
	event_add(c->deadline, &tv);
}

/* The whole reply (or block) did not come (or leave) in time; or, made
 * active by abandon(), the body's source failed. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->bev == NULL)
		return;
	if (c->body_failed)
		c->eventcb(c->bev, BEV_EVENT_ERROR | BEV_EVENT_WRITING,
		    c->cbarg);
	else
		c->eventcb(c->bev, BEV_EVENT_TIMEOUT | BEV_EVENT_READING,
		    c->cbarg);
}

/* --- output --------------------------------------------------------------- */

void
client_conn_cmd(struct client_conn *c, const char *shown, const char *fmt,
    ...)
{
	size_t start = c->out.len;
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (log_would(LOG_PROTOCOL)) {
		if (shown != NULL)
			log_protocol(SRC, c->uuid, "C: %s", shown);
		else
			log_protocol(SRC, c->uuid, "C: %s", c->out.p + start);
	}
	buf_add(&c->out, "\r\n", 2);
}

/*
 * A plain socket with nothing of ours queued before it: p goes to the
 * kernel now, and only what it does not take is given to the bufferevent
 * (which then arms EV_WRITE) — no epoll_ctl per command group or block.
 * The bytes taken; 0 under TLS, behind queued output or on any error (the
 * bufferevent's own write then meets it and reports it as before).
 */
static size_t
send_now(struct client_conn *c, const char *p, size_t len)
{
	ssize_t n;

	if (len == 0 || bufferevent_get_underlying(c->bev) != NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	do
		n = send(bufferevent_getfd(c->bev), p, len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	return n > 0 ? (size_t)n : 0;
}

void
client_conn_flush(struct client_conn *c)
{
	size_t n;

	if (c->out.len == 0)
		return;
	n = send_now(c, c->out.p, c->out.len);
	if (n < c->out.len)
		bufferevent_write(c->bev, c->out.p + n, c->out.len - n);
	buf_reset(&c->out);
}

/* Bytes written but not yet taken by the server: in the TLS filter, the
 * socket's output buffer and the kernel's send queue (sent and not yet
 * acknowledged, or not sent). */
static size_t
output_pending(const struct client_conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));
	int q = 0;

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
#ifdef SIOCOUTQ
	if (ioctl(bufferevent_getfd(under != NULL ? under : c->bev), SIOCOUTQ,
	    &q) == 0 && q > 0)
		n += (size_t)q;
#endif
	return n;
}

/* Nothing of ours waits in the bufferevents (all given to the kernel). */
static int
output_handed(const struct client_conn *c)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);

	return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	    (under == NULL ||
	    evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

/* --- the body ------------------------------------------------------------- */

/*
 * Dot-stuffs n bytes from src to dst, doubling a '.' that starts a line
 * (*at_bol carries "the next byte starts a line" across blocks); returns
 * the bytes written, at most 2n. dst may lie below src in one buffer when
 * src - dst >= n: a line's first byte is read before its copy (and a
 * doubled dot) can reach it, since each line adds at most one byte.
 */
static size_t
stuff(char *dst, const char *src, size_t n, int *at_bol)
{
	const char *p = src, *end = src + n, *nl;
	char *w = dst;

	while (p < end) {
		size_t line;

		if (*at_bol && *p == '.')
			*w++ = '.';
		nl = memchr(p, '\n', (size_t)(end - p));
		line = (size_t)((nl != NULL ? nl + 1 : end) - p);
		memmove(w, p, line);
		w += line;
		p += line;
		*at_bol = nl != NULL;
	}
	return (size_t)(w - dst);
}

/* Exactly `want` bytes of the source into buf (as many reads as it
 * takes); when they are its last, its 0 too. -1 when it fails, ends early
 * or goes on past its length. */
static int
pull(struct client_conn *c, char *buf, size_t want)
{
	size_t got = 0;
	char extra;

	while (got < want) {
		ssize_t r = c->src.read(c->src.arg, buf + got, want - got);

		if (r <= 0 || (size_t)r > want - got)
			return -1;
		got += (size_t)r;
		c->src_read += (size_t)r;
	}
	if (c->src_read == c->src.len &&
	    c->src.read(c->src.arg, &extra, 1) != 0)
		return -1;
	return 0;
}

/* The source failed: no more of the message and never the final dot;
 * the session hears of it from the loop (on_deadline), not inside a feed
 * its caller may be running. */
static void
abandon(struct client_conn *c)
{
	log_warn(SRC, c->uuid, "cannot read the queued message after %zu of "
	    "%zu bytes; abandoning the transaction with %s", c->src_read,
	    c->src.len, c->peer);
	c->feeding = 0;
	c->body_failed = 1;
	if (c->deadline != NULL) {
		event_del(c->deadline);
		event_active(c->deadline, EV_TIMEOUT, 1);
	}
}

/* The loop's block buffer for plain sockets (one thread, one block at a
 * time; what the kernel does not take is copied to the bufferevent). */
static struct buf scratch;

/*
 * The previous block has left: the next one, with its own deadline; after
 * the last (which carries the final dot), the deadline of the reply. A
 * block is read into the upper half of a buffer twice its size and
 * stuffed down into its lower half: on a plain socket the loop's scratch
 * buffer, sent at once (send_now), else space reserved in the output, so
 * the output never holds more than two blocks and nothing else holds the
 * message. 1 when the block went straight to the kernel (the caller
 * feeds the next), 0 when the bufferevent has the rest or feeding ended.
 */
static int
feed_block(struct client_conn *c)
{
	struct evbuffer *out;
	struct evbuffer_iovec v;
	size_t want, n, sent = 0;
	char *base, *top;
	int direct;

	if (!c->feeding || c->bev == NULL || !output_handed(c))
		return 0;
	if (c->dot_written) {
		c->feeding = 0;
		client_conn_deadline(c, c->dot_s);
		return 0;
	}
	want = c->src.len - c->src_read;
	if (want > CLIENT_CONN_BLOCK)
		want = CLIENT_CONN_BLOCK;
	out = bufferevent_get_output(c->bev);
	direct = bufferevent_get_underlying(c->bev) == NULL;
	/* Room for the stuffed block, then CRLF and ".\r\n" at the end (no
	 * room at all, libevent out of memory, abandons the message too). */
	if (direct) {
		buf_reset(&scratch);
		buf_reserve(&scratch, 2 * want + 5);
		v.iov_base = scratch.p;
	} else if (evbuffer_reserve_space(out, (ev_ssize_t)(2 * want + 5),
	    &v, 1) != 1) {
		abandon(c);
		return 0;
	}
	base = v.iov_base;
	top = base + want;
	if (pull(c, top, want) == -1) {
		abandon(c);
		return 0;
	}
	if (want >= 2)
		c->tail = (unsigned char)top[want - 2] << 8 |
		    (unsigned char)top[want - 1];
	else if (want == 1)
		c->tail = (c->tail << 8 | (unsigned char)top[0]) & 0xffff;
	n = stuff(base, top, want, &c->at_bol);
	if (c->src_read == c->src.len) {
		if (c->src.len > 0 && (c->src.len < 2 ||
		    c->tail != ('\r' << 8 | '\n'))) {
			memcpy(base + n, "\r\n", 2);
			n += 2;
		}
		memcpy(base + n, ".\r\n", 3);
		n += 3;
		c->dot_written = 1;
		log_protocol(SRC, c->uuid, "C: .");
	}
	client_conn_deadline(c, c->block_s);
	if (!direct) {
		v.iov_len = n;
		evbuffer_commit_space(out, &v, 1);
		return 0;
	}
	sent = send_now(c, base, n);
	if (sent < n)
		evbuffer_add(out, base + sent, n - sent);
	return sent == n;
}

static void
feed(struct client_conn *c)
{
	while (feed_block(c))
		;
}

static void
on_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct client_conn *c = arg;

	(void)buf;
	if (info->n_deleted > 0)
		feed(c);
}

void
client_conn_unwatch(struct client_conn *c)
{
	if (c->drain_cb != NULL)
		evbuffer_remove_cb_entry(c->drain_buf, c->drain_cb);
	c->drain_cb = NULL;
	c->drain_buf = NULL;
	c->feeding = c->dot_written = c->body_failed = 0;
	memset(&c->src, 0, sizeof(c->src));
	client_conn_deadline(c, 0);
}

void
client_conn_send_body(struct client_conn *c, const struct mta_body *src,
    double block, double dot)
{
	struct bufferevent *under = bufferevent_get_underlying(c->bev);

	log_protocol(SRC, c->uuid, "C: (message, %zu bytes)", src->len);
	client_conn_unwatch(c);
	c->body_queued = 1;
	c->feeding = 1;
	c->src = *src;
	c->src_read = 0;
	c->at_bol = 1;
	c->tail = 0;
	c->block_s = block;
	c->dot_s = dot;
	c->drain_buf = bufferevent_get_output(under != NULL ? under : c->bev);
	c->drain_cb = evbuffer_add_cb(c->drain_buf, on_drained, c);
	feed(c);
}

int
client_conn_body_unsent(const struct client_conn *c)
{
	return c->body_queued && (c->feeding || c->body_failed ||
	    (c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0));
}

int
client_conn_dot_sent(const struct client_conn *c)
{
	return c->body_queued && c->dot_written && !c->feeding &&
	    c->bev != NULL && output_pending(c) == 0;
}

void
client_conn_idle(struct client_conn *c)
{
	client_conn_deadline(c, 0);
	bufferevent_enable(c->bev, EV_READ);
}

/* --- connecting -------------------------------------------------------------- */

static int
numeric_addr(const char *host, int family, struct addrinfo **ai)
{
	struct addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	return getaddrinfo(host, "0", &hints, ai);
}

char *
client_conn_connect(struct client_conn *c, const char *ip, const char *path,
    unsigned port, const char *bindto, double timeout)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	struct addrinfo *ai = NULL, *bai = NULL;
	socklen_t sslen;
	char *err = NULL;
	int fd = -1, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (path != NULL) {
		if (strlen(path) >= sizeof(sun->sun_path)) {
			err = xasprintf("connect to %s: path too long", c->peer);
			goto fail;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
		sslen = sizeof(*sun);
	} else {
		if (ip == NULL || numeric_addr(ip, AF_UNSPEC, &ai) != 0) {
			err = xasprintf("connect to %s: not an IP address",
			    c->peer);
			goto fail;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sslen = ai->ai_addrlen;
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)port);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		err = xasprintf("connect to %s: %s", c->peer, strerror(errno));
		goto fail;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bindto != NULL && ss.ss_family != AF_UNIX) {
		if (numeric_addr(bindto, ss.ss_family, &bai) != 0) {
			err = xasprintf("bind to %s: not an address of the "
			    "family of %s", bindto, c->peer);
			goto fail;
		}
		if (bind(fd, bai->ai_addr, bai->ai_addrlen) == -1) {
			err = xasprintf("bind to %s: %s", bindto,
			    strerror(errno));
			goto fail;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) == -1 &&
	    errno != EINPROGRESS) {
		err = xasprintf("connect to %s: %s", c->peer, strerror(errno));
		goto fail;
	}
	if ((c->bev = bufferevent_socket_new(c->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		err = xasprintf("connect to %s: cannot make a bufferevent",
		    c->peer);
		goto fail;
	}
	fd = -1;
	bufferevent_setcb(c->bev, c->readcb, NULL, c->eventcb, c->cbarg);
	client_conn_deadline(c, timeout);
	/* Already connecting: libevent waits for it to finish. */
	if (bufferevent_socket_connect(c->bev, NULL, 0) == -1) {
		err = xasprintf("connect to %s: %s", c->peer, strerror(errno));
		bufferevent_free(c->bev);
		c->bev = NULL;
		goto fail;
	}
	log_debug(SRC, c->uuid, "connecting to %s", c->peer);
	metric_add(m_outbound_total, NULL, 1);
	metric_add(m_outbound_open, NULL, 1);
fail:
	if (fd != -1)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (bai != NULL)
		freeaddrinfo(bai);
	return err;
}

void
client_conn_connected(struct client_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = bufferevent_getfd(c->bev);

	c->local_ip[0] = c->remote_ip[0] = '\0';
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family != AF_UNIX)
		getnameinfo((struct sockaddr *)&ss, len, c->local_ip,
		    sizeof(c->local_ip), NULL, 0, NI_NUMERICHOST);
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family != AF_UNIX)
		getnameinfo((struct sockaddr *)&ss, len, c->remote_ip,
		    sizeof(c->remote_ip), NULL, 0, NI_NUMERICHOST);
	log_debug(SRC, c->uuid, "connected to %s from %s", c->peer,
	    c->local_ip);
	bufferevent_enable(c->bev, EV_READ);
}

/* --- input ------------------------------------------------------------------- */

static void
log_lines(const struct client_conn *c, const char *p, size_t len)
{
	const char *end = p + len, *nl;

	if (!log_would(LOG_PROTOCOL))
		return;
	for (; p < end; p = nl + 1) {
		size_t n;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		log_protocol(SRC, c->uuid, "S: %.*s", (int)n, p);
	}
}

int
client_conn_reply(struct client_conn *c, struct reply *r, char **bad)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), used = 0;
	enum reply_fault fault;
	const char *p;
	char *line;
	int rv;

	*bad = NULL;
	if (len == 0)
		return 0;
	memset(r, 0, sizeof(*r));
	/* The parser refuses a reply as soon as it outgrows its bounds, so
	 * the input never holds much more than REPLY_SIZE_MAX unread. */
	p = (const char *)evbuffer_pullup(in, -1);
	rv = reply_parse(p, len, r, &used, &line, &fault);
	if (rv == 0)
		return 0;
	if (rv == -1) {
		log_protocol(SRC, c->uuid, "S: %s", line);
		*bad = xasprintf("%s: %s", reply_fault_text(fault), line);
		free(line);
		return -1;
	}
	log_lines(c, p, used);
	evbuffer_drain(in, used);
	return 1;
}

/* --- closing ----------------------------------------------------------------- */

/*
 * A closed connection waiting for the answer to QUIT (or the server's
 * close, or the QUIT deadline), so that the server reads QUIT before our
 * FIN. Lingering connections are owned by this module and listed here;
 * any left when the event loop stops are simply abandoned at exit.
 */
struct linger_conn {
	struct bufferevent	*bev;
	struct event		*timer;
	struct linger_conn	*prev, *next;
};

static struct linger_conn *lingering;

static void
linger_end(struct linger_conn *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		lingering = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	bufferevent_free(l->bev);
	event_free(l->timer);
	free(l);
}

static void
linger_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	/* Answers to what was pipelined, then 221 to QUIT. */
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		int bye = strncmp(line, "221", 3) == 0 && line[3] != '-';

		free(line);
		if (bye) {
			linger_end(arg);
			return;
		}
	}
	if (evbuffer_get_length(in) > REPLY_SIZE_MAX)
		linger_end(arg);
}

static void
linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	linger_end(arg);
}

static void
linger_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	linger_end(arg);
}

void
client_conn_close(struct client_conn *c, int quit)
{
	struct bufferevent *bev = c->bev;
	struct timeval tv = seconds(c->quit_s);
	struct linger_conn *l;
	/* QUIT would land inside the message. */
	int unsent = client_conn_body_unsent(c);

	client_conn_unwatch(c);
	if (bev == NULL)
		return;
	c->bev = NULL;
	metric_add(m_outbound_open, NULL, -1);
	buf_reset(&c->out);
	if (!quit || unsent) {
		bufferevent_free(bev);
		return;
	}
	log_protocol(SRC, c->uuid, "C: QUIT");
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	l = xcalloc(1, sizeof(*l));
	l->bev = bev;
	l->timer = evtimer_new(c->base, linger_timeout, l);
	if ((l->next = lingering) != NULL)
		lingering->prev = l;
	lingering = l;
	bufferevent_setcb(bev, linger_read, NULL, linger_event, l);
	evtimer_add(l->timer, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	bufferevent_write(bev, "QUIT\r\n", 6);
}
