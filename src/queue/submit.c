/*
 * queue/submit: a message being submitted (struct smtp_tx) — envelope,
 * message, queue headers, hooks' view, split into entries. It owns its
 * strings and message until tx_take_message(); tx_free() cancels a commit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "lib/idn.h"
#include "lib/util.h"
#include "proto/message.h"
#include "lib/xmalloc.h"
#include "plugins/plugin.h"
#include "queue/dkim_worker.h"
#include "queue/queue.h"
#include "queue/submit.h"

/* A commit waiting for its DKIM signatures (queue/dkim_worker). */
struct sign_wait {
	struct smtp_tx	*tx;
	struct queue	*q;
	struct qentry	*entries;
	size_t		 n;
	queue_done_fn	 done;
	void		*arg;
};

struct smtp_tx {
	char		 uuid[UUID_LEN + 16];
	char		*mail_from;
	unsigned	 flags;
	char		**rcpts;	/* "local@domain" */
	char		**domains;
	size_t		 nrcpts;
	struct queue_job *job;
	struct buf	 msg;
	size_t		 trace_len;	/* the trace header at its start */
	char		**notes;	/* key, value, ..., NULL; or NULL */
	size_t		 nnotes;	/* pairs */
	struct dkim_job	*sign_job;	/* signing before the commit */
	struct sign_wait *wait;
};

struct smtp_tx *
tx_new(const char *conn_uuid, unsigned n, const struct smtp_addr *from,
    unsigned flags)
{
	struct smtp_tx *tx = xcalloc(1, sizeof(*tx));
	struct buf b = BUF_INIT;

	snprintf(tx->uuid, sizeof(tx->uuid), "%s.%u", conn_uuid, n);
	smtp_addr_format(from, &b);
	tx->mail_from = buf_release(&b);
	tx->flags = flags;
	return tx;
}

void
tx_free(struct smtp_tx *tx)
{
	if (tx == NULL)
		return;
	if (tx->job != NULL)
		queue_job_cancel(tx->job);
	if (tx->sign_job != NULL) {
		dkim_job_cancel(tx->sign_job);
		for (size_t i = 0; i < tx->wait->n; i++)
			qentry_clear(&tx->wait->entries[i]);
		free(tx->wait->entries);
		free(tx->wait);
	}
	for (size_t i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i]);
		free(tx->domains[i]);
	}
	free(tx->rcpts);
	free(tx->domains);
	for (size_t i = 0; i < 2 * tx->nnotes; i++)
		free(tx->notes[i]);
	free(tx->notes);
	free(tx->mail_from);
	buf_free(&tx->msg);
	free(tx);
}

const char *
tx_uuid(const struct smtp_tx *tx)
{
	return tx->uuid;
}

const char *
tx_mail_from(const struct smtp_tx *tx)
{
	return tx->mail_from;
}

unsigned
tx_flags(const struct smtp_tx *tx)
{
	return tx != NULL ? tx->flags : 0;
}

size_t
tx_rcpt_count(const struct smtp_tx *tx)
{
	return tx != NULL ? tx->nrcpts : 0;
}

const char *
tx_rcpt(const struct smtp_tx *tx, size_t i)
{
	return tx->rcpts[i];
}

void
tx_add_rcpt(struct smtp_tx *tx, const struct smtp_addr *a)
{
	struct buf b = BUF_INIT;

	smtp_addr_format(a, &b);
	tx->rcpts = xreallocarray(tx->rcpts, tx->nrcpts + 1,
	    sizeof(*tx->rcpts));
	tx->domains = xreallocarray(tx->domains, tx->nrcpts + 1,
	    sizeof(*tx->domains));
	tx->rcpts[tx->nrcpts] = buf_release(&b);
	tx->domains[tx->nrcpts] = xstrdup(a->domain);
	tx->nrcpts++;
}

void
tx_set_job(struct smtp_tx *tx, struct queue_job *job)
{
	tx->job = job;
}

/* --- message and headers -------------------------------------------------- */

/* Whether the header section has a field called name. */
static int
has_header(const struct buf *m, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = m->p, *end = m->p + m->len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q = p + nlen;

		if (eol == NULL)
			eol = end;
		if (*p == '\r')		/* the empty line */
			return 0;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0) {
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			if (q < eol && *q == ':')
				return 1;
		}
		p = eol + 1;
	}
	return 0;
}

void
tx_set_message(struct smtp_tx *tx, const char *msg, size_t len)
{
	buf_reset(&tx->msg);
	buf_add(&tx->msg, msg, len);
}

void
tx_put_message(struct smtp_tx *tx, struct buf *msg, size_t trace_len)
{
	buf_free(&tx->msg);
	tx->msg = *msg;
	tx->trace_len = trace_len;
	*msg = (struct buf)BUF_INIT;
}

int
tx_take_header(struct smtp_tx *tx, const char *name, struct buf *value)
{
	size_t at = tx->trace_len, n;

	if (tx->msg.len <= at)
		return 0;
	n = msg_header_remove(tx->msg.p + at, tx->msg.len - at, name, value);
	tx->msg.len -= n;
	return n > 0;
}

void
tx_add_note(struct smtp_tx *tx, const char *key, const char *value)
{
	tx->notes = xreallocarray(tx->notes, 2 * tx->nnotes + 3,
	    sizeof(*tx->notes));
	tx->notes[2 * tx->nnotes] = xstrdup(key);
	tx->notes[2 * tx->nnotes + 1] = xstrdup(value);
	tx->nnotes++;
	tx->notes[2 * tx->nnotes] = NULL;
}

void
tx_add_queue_headers(struct smtp_tx *tx, const char *received_header,
    const char *me)
{
	struct buf h = BUF_INIT;
	size_t at = tx->trace_len;
	char date[64];

	date_rfc5322(date, sizeof(date), time(NULL));
	if (received_header != NULL)
		buf_printf(&h, "Received: (%s); %s\r\n", received_header, date);
	/* The trace header stays next; missing fields go after it. */
	buf_add(&h, tx->msg.p, at);
	if (!has_header(&tx->msg, "Message-Id"))
		buf_printf(&h, "Message-Id: <%s@%s>\r\n", tx->uuid, me);
	if (!has_header(&tx->msg, "Date"))
		buf_printf(&h, "Date: %s\r\n", date);
	buf_replace_head(&tx->msg, at, h.p, h.len);
	buf_free(&h);
}

static void
view_note(void *arg, const char *key, const char *value)
{
	tx_add_note(arg, key, value);
}

void
tx_view(struct smtp_tx *tx, struct op_txn *v, const char *ip,
    const char *helo)
{
	v->uuid = tx->uuid;
	v->mail_from = tx->mail_from;
	v->rcpts = (const char **)tx->rcpts;
	v->nrcpts = (unsigned)tx->nrcpts;
	v->remote_ip = ip;
	v->helo = helo;
	v->msg = tx->msg.p ? tx->msg.p : "";
	v->msglen = tx->msg.len;
	v->set_note = view_note;
	v->note_arg = tx;
}

/* --- queue entries ----------------------------------------------------------- */

static void
entry_init(struct qentry *e, const struct smtp_tx *tx, size_t n,
    const char *domain, const char *helo, const char *ip, int64_t now)
{
	memset(e, 0, sizeof(*e));
	e->id = xasprintf("%s.%zu", tx->uuid, n);
	e->domain = xstrdup(domain);
	e->mail_from = xstrdup(tx->mail_from);
	e->flags = tx->flags;
	e->queue_time = e->next_attempt = now;
	e->helo = xstrdup(helo);
	e->client_ip = xstrdup(ip);
}

static void
entry_add_rcpt(struct qentry *e, const char *addr)
{
	e->rcpts = xreallocarray(e->rcpts, e->nrcpts + 1, sizeof(*e->rcpts));
	memset(&e->rcpts[e->nrcpts], 0, sizeof(*e->rcpts));
	e->rcpts[e->nrcpts].addr = xstrdup(addr);
	e->rcpts[e->nrcpts].state = QRCPT_PENDING;
	e->nrcpts++;
}

/* One destination: the same name, or the same A-labels (bücher.test and
 * xn--bcher-kva.test share an entry, named as the first was sent). */
static int
same_domain(const char *a, const char *b)
{
	char *x, *y;
	int same;

	if (strcmp(a, b) == 0)
		return 1;
	if (idn_is_ascii(a) && idn_is_ascii(b))
		return 0;
	if (idn_domain_ascii(a, &x, NULL) != 0)
		return 0;
	if (idn_domain_ascii(b, &y, NULL) != 0) {
		free(x);
		return 0;
	}
	same = strcasecmp(x != NULL ? x : a, y != NULL ? y : b) == 0;
	free(x);
	free(y);
	return same;
}

size_t
tx_entries(struct smtp_tx *tx, int always_split, const char *helo,
    const char *ip, struct qentry **out)
{
	struct qentry *e = xcalloc(tx->nrcpts, sizeof(*e));
	struct timeval tv;
	size_t n = 0;
	int64_t now;

	gettimeofday(&tv, NULL);
	now = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	/* Scanned once, here: delivery reads the flag (SMTPUTF8 downgrade). */
	if ((tx->flags & QE_SMTPUTF8) && (tx->msg.p == NULL ||
	    !idn_header_nonascii(tx->msg.p, tx->msg.len)))
		tx->flags |= QE_ASCII_HEADERS;
	for (size_t i = 0; i < tx->nrcpts; i++) {
		size_t k = n;

		if (!always_split)
			for (k = 0; k < n; k++)
				if (same_domain(e[k].domain, tx->domains[i]))
					break;
		if (k == n) {
			entry_init(&e[n], tx, n + 1, tx->domains[i], helo, ip,
			    now);
			n++;
		}
		entry_add_rcpt(&e[k], tx->rcpts[i]);
	}
	*out = e;
	return n;
}

char *
tx_take_message(struct smtp_tx *tx, size_t *len)
{
	*len = tx->msg.len;
	if (tx->msg.p == NULL)
		return xstrdup("");
	return buf_release(&tx->msg);
}

static const char *
note_value(const char *const *notes, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; notes != NULL && notes[i] != NULL &&
	    notes[i + 1] != NULL; i += 2)
		if (strcmp(notes[i], key) == 0)
			v = notes[i + 1];	/* the last one wins */
	return v;
}

/* The message back from the signing thread: on to the queue. */
static void
signed_ready(void *arg, char *msg, size_t len)
{
	struct smtp_tx *tx = arg;
	struct sign_wait *wt = tx->wait;

	tx->sign_job = NULL;
	tx->wait = NULL;
	tx_set_job(tx, queue_commit(wt->q, wt->entries, wt->n, msg, len,
	    wt->done, wt->arg));
	free(wt->entries);
	free(wt);
}

void
tx_commit(struct smtp_tx *tx, struct queue *q, int always_split,
    const char *helo, const char *ip, const char *const *notes,
    queue_done_fn done, void *arg)
{
	struct qentry *entries;
	const char **all = NULL;
	size_t n, len, k = 0;
	char *msg;

	/* The caller's notes, then the transaction's own. */
	if (tx->nnotes > 0) {
		size_t given = 0;

		while (notes != NULL && notes[given] != NULL)
			given++;
		all = xcalloc(given + 2 * tx->nnotes + 1, sizeof(*all));
		for (size_t i = 0; i < given; i++)
			all[k++] = notes[i];
		for (size_t i = 0; i < 2 * tx->nnotes; i++)
			all[k++] = tx->notes[i];
		notes = all;
	}
	n = tx_entries(tx, always_split, helo, ip, &entries);
	if (notes != NULL)
		for (size_t i = 0; i < n; i++)
			qentry_set_notes(&entries[i], notes);
	msg = tx_take_message(tx, &len);
	/* DKIM signing first, off the loop, when the dkim plugin runs. */
	tx->sign_job = dkim_worker_submit(msg, len, tx->uuid, tx->mail_from,
	    note_value(notes, "dkim_domain"), note_value(notes,
	    "dkim_selector"), signed_ready, tx);
	free(all);
	if (tx->sign_job != NULL) {
		tx->wait = xcalloc(1, sizeof(*tx->wait));
		*tx->wait = (struct sign_wait){ tx, q, entries, n, done, arg };
		return;
	}
	tx_set_job(tx, queue_commit(q, entries, n, msg, len, done, arg));
	free(entries);
}
