/*
 * report: the operator's view of the queue directory, --qlist (one line
 * per entry, then corrupt and set-aside files) and --qstat (counts). Reads
 * the directory and prints; changes nothing, keeps no state.
 */
#include "queue/report.h"

#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xmalloc.h"
#include "queue/scan.h"

/* A file of the directory, as --qlist and --qstat see it. */
struct item {
	enum qfs_kind	 kind;
	char		*name;
	char		*why;		/* QFS_K_CORRUPT */
	struct qentry	 e;		/* QFS_K_ENTRY */
};

/* Entries by next attempt then id; then corrupt, then set-aside files. */
static int
cmp_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == QFS_K_ENTRY && a->e.next_attempt != b->e.next_attempt)
		return a->e.next_attempt < b->e.next_attempt ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* s on one line: controls as \xHH; when quoted also \" and \\. */
static void
show(FILE *out, const char *s, int quoted)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			fprintf(out, "\\x%02X", (unsigned char)*s);
		else if (quoted && (*s == '"' || *s == '\\'))
			fprintf(out, "\\%c", *s);
		else
			fputc(*s, out);
}

/* One line of --qlist. */
static void
show_item(FILE *out, const struct item *it)
{
	const struct qentry *e = &it->e;
	time_t t = (time_t)(e->next_attempt / 1000);
	char when[64];
	struct tm tm;

	if (it->kind != QFS_K_ENTRY) {
		show(out, it->name, 0);
		if (it->kind == QFS_K_CORRUPT)
			fprintf(out, " CORRUPT: %s\n", it->why);
		else
			fputs(" SET ASIDE\n", out);
		return;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "@%" PRId64, e->next_attempt);
	fprintf(out, "%s ", e->id);
	show(out, e->domain, 0);
	fprintf(out, " rcpts=%zu attempts=%u next=%s%s from=<", e->nrcpts,
	    e->attempts, when, e->held ? " held" : "");
	show(out, e->mail_from, 0);
	fputs("> to=", out);
	for (size_t r = 0; r < e->nrcpts; r++) {
		fputs(r > 0 ? ",<" : "<", out);
		show(out, e->rcpts[r].addr, 0);
		fputc('>', out);
		if (e->rcpts[r].state != QRCPT_PENDING)
			fprintf(out, "(%s)",
			    qrcpt_state_name(e->rcpts[r].state));
	}
	if (e->last_error != NULL) {
		fputs(" last_error=\"", out);
		show(out, e->last_error, 1);
		fputc('"', out);
	}
	fputc('\n', out);
}

/* qfs_list (counts == 0) and qfs_stat: read everything, then report. */
static int
report(const char *dir, FILE *out, int counts)
{
	long c[QFS_K_OTHER + 1] = { 0 }, rc[3] = { 0 }, deferred = 0, due = 0;
	struct item *v;
	char **names = NULL, *path;
	uint64_t bytes = 0;
	struct timespec ts;
	struct stat st;
	size_t n, nv = 0;
	int64_t now;
	int err;

	if (qfs_dir_names(dir, &names, &n) == -1) {
		fprintf(stderr, "outpost: queue directory %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		struct item *it = &v[nv];
		const char *why;

		path = xasprintf("%s/%s", dir, names[i]);
		err = lstat(path, &st) == -1 ? errno : 0;
		free(path);
		it->kind = qfs_classify(names[i]);
		/* Not a regular file: never opened (a FIFO would block). */
		if (err == 0 && qfs_type_name(st.st_mode) != NULL)
			it->kind = QFS_K_OTHER;
		if (err == 0 && it->kind == QFS_K_ENTRY &&
		    qfs_read_entry(dir, names[i], &it->e, &why, &err) == -1 &&
		    err != ENOENT) {
			it->kind = QFS_K_CORRUPT;
			it->why = xstrdup(why);
		}
		if (err != 0 && it->kind != QFS_K_CORRUPT) {
			free(names[i]);		/* gone since readdir */
			continue;
		}
		bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
		c[it->kind]++;
		if (it->kind == QFS_K_TMP || it->kind == QFS_K_OTHER ||
		    it->kind == QFS_K_BODY) {
			free(names[i]);
			continue;
		}
		it->name = names[i];
		nv++;
		for (size_t r = 0; r < it->e.nrcpts; r++)
			rc[it->e.rcpts[r].state]++;
		deferred += it->kind == QFS_K_ENTRY && it->e.attempts > 0;
		due += it->kind == QFS_K_ENTRY && it->e.next_attempt <= now;
	}
	free(names);
	if (nv > 0)
		qsort(v, nv, sizeof(*v), cmp_item);
	for (size_t i = 0; i < nv && !counts; i++)
		show_item(out, &v[i]);
	if (counts)
		fprintf(out, "entries %ld\nrecipients %ld\n"
		    "recipients_pending %ld\nrecipients_delivered %ld\n"
		    "recipients_bounced %ld\ndeferred %ld\ndue %ld\n"
		    "corrupt %ld\nset_aside %ld\ntemp %ld\nother %ld\n"
		    "bodies %ld\nbytes %" PRIu64 "\n", c[QFS_K_ENTRY],
		    rc[0] + rc[1] + rc[2], rc[0], rc[1], rc[2], deferred, due,
		    c[QFS_K_CORRUPT], c[QFS_K_ASIDE], c[QFS_K_TMP],
		    c[QFS_K_OTHER], c[QFS_K_BODY], bytes);
	else
		fprintf(out, "-- %ld entr%s, %ld recipient%s (%ld pending), "
		    "%ld corrupt, %ld set aside, %ld being written, %ld "
		    "message bod%s\n",
		    c[QFS_K_ENTRY], c[QFS_K_ENTRY] == 1 ? "y" : "ies",
		    rc[0] + rc[1] + rc[2], rc[0] + rc[1] + rc[2] == 1 ? "" :
		    "s", rc[0], c[QFS_K_CORRUPT], c[QFS_K_ASIDE], c[QFS_K_TMP],
		    c[QFS_K_BODY], c[QFS_K_BODY] == 1 ? "y" : "ies");
	for (size_t i = 0; i < nv; i++) {
		qentry_clear(&v[i].e);
		free(v[i].name);
		free(v[i].why);
	}
	free(v);
	return 0;
}

int
qfs_list(const char *dir, FILE *out)
{
	return report(dir, out, 0);
}

int
qfs_stat(const char *dir, FILE *out)
{
	return report(dir, out, 1);
}
