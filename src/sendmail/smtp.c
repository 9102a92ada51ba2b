/*
 * smtp: outpost-sendmail's blocking SMTP client (smtp.h).
 */
#include "sendmail/smtp.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/xmalloc.h"

#define MAX_REPLY_LINES	100

int
smtp_connect(struct smtp *s, const char *host, const char *port,
    int timeout, char **err)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { timeout, 0 };
	int rc, fd = -1, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*err = xasprintf("%s port %s: %s", host, port,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		*err = xasprintf("cannot connect to %s port %s: %s", host,
		    port, strerror(saved));
		return -1;
	}
	s->fd = fd;
	return 0;
}

/* One line (CRLF or LF stripped) into line; 0, or -1 (s->text says). */
static int
read_line(struct smtp *s, struct buf *line)
{
	ssize_t n;

	buf_reset(line);
	for (;;) {
		while (s->inoff < s->inlen) {
			char c = s->in[s->inoff++];

			if (c == '\n') {
				if (line->len > 0 && line->p[line->len - 1] == '\r')
					line->p[--line->len] = '\0';
				return 0;
			}
			if (line->len >= 4096) {
				buf_reset(&s->text);
				buf_adds(&s->text, "reply line too long");
				return -1;
			}
			buf_addc(line, c);
		}
		n = read(s->fd, s->in, sizeof(s->in));
		if (n <= 0) {
			buf_reset(&s->text);
			buf_adds(&s->text, n == 0 ? "connection closed" :
			    errno == EAGAIN || errno == EWOULDBLOCK ?
			    "timed out" : strerror(errno));
			return -1;
		}
		s->inlen = (size_t)n;
		s->inoff = 0;
	}
}

int
smtp_reply(struct smtp *s)
{
	struct buf line = BUF_INIT;
	int code = -1, lines = 0;

	buf_reset(&s->text);
	for (;;) {
		if (read_line(s, &line) != 0)
			break;
		if (s->verbose)
			fprintf(stderr, "<<< %s\n", buf_cstr(&line));
		if (line.len < 3 || line.p[0] < '2' || line.p[0] > '5' ||
		    line.p[1] < '0' || line.p[1] > '9' || line.p[2] < '0' ||
		    line.p[2] > '9' || (line.len > 3 && line.p[3] != ' ' &&
		    line.p[3] != '-') || ++lines > MAX_REPLY_LINES) {
			buf_reset(&s->text);
			buf_printf(&s->text, "not an SMTP reply: %.80s",
			    buf_cstr(&line));
			break;
		}
		if (s->text.len > 0)
			buf_addc(&s->text, ' ');
		buf_add(&s->text, line.p, line.len);
		if (line.len == 3 || line.p[3] == ' ') {
			code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 +
			    (line.p[2] - '0');
			break;
		}
	}
	buf_free(&line);
	return code;
}

int
smtp_send(struct smtp *s, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(s->fd, p, n, MSG_NOSIGNAL)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			buf_reset(&s->text);
			buf_adds(&s->text, w == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK) ? "timed out" :
			    strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
smtp_cmd(struct smtp *s, const char *fmt, ...)
{
	struct buf cmd = BUF_INIT;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	if (s->verbose)
		fprintf(stderr, ">>> %s\n", buf_cstr(&cmd));
	buf_adds(&cmd, "\r\n");
	rc = smtp_send(s, cmd.p, cmd.len) == 0 ? smtp_reply(s) : -1;
	buf_free(&cmd);
	return rc;
}

int
smtp_has(const struct smtp *s, const char *keyword)
{
	size_t k = strlen(keyword);
	const char *p = buf_cstr(&s->ehlo);

	/* "250-8BITMIME 250-SIZE 1000" as smtp_reply joins them. */
	while ((p = strstr(p, "250")) != NULL) {
		p += 4;
		if (strncasecmp(p, keyword, k) == 0 &&
		    (p[k] == '\0' || p[k] == ' '))
			return 1;
	}
	return 0;
}

void
smtp_close(struct smtp *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	buf_free(&s->text);
	buf_free(&s->ehlo);
}
