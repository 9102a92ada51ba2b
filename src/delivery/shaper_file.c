/*
 * shaper_file: ROOT/run/shaping.tsv, the shaping state per destination
 * (written by mta.c's timer, read by --qstat). Owns nothing between calls.
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

void
shaper_file_report(FILE *out, const char *root)
{
	char *path = xasprintf("%s/run/shaping.tsv", root);
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_FILE];

	free(path);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fld[9], *p = line, until[32] = "-";
		size_t n = 0;
		long long u;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		while (n < 9) {
			fld[n++] = p;
			if ((p = strchr(p, '\t')) == NULL)
				break;
			*p++ = '\0';
		}
		if (n < 9)
			continue;
		if ((u = strtoll(fld[7], NULL, 10)) > 0) {
			time_t t = (time_t)u;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
			    &tm);
		}
		fprintf(out, "destination %s mode=%s queued=%s inflight=%s "
		    "limit=%s step=%s waiting=%s suspended_until=%s last=%s\n",
		    fld[0], fld[1], fld[2], fld[3],
		    strcmp(fld[4], "0") == 0 ? "none" : fld[4], fld[5], fld[6],
		    until, fld[8][0] != '\0' ? fld[8] : "-");
	}
	fclose(f);
}
