/*
 * shaper_file: ROOT/run/shaping.tsv (a worker's: shaping.w<i>.tsv), the
 * shaping state per destination (written by mta.c's timer, read and the
 * workers' files summed by --qstat). Owns nothing between calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "delivery/shaper.h"
#include "delivery/shaper_file.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#define HEADER		"# outpost shaping 2"
#define LINE_MAX_FILE	1024

struct text {
	struct buf	*out;
	uint64_t	 mono;
	int64_t		 epoch_ms;
};

static void
row(void *arg, const struct shaper_stat *st)
{
	struct text *t = arg;
	int64_t until = 0;
	char last[SHAPER_REPLY_MAX + 1];
	size_t i;

	if (st->mode == SHAPER_SUSPENDED && st->until > t->mono)
		until = (t->epoch_ms + (int64_t)(st->until - t->mono) + 999) /
		    1000;
	snprintf(last, sizeof(last), "%s", st->last != NULL ? st->last : "");
	for (i = 0; last[i] != '\0'; i++)
		if (last[i] == '\t' || last[i] == '\r' || last[i] == '\n')
			last[i] = ' ';
	buf_printf(t->out, "%s\t%s\t%u\t%u\t%u\t%u\t%u\t%" PRId64 "\t%s\n",
	    st->key, shaper_mode_name(st->mode), st->queued, st->inflight,
	    st->limit,
	    st->step, st->waiting, until, last);
}

void
shaper_file_text(struct shaper *sp, uint64_t mono, int64_t epoch_ms,
    struct buf *out)
{
	struct text t = { out, mono, epoch_ms };

	buf_printf(out, "%s\n", HEADER);
	shaper_foreach(sp, mono, row, &t);
}

int
shaper_file_write(const char *path, const char *text, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, rc = -1, saved;
	ssize_t w;
	size_t off = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		goto out;
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	if (off == len && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, path);
	}
	if (fd != -1)
		close(fd);
	if (rc != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
	}
out:
	free(tmp);
	return rc;
}

/* One destination's line, summed over the workers' files. */
struct dest {
	char		*key, *mode, *last;
	unsigned long	 queued, inflight, limit, step, waiting;
	long long	 until;
	int		 unlimited;
};

static int
mode_rank(const char *mode)
{
	return strcmp(mode, "suspended") == 0 ? 2 :
	    strcmp(mode, "backoff") == 0 ? 1 : 0;
}

/* A line's nine fields into d (a new key) or added to it (the workers'
 * counts and limits summed; the worst mode with its reply, the latest
 * suspension, the highest step). */
static void
merge(struct dest *d, int fresh, char **fld)
{
	unsigned long limit = strtoul(fld[4], NULL, 10);
	long long until = strtoll(fld[7], NULL, 10);

	if (fresh) {
		d->key = xstrdup(fld[0]);
		d->mode = xstrdup(fld[1]);
		d->last = xstrdup(fld[8]);
	} else if (mode_rank(fld[1]) > mode_rank(d->mode)) {
		free(d->mode);
		free(d->last);
		d->mode = xstrdup(fld[1]);
		d->last = xstrdup(fld[8]);
	}
	d->queued += strtoul(fld[2], NULL, 10);
	d->inflight += strtoul(fld[3], NULL, 10);
	d->unlimited |= limit == 0;
	d->limit += limit;
	if (strtoul(fld[5], NULL, 10) > d->step)
		d->step = strtoul(fld[5], NULL, 10);
	d->waiting += strtoul(fld[6], NULL, 10);
	if (until > d->until)
		d->until = until;
}

/* Reads path's lines into *v (n of them, cap allocated), merging keys. */
static void
read_file(const char *path, struct dest **v, size_t *n, size_t *cap)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_FILE];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fld[9], *p = line;
		size_t k = 0, i;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (k < 9) {
			fld[k++] = p;
			if ((p = strchr(p, '\t')) == NULL)
				break;
			*p++ = '\0';
		}
		if (k < 9)
			continue;
		for (i = 0; i < *n && strcmp((*v)[i].key, fld[0]) != 0; i++)
			;
		if (i == *n) {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 16;
				*v = xreallocarray(*v, *cap, sizeof(**v));
			}
			memset(&(*v)[(*n)++], 0, sizeof(**v));
		}
		merge(&(*v)[i], (*v)[i].key == NULL, fld);
	}
	fclose(f);
}

void
shaper_file_report(FILE *out, const char *root, unsigned nodes)
{
	struct dest *v = NULL;
	size_t n = 0, cap = 0;

	if (nodes <= 1) {
		char *path = xasprintf("%s/run/shaping.tsv", root);

		read_file(path, &v, &n, &cap);
		free(path);
	}
	for (unsigned w = 0; nodes > 1 && w < nodes; w++) {
		char *path = xasprintf("%s/run/shaping.w%u.tsv", root, w);

		read_file(path, &v, &n, &cap);
		free(path);
	}
	for (size_t i = 0; i < n; i++) {
		struct dest *d = &v[i];
		char until[32] = "-";

		if (d->until > 0) {
			time_t t = (time_t)d->until;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
			    &tm);
		}
		fprintf(out, "destination %s mode=%s queued=%lu inflight=%lu "
		    "limit=", d->key, d->mode, d->queued, d->inflight);
		if (d->unlimited)
			fputs("none", out);
		else
			fprintf(out, "%lu", d->limit);
		fprintf(out, " step=%lu waiting=%lu suspended_until=%s "
		    "last=%s\n", d->step, d->waiting, until,
		    d->last[0] != '\0' ? d->last : "-");
		free(d->key);
		free(d->mode);
		free(d->last);
	}
	free(v);
}
