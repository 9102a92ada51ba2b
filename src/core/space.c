/*
 * space: free-space thresholds (queue_min_free, records_min_free): their
 * syntax, statvfs figures, the test against a rule, the wording shared by
 * the log and --qstat, and space_watch, one directory's low/ok episodes.
 * Keeps no state of its own; a watch belongs to its owner (queue/space.c,
 * records/space.c), which polls it on the loop.
 */
#include "core/space.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "core/log.h"
#include "core/worker.h"
#include "lib/xmalloc.h"

#define SRC	"core"

int
space_min_parse(const char *s, int bytes, struct space_min *m)
{
	static const char units[] = "kmgt";
	size_t digits = 0, dots = 0, i;
	const char *u;
	double v, mult = 1;
	char *end;

	memset(m, 0, sizeof(*m));
	if (s == NULL || strlen(s) >= sizeof(m->text))
		return -1;
	for (i = 0; (s[i] >= '0' && s[i] <= '9') || s[i] == '.'; i++) {
		digits += s[i] != '.';
		dots += s[i] == '.';
	}
	if (digits == 0 || dots > 1)
		return -1;
	v = strtod(s, &end);
	if (end != s + i)
		return -1;
	if (strcmp(s + i, "%") == 0) {
		if (v >= 100)
			return -1;
		m->kind = v > 0 ? SPACE_PCT : SPACE_OFF;
	} else {
		if (s[i] != '\0') {
			if (!bytes || s[i + 1] != '\0' || (u = strchr(units,
			    tolower((unsigned char)s[i]))) == NULL)
				return -1;
			mult = ldexp(1, 10 * (int)(u - units + 1));
		} else if (dots > 0)
			return -1;	/* "1.5" of what? */
		v = floor(v * mult);
		if (v >= 9.2e18)
			return -1;
		m->kind = v > 0 ? SPACE_ABS : SPACE_OFF;
	}
	m->v = v;
	memcpy(m->text, s, strlen(s) + 1);
	return 0;
}

uint64_t
space_min_value(const struct space_min *m, uint64_t total)
{
	switch (m->kind) {
	case SPACE_ABS:
		return (uint64_t)m->v;
	case SPACE_PCT:
		return (uint64_t)ceil((double)total * m->v / 100);
	default:
		return 0;
	}
}

int
space_measure(const char *path, struct space_stat *st)
{
	struct statvfs vfs;
	struct stat sb;
	char *p = xmalloc(strlen(path) + 2), *slash;	/* room for "." */
	int rc, err = 0;

	strcpy(p, path);
	/* A directory not created yet: the file system it will be on. */
	for (;;) {
		if (statvfs(p, &vfs) == 0 && stat(p, &sb) == 0) {
			rc = 0;
			break;
		}
		rc = -1;
		err = errno;
		if (errno != ENOENT || strcmp(p, "/") == 0 ||
		    strcmp(p, ".") == 0)
			break;
		if ((slash = strrchr(p, '/')) == NULL)
			strcpy(p, ".");
		else if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	free(p);
	if (rc == -1) {
		errno = err;
		return -1;
	}
	st->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	st->total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	st->ifree = (uint64_t)vfs.f_favail;
	st->itotal = (uint64_t)vfs.f_files;
	st->dev = sb.st_dev;
	return 0;
}

unsigned
space_test(const struct space_stat *st, const struct space_rule *r,
    uint64_t extra)
{
	unsigned low = 0;

	if (r->bytes.kind != SPACE_OFF &&
	    (st->avail < extra ||
	    st->avail - extra < space_min_value(&r->bytes, st->total)))
		low |= SPACE_LOW_BYTES;
	/* Some file systems (btrfs) do not count inodes: never short. */
	if (r->inodes.kind != SPACE_OFF && st->itotal > 0 &&
	    st->ifree < space_min_value(&r->inodes, st->itotal))
		low |= SPACE_LOW_INODES;
	return low;
}

static size_t
threshold(char *out, size_t size, const struct space_min *m,
    uint64_t total, const char *key, const char *suffix)
{
	int n;

	if (m->kind == SPACE_OFF)
		n = snprintf(out, size, "%s%s off", key, suffix);
	else
		n = snprintf(out, size, "%s%s %s = %llu", key, suffix,
		    m->text, (unsigned long long)space_min_value(m, total));
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void
space_describe(char *out, size_t size, const struct space_stat *st,
    const struct space_rule *r, const char *key)
{
	size_t n;

	if (size == 0)
		return;
	n = (size_t)snprintf(out, size, "%llu bytes free (",
	    (unsigned long long)st->avail);
	if (n >= size)
		return;
	n += threshold(out + n, size - n, &r->bytes, st->total, key, "");
	if (st->itotal == 0)
		snprintf(out + n, size - n, "), inodes not counted");
	else {
		n += (size_t)snprintf(out + n, size - n, "), %llu inodes "
		    "free (", (unsigned long long)st->ifree);
		if (n >= size)
			return;
		n += threshold(out + n, size - n, &r->inodes, st->itotal, key,
		    "_inodes");
		snprintf(out + n, size - n, ")");
	}
}

void
space_print(FILE *out, const char *what, const char *key, const char *path,
    const struct space_stat *st, int err, const struct space_rule *r)
{
	char figures[512];

	if (st == NULL) {
		fprintf(out, "%s_space unknown\n%s_free unknown (%s: %s)\n",
		    what, what, path, strerror(err));
		return;
	}
	space_describe(figures, sizeof(figures), st, r, key);
	fprintf(out, "%s_space %s\n%s_free %s on %s\n", what,
	    space_test(st, r, 0) ? "low" : "ok", what, figures, path);
}

void
space_watch_init(struct space_watch *w, const char *path, const char *what,
    const char *key, const char *when_low, const char *when_ok)
{
	memset(w, 0, sizeof(*w));
	w->path = xstrdup(path);
	w->what = what;
	w->key = key;
	w->when_low = when_low;
	w->when_ok = when_ok;
}

void
space_watch_clear(struct space_watch *w)
{
	free(w->path);
	w->path = NULL;
}

int
space_watch_poll(struct space_watch *w, const struct space_rule *r)
{
	char figures[512];
	int low;

	if (space_measure(w->path, &w->st) == -1) {
		if (w->err != errno)
			log_warn(SRC, NULL, "%s: cannot measure the free space "
			    "of %s: %s", w->what, w->path, strerror(errno));
		w->err = errno;
		return w->low;
	}
	w->err = 0;
	w->measured = 1;
	low = space_test(&w->st, r, 0) != 0;
	if (low == w->low)
		return low;
	w->low = low;
	if (nodes_worker() > 0)
		return low;	/* the same file system: worker 0 says it */
	space_describe(figures, sizeof(figures), &w->st, r, w->key);
	if (low)
		log_warn(SRC, NULL, "%s: free space low on %s: %s; %s",
		    w->what, w->path, figures, w->when_low);
	else
		log_notice(SRC, NULL, "%s: free space back on %s: %s; %s",
		    w->what, w->path, figures, w->when_ok);
	return low;
}
