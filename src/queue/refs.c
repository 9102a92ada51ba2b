/*
 * refs: a count per body id in a chained hash table (FNV-1a), grown to
 * keep one key a bucket on average. Pure bookkeeping; no I/O.
 */
#include "queue/refs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "lib/util.h"

struct ref {
	struct ref	*next;
	size_t		 n;
	char		 id[];
};

struct qrefs {
	struct ref	**b;
	size_t		  nb;		/* a power of two */
	size_t		  size;
};

struct qrefs *
qrefs_new(void)
{
	struct qrefs *r = xcalloc(1, sizeof(*r));

	r->nb = 64;
	r->b = xcalloc(r->nb, sizeof(*r->b));
	return r;
}

void
qrefs_free(struct qrefs *r)
{
	struct ref *p, *next;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nb; i++)
		for (p = r->b[i]; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
	free(r->b);
	free(r);
}

static struct ref **
slot(const struct qrefs *r, const char *id)
{
	struct ref **pp = &r->b[fnv1a(FNV_BASIS, id) & (r->nb - 1)];

	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
grow(struct qrefs *r)
{
	size_t nb = r->nb * 2;
	struct ref **b = xcalloc(nb, sizeof(*b)), **slot, *p, *next;

	for (size_t i = 0; i < r->nb; i++)
		for (p = r->b[i]; p != NULL; p = next) {
			next = p->next;
			slot = &b[fnv1a(FNV_BASIS, p->id) & (nb - 1)];
			p->next = *slot;
			*slot = p;
		}
	free(r->b);
	r->b = b;
	r->nb = nb;
}

void
qrefs_add(struct qrefs *r, const char *id, size_t n)
{
	struct ref **pp = slot(r, id), *p;
	size_t len;

	if (*pp != NULL) {
		(*pp)->n += n;
		return;
	}
	len = strlen(id) + 1;
	p = xmalloc(sizeof(*p) + len);
	memcpy(p->id, id, len);
	p->n = n;
	p->next = NULL;
	*pp = p;
	if (++r->size > r->nb)
		grow(r);
}

size_t
qrefs_drop(struct qrefs *r, const char *id)
{
	struct ref **pp = slot(r, id), *p = *pp;

	if (p == NULL)
		return 0;
	if (--p->n > 0)
		return p->n;
	*pp = p->next;
	free(p);
	r->size--;
	return 0;
}

size_t
qrefs_get(const struct qrefs *r, const char *id)
{
	struct ref *p = *slot(r, id);

	return p != NULL ? p->n : 0;
}

size_t
qrefs_size(const struct qrefs *r)
{
	return r->size;
}
