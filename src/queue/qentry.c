/*
 * qentry: a queue entry in memory (struct qentry, entry.h): freeing,
 * deep copies, its notes; and a message in memory shared by the entries
 * of one commit (struct qmsg, queue.h). The file format is entry.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "queue/entry.h"
#include "queue/queue.h"

size_t
qentry_pending(const struct qentry *e)
{
	size_t k = 0;

	for (size_t i = 0; i < e->nrcpts; i++)
		k += e->rcpts[i].state == QRCPT_PENDING;
	return k;
}

void
qentry_clear(struct qentry *e)
{
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (!e->packed)
			free(e->rcpts[i].addr);
		free(e->rcpts[i].reason);
	}
	free(e->rcpts);		/* packed: the block, with the strings */
	if (!e->packed) {
		free(e->id);
		free(e->domain);
		free(e->mail_from);
		free(e->helo);
		free(e->client_ip);
		free(e->body);
	}
	free(e->last_error);
	for (size_t i = 0; i < 2 * e->nnotes; i++)
		free(e->notes[i]);
	free(e->notes);
	memset(e, 0, sizeof(*e));
}

void
qentry_copy(struct qentry *dst, const struct qentry *src)
{
	*dst = *src;
	dst->packed = 0;
	dst->id = xstrdup(src->id);
	dst->domain = xstrdup(src->domain);
	dst->mail_from = xstrdup(src->mail_from);
	dst->helo = xstrdup_null(src->helo);
	dst->client_ip = xstrdup_null(src->client_ip);
	dst->last_error = xstrdup_null(src->last_error);
	dst->body = xstrdup_null(src->body);
	dst->rcpts = xcalloc(src->nrcpts ? src->nrcpts : 1,
	    sizeof(*dst->rcpts));
	for (size_t i = 0; i < src->nrcpts; i++) {
		dst->rcpts[i].addr = xstrdup(src->rcpts[i].addr);
		dst->rcpts[i].state = src->rcpts[i].state;
		dst->rcpts[i].reason = xstrdup_null(src->rcpts[i].reason);
	}
	dst->notes = NULL;
	dst->nnotes = 0;
	qentry_set_notes(dst, (const char *const *)src->notes);
}

/* Copies s (NULL stays NULL) to *at, moves *at past it, frees s. */
static char *
pack_str(char **at, char *s)
{
	char *p = *at;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(p, s, n);
	*at = p + n;
	free(s);
	return p;
}

static size_t
str_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

void
qentry_pack(struct qentry *e)
{
	size_t n = e->nrcpts ? e->nrcpts : 1, size = n * sizeof(*e->rcpts);
	struct qrcpt *r;
	char *at;

	if (e->packed)
		return;
	size += str_size(e->id) + str_size(e->domain) +
	    str_size(e->mail_from) + str_size(e->helo) +
	    str_size(e->client_ip) + str_size(e->body);
	for (size_t i = 0; i < e->nrcpts; i++)
		size += str_size(e->rcpts[i].addr);
	r = xcalloc(1, size);
	at = (char *)(r + n);
	for (size_t i = 0; i < e->nrcpts; i++) {
		r[i] = e->rcpts[i];
		r[i].addr = pack_str(&at, e->rcpts[i].addr);
	}
	free(e->rcpts);
	e->rcpts = r;
	e->id = pack_str(&at, e->id);
	e->domain = pack_str(&at, e->domain);
	e->mail_from = pack_str(&at, e->mail_from);
	e->helo = pack_str(&at, e->helo);
	e->client_ip = pack_str(&at, e->client_ip);
	e->body = pack_str(&at, e->body);
	e->packed = 1;
}

void
qentry_set_notes(struct qentry *e, const char *const *kv)
{
	size_t n = 0;

	for (size_t i = 0; i < 2 * e->nnotes; i++)
		free(e->notes[i]);
	free(e->notes);
	e->notes = NULL;
	e->nnotes = 0;
	while (kv != NULL && kv[2 * n] != NULL && kv[2 * n + 1] != NULL)
		n++;
	if (n == 0)
		return;
	e->notes = xcalloc(2 * n + 1, sizeof(*e->notes));
	for (size_t i = 0; i < 2 * n; i++)
		e->notes[i] = xstrdup(kv[i]);
	e->nnotes = n;
}

struct qmsg *
qmsg_new(char *data, size_t len)
{
	struct qmsg *m = xmalloc(sizeof(*m));

	m->refs = 1;
	m->len = len;
	m->data = data;
	return m;
}

struct qmsg *
qmsg_ref(struct qmsg *m)
{
	m->refs++;
	return m;
}

void
qmsg_unref(struct qmsg *m)
{
	if (m == NULL || --m->refs > 0)
		return;
	free(m->data);
	free(m);
}
