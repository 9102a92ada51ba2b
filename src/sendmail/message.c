/*
 * message: outpost-sendmail's message and address handling (message.h):
 * pure functions over the bytes read, unit-tested in
 * tests/unit/sendmail/test_message.c.
 */
#include "sendmail/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xmalloc.h"

/* --- address lists ------------------------------------------------------- */

void
addrs_add(struct addrs *a, const char *addr, size_t len)
{
	a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = xstrndup(addr, len);
}

void
addrs_free(struct addrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* One element done: its address (inside <> when there was one) into out;
 * 0, or -1 when it cannot be used. */
static int
finish(struct addrs *out, struct buf *plain, struct buf *angle,
    int has_angle, const char *domain)
{
	const char *a = has_angle ? buf_cstr(angle) : buf_cstr(plain);
	size_t len = has_angle ? angle->len : plain->len;
	const char *colon;
	int rc = 0;

	/* An obsolete source route, <@a,@b:user@c>: the address is last. */
	if (len > 0 && a[0] == '@' && (colon = memchr(a, ':', len)) != NULL) {
		len -= (size_t)(colon + 1 - a);
		a = colon + 1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f ||
		    a[i] == '<' || a[i] == '>')
			rc = -1;
	if (rc == 0 && len > 0) {
		if (domain != NULL && memchr(a, '@', len) == NULL) {
			char *q = xasprintf("%.*s@%s", (int)len, a, domain);

			addrs_add(out, q, strlen(q));
			free(q);
		} else {
			addrs_add(out, a, len);
		}
	}
	buf_reset(plain);
	buf_reset(angle);
	return rc;
}

int
addrs_parse(struct addrs *out, const char *list, size_t len,
    const char *domain, const char **bad)
{
	struct buf plain = BUF_INIT, angle = BUF_INIT, *to;
	int quoted = 0, comment = 0, in_angle = 0, has_angle = 0, rc = 0;
	size_t start = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		char c = list[i];

		to = in_angle ? &angle : &plain;
		if (quoted) {
			buf_addc(to, c);
			if (c == '\\' && i + 1 < len)
				buf_addc(to, list[++i]);
			else if (c == '"')
				quoted = 0;
			continue;
		}
		if (comment > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		switch (c) {
		case '"':
			quoted = 1;
			buf_addc(to, c);
			break;
		case '(':
			comment = 1;
			break;
		case '<':
			if (in_angle) {
				rc = -1;
				break;
			}
			in_angle = has_angle = 1;
			buf_reset(&angle);
			break;
		case '>':
			if (!in_angle)
				rc = -1;
			in_angle = 0;
			break;
		case ':':
			/* A group's name ends ("team: a, b;"); inside <> it
			 * is a source route's end, kept for finish(). */
			if (in_angle)
				buf_addc(to, c);
			else
				buf_reset(&plain);
			break;
		case ',':
		case ';':
			if (in_angle) {
				buf_addc(to, c);
				break;
			}
			if (finish(out, &plain, &angle, has_angle, domain) != 0)
				rc = -1;
			else
				start = i + 1;
			has_angle = 0;
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			buf_addc(to, c);
		}
	}
	if (rc == 0 && (quoted || in_angle))
		rc = -1;
	if (rc == 0 && finish(out, &plain, &angle, has_angle, domain) != 0)
		rc = -1;
	if (rc != 0)
		*bad = list + start;
	buf_free(&plain);
	buf_free(&angle);
	return rc;
}

/* --- the message ----------------------------------------------------------- */

/* The length of a header field's name when line starts a field ("Name:",
 * printable ASCII but ':'), else 0. */
static size_t
field_name(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len && line[i] != ':'; i++)
		if (line[i] < 33 || line[i] > 126)
			return 0;
	return i < len ? i : 0;
}

static int
name_is(const char *line, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(line, name, n) == 0;
}

/* A field's value: its lines unfolded (CRLF dropped), after the colon. */
static void
field_value(const char *field, size_t len, size_t name_len, struct buf *out)
{
	buf_reset(out);
	for (size_t i = name_len + 1; i < len; i++)
		if (field[i] != '\r' && field[i] != '\n')
			buf_addc(out, field[i]);
}

/* The added From: with -F's name, quoted when it needs to be. */
static void
add_from(struct buf *out, const struct msg_opts *o)
{
	const char *s = o->sender[0] != '\0' ? o->sender : "MAILER-DAEMON";

	buf_adds(out, "From: ");
	if (o->fullname != NULL && o->fullname[0] != '\0') {
		buf_addc(out, '"');
		for (const char *p = o->fullname; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				continue;
			if (*p == '"' || *p == '\\')
				buf_addc(out, '\\');
			buf_addc(out, *p);
		}
		buf_adds(out, "\" ");
	}
	if (strchr(s, '@') == NULL && o->domain != NULL)
		buf_printf(out, "<%s@%s>\r\n", s, o->domain);
	else
		buf_printf(out, "<%s>\r\n", s);
}

int
msg_prepare(const char *in, size_t len, const struct msg_opts *o,
    struct buf *out, struct addrs *rcpts, int *has_8bit, char **bad)
{
	const char *where = NULL;
	struct buf head = BUF_INIT, body = BUF_INIT, value = BUF_INIT;
	int in_head = 1, blank = 0, skip = 0, from = 0, date = 0, msgid = 0;
	int rc = 0, first = 1, in_field = 0;
	size_t field_start = 0, i = 0;

	*has_8bit = 0;
	while (i < len) {
		const char *line = in + i, *nl = memchr(line, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - i;

		i += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (!o->ignore_dots && n == 1 && line[0] == '.')
			break;
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)line[k] >= 0x80)
				*has_8bit = 1;
		if (first && n >= 5 && memcmp(line, "From ", 5) == 0) {
			first = 0;		/* an mbox separator */
			continue;
		}
		first = 0;
		if (in_head) {
			size_t nl_len;

			if (n > 0 && (line[0] == ' ' || line[0] == '\t') &&
			    in_field) {
				if (!skip) {
					buf_add(&head, line, n);
					buf_adds(&head, "\r\n");
				}
				continue;
			}
			if ((nl_len = field_name(line, n)) > 0) {
				field_start = head.len;
				in_field = 1;
				skip = name_is(line, nl_len, "Bcc");
				from |= name_is(line, nl_len, "From");
				date |= name_is(line, nl_len, "Date");
				msgid |= name_is(line, nl_len, "Message-ID");
				buf_add(&head, line, n);
				buf_adds(&head, "\r\n");
				if (skip) {
					/* Bcc: kept aside for -t, then cut. */
					head.len = field_start;
					head.p[head.len] = '\0';
					if (o->extract) {
						/* Gather it with its folds. */
						size_t j = i;

						buf_reset(&value);
						buf_add(&value, line + nl_len + 1,
						    n - nl_len - 1);
						while (j < len && (in[j] == ' ' ||
						    in[j] == '\t')) {
							const char *e = memchr(
							    in + j, '\n',
							    len - j);
							size_t m = e ? (size_t)
							    (e - (in + j)) :
							    len - j;

							buf_add(&value, in + j, m);
							j += m + (e != NULL);
						}
						if (rc == 0 && addrs_parse(rcpts,
						    value.p, value.len,
						    o->domain, &where) != 0) {
							*bad = xstrndup(where,
							    value.p + value.len -
							    where);
							rc = -1;
						}
					}
				}
				continue;
			}
			in_head = 0;
			if (n == 0) {
				blank = 1;
				continue;
			}
			/* A body line with no blank line before it. */
			blank = 1;
		}
		buf_add(&body, line, n);
		buf_adds(&body, "\r\n");
	}
	/* -t: To and Cc, read from the kept header section. */
	if (o->extract && rc == 0) {
		size_t at = 0;

		while (at < head.len) {
			const char *f = head.p + at, *end = f;
			size_t nlen = field_name(f, head.len - at);

			/* The field runs to the CRLF not followed by a fold. */
			do {
				end = memchr(end, '\n', head.p + head.len - end);
				end = end != NULL ? end + 1 : head.p + head.len;
			} while (end < head.p + head.len &&
			    (*end == ' ' || *end == '\t'));
			if (name_is(f, nlen, "To") || name_is(f, nlen, "Cc")) {
				field_value(f, (size_t)(end - f), nlen, &value);
				if (addrs_parse(rcpts, value.p, value.len,
				    o->domain, &where) != 0) {
					*bad = xstrndup(where, value.p +
					    value.len - where);
					rc = -1;
					break;
				}
			}
			at = (size_t)(end - head.p);
		}
	}
	buf_reset(out);
	if (!from)
		add_from(out, o);
	if (!date) {
		char d[64];
		time_t t = (time_t)o->now;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_printf(out, "Date: %s\r\n", d);
	}
	if (!msgid)
		buf_printf(out, "Message-ID: <%lld.%ld.%08lx@%s>\r\n", o->now,
		    o->pid, o->nonce & 0xffffffffUL, o->msgid_host);
	buf_add(out, head.p, head.len);
	if (blank || body.len > 0)
		buf_adds(out, "\r\n");
	buf_add(out, body.p, body.len);
	buf_free(&head);
	buf_free(&body);
	buf_free(&value);
	return rc;
}

void
msg_dot_stuff(const char *msg, size_t len, struct buf *out)
{
	int bol = 1;

	buf_reserve(out, len + len / 64 + 8);
	for (size_t i = 0; i < len; i++) {
		if (bol && msg[i] == '.')
			buf_addc(out, '.');
		buf_addc(out, msg[i]);
		bol = msg[i] == '\n';
	}
	if (len > 0 && msg[len - 1] != '\n')
		buf_adds(out, "\r\n");
	buf_adds(out, ".\r\n");
}
