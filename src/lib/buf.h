/*
 * buf: the one growable byte buffer (always NUL-terminated, may hold NULs),
 * and slice: a borrowed {ptr,len} view used for zero-copy parsing.
 * A buf owns its storage; a slice never does.
 */
#ifndef OUTPOST_BUF_H
#define OUTPOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

struct slice {
	const char	*p;
	size_t		 len;
};

#define BUF_INIT	{ NULL, 0, 0 }

void	 buf_reserve(struct buf *, size_t extra);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_adds(struct buf *, const char *);
void	 buf_addc(struct buf *, char);
/* Replaces the first `cut` bytes with n bytes of p, in place (the rest
 * moves once; no second buffer). */
void	 buf_replace_head(struct buf *, size_t cut, const void *p, size_t n);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
void	 buf_reset(struct buf *);
void	 buf_free(struct buf *);
/* Hands the storage to the caller (never NULL) and resets the buf. */
char	*buf_release(struct buf *);
/* The contents as a C string (never NULL, "" when empty). */
const char *buf_cstr(const struct buf *);

static inline struct slice
slice_of(const char *p, size_t len)
{
	struct slice s = { p, len };
	return s;
}

int	 slice_eq(struct slice, const char *);
int	 slice_caseeq(struct slice, const char *);
struct slice slice_trim(struct slice);

#endif
