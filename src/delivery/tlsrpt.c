/*
 * tlsrpt: the per-domain TLS policy counters of tlsrpt.h — a list of
 * (domain, policy type) rows, each with its success count and a short
 * list of failure counts by result type. Owned by this module; bounded
 * (ROWS_MAX rows: past it failures are still logged, uncounted).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "delivery/tlsrpt.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"
#define ROWS_MAX	10000

struct tlsrpt_kind {
	struct tlsrpt_kind	*next;
	unsigned long		 n;
	char			 name[];
};

struct tlsrpt_row {
	struct tlsrpt_row	*next;
	char			*domain;
	char			*policy;
	unsigned long		 ok;
	unsigned long		 failed;
	struct tlsrpt_kind	*kinds;
};

static struct tlsrpt_row *rows;
static size_t nrows;

static struct tlsrpt_row *
row_find(const char *domain, const char *policy, int create)
{
	struct tlsrpt_row *r;

	for (r = rows; r != NULL; r = r->next)
		if (strcasecmp(r->domain, domain) == 0 &&
		    strcmp(r->policy, policy) == 0)
			return r;
	if (!create || nrows >= ROWS_MAX)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->domain = xstrdup(domain);
	r->policy = xstrdup(policy);
	r->next = rows;
	rows = r;
	nrows++;
	return r;
}

static struct tlsrpt_kind *
kind_find(struct tlsrpt_row *r, const char *name, int create)
{
	struct tlsrpt_kind *k, **pp;
	size_t len;

	for (pp = &r->kinds; (k = *pp) != NULL; pp = &k->next)
		if (strcmp(k->name, name) == 0)
			return k;
	if (!create)
		return NULL;
	len = strlen(name) + 1;
	k = xcalloc(1, sizeof(*k) + len);
	memcpy(k->name, name, len);
	*pp = k;			/* first seen, first listed */
	return k;
}

static void
row_text(struct buf *b, const struct tlsrpt_row *r)
{
	buf_printf(b, "successful=%lu failed=%lu", r->ok, r->failed);
	for (const struct tlsrpt_kind *k = r->kinds; k != NULL; k = k->next)
		buf_printf(b, " %s=%lu", k->name, k->n);
}

void
tlsrpt_count(const char *domain, const char *policy, const char *result)
{
	struct tlsrpt_row *r = row_find(domain, policy, 1);
	struct buf b = BUF_INIT;

	if (strcmp(result, TLSRPT_SUCCESS) == 0) {
		if (r != NULL)
			r->ok++;
		return;
	}
	if (r != NULL) {
		r->failed++;
		kind_find(r, result, 1)->n++;
		row_text(&b, r);
	} else
		buf_adds(&b, "not counted: too many domains");
	log_notice(SRC, NULL, "TLS-RPT %s policy of %s: %s (%s)", policy,
	    domain, result, buf_cstr(&b));
	buf_free(&b);
}

unsigned long
tlsrpt_get(const char *domain, const char *policy, const char *result)
{
	struct tlsrpt_row *r = row_find(domain, policy, 0);
	struct tlsrpt_kind *k;

	if (r == NULL)
		return 0;
	if (strcmp(result, TLSRPT_SUCCESS) == 0)
		return r->ok;
	k = kind_find(r, result, 0);
	return k != NULL ? k->n : 0;
}

void
tlsrpt_log_all(void)
{
	struct buf b = BUF_INIT;

	for (const struct tlsrpt_row *r = rows; r != NULL; r = r->next) {
		buf_reset(&b);
		row_text(&b, r);
		log_info(SRC, NULL, "TLS-RPT %s policy of %s: %s", r->policy,
		    r->domain, buf_cstr(&b));
	}
	buf_free(&b);
}

void
tlsrpt_reset(void)
{
	while (rows != NULL) {
		struct tlsrpt_row *r = rows;

		rows = r->next;
		while (r->kinds != NULL) {
			struct tlsrpt_kind *k = r->kinds;

			r->kinds = k->next;
			free(k);
		}
		free(r->domain);
		free(r->policy);
		free(r);
	}
	nrows = 0;
}
