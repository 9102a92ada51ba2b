/*
 * refs: how many entries on disk refer to each body file — the count
 * that removes a message's body with its last entry. Loop thread only.
 */
#ifndef OUTPOST_QUEUE_REFS_H
#define OUTPOST_QUEUE_REFS_H

#include <stddef.h>

struct qrefs;

struct qrefs	*qrefs_new(void);
void		 qrefs_free(struct qrefs *);
/* n more entries refer to body id. */
void		 qrefs_add(struct qrefs *, const char *id, size_t n);
/* One fewer: the entries still referring to id (0: forgotten, or never
 * known). */
size_t		 qrefs_drop(struct qrefs *, const char *id);
size_t		 qrefs_get(const struct qrefs *, const char *id);
/* Bodies referred to. */
size_t		 qrefs_size(const struct qrefs *);

#endif
