/*
 * report: the operator's view of the queue directory, --qlist (one line
 * per entry, then corrupt and set-aside files) and --qstat (counts). Reads
 * the directory and prints; changes nothing, keeps no state.
 */
#include "queue/report.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
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

/* What a share of the directory's names adds up to. */
struct tally {
	int		 dirfd;
	char		**names;
	unsigned char	*types;
	size_t		 from, to;
	int64_t		 now;
	struct item	*v;		/* --qlist: the items kept */
	size_t		 nv;
	long		 c[QFS_K_OTHER + 1], rc[3], deferred, due;
	uint64_t	 bytes;
};

/* Reads and counts names [from, to): --qstat keeps nothing of an entry
 * once counted, --qlist keeps the entries, corrupt and set-aside ones
 * (in t->v). Files are reached through the directory's fd. */
static void *
tally(void *arg)
{
	struct tally *t = arg;
	struct item tmp;
	struct stat st;
	int err;

	for (size_t i = t->from; i < t->to; i++) {
		struct item *it = t->v != NULL ? &t->v[t->nv] : &tmp;
		const char *why;

		memset(it, 0, sizeof(*it));
		it->kind = qfs_classify(t->names[i]);
		st.st_mode = 0;
		if (it->kind == QFS_K_ENTRY) {
			if (qfs_read_entry_at(t->dirfd, t->names[i],
			    t->types[i] == DT_REG, &it->e, &st, &why,
			    &err) == 0)
				err = 0;
			else if (err == EINVAL && !S_ISREG(st.st_mode))
				it->kind = QFS_K_OTHER;	/* never opened */
			else if (err != ENOENT) {
				it->kind = QFS_K_CORRUPT;
				it->why = xstrdup(why);
			}
			if (it->kind == QFS_K_OTHER)
				err = 0;
		} else {
			err = fstatat(t->dirfd, t->names[i], &st,
			    AT_SYMLINK_NOFOLLOW) == -1 ? errno : 0;
			/* Not a regular file: never opened (a FIFO would
			 * block). */
			if (err == 0 && fs_type_name(st.st_mode) != NULL)
				it->kind = QFS_K_OTHER;
		}
		if (err != 0 && it->kind != QFS_K_CORRUPT) {
			free(t->names[i]);	/* gone since readdir */
			continue;
		}
		t->bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
		t->c[it->kind]++;
		for (size_t r = 0; r < it->e.nrcpts; r++)
			t->rc[it->e.rcpts[r].state]++;
		t->deferred += it->kind == QFS_K_ENTRY && it->e.attempts > 0;
		t->due += it->kind == QFS_K_ENTRY && it->e.next_attempt <= t->now;
		if (t->v == NULL || it->kind == QFS_K_TMP ||
		    it->kind == QFS_K_OTHER || it->kind == QFS_K_BODY) {
			qentry_clear(&it->e);
			free(it->why);
			free(t->names[i]);
			continue;
		}
		it->name = t->names[i];
		t->nv++;
	}
	return NULL;
}

/* --qstat reads with this many threads (the files are independent: on a
 * big queue the reads, not the counting, take the time). */
#define STAT_THREADS	4

/* 1 when name in dirfd is a worker's partition: a directory "w<N>". */
static int
partition(int dirfd, const char *name)
{
	struct stat st;
	size_t i = 1;

	if (name[0] != 'w' || name[1] == '\0')
		return 0;
	for (; name[i] >= '0' && name[i] <= '9'; i++)
		;
	return name[i] == '\0' && fstatat(dirfd, name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Reads dir (its files: a directory is "other" unless skip_parts and a
 * partition w<N>) into *sum: counts added, --qlist's items appended. */
static int
collect(const char *dir, int counts, int skip_parts, struct tally *sum)
{
	struct tally t[STAT_THREADS], *all = &t[0];
	pthread_t th[STAT_THREADS];
	int started[STAT_THREADS] = { 0 };
	char **names = NULL;
	unsigned char *types = NULL;
	struct timespec ts;
	size_t n, nt = 1;
	int dirfd;

	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    qfs_dir_list(dir, !counts, &names, &types, &n) == -1) {
		fprintf(stderr, "outpost: queue directory %s: %s\n", dir,
		    strerror(errno));
		if (dirfd != -1)
			close(dirfd);
		return -1;
	}
	for (size_t i = 0, k = 0; skip_parts && i < n; i++) {
		if (partition(dirfd, names[i]))
			free(names[i]);
		else {
			types[k] = types[i];
			names[k++] = names[i];
		}
		if (i + 1 == n)
			n = k;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(t, 0, sizeof(t));
	if (counts && n >= 4096)
		nt = STAT_THREADS;
	for (size_t k = 0; k < nt; k++) {
		t[k].dirfd = dirfd;
		t[k].names = names;
		t[k].types = types;
		t[k].from = n * k / nt;
		t[k].to = n * (k + 1) / nt;
		t[k].now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	if (!counts)
		t[0].v = xcalloc(n ? n : 1, sizeof(*t[0].v));
	for (size_t k = 1; k < nt; k++)
		started[k] = pthread_create(&th[k], NULL, tally, &t[k]) == 0;
	tally(&t[0]);
	for (size_t k = 1; k < nt; k++) {
		if (started[k])
			pthread_join(th[k], NULL);
		else
			tally(&t[k]);	/* no thread: here */
	}
	for (size_t k = 0; k < nt; k++) {
		for (int i = 0; i <= QFS_K_OTHER; i++)
			sum->c[i] += t[k].c[i];
		for (int i = 0; i < 3; i++)
			sum->rc[i] += t[k].rc[i];
		sum->deferred += t[k].deferred;
		sum->due += t[k].due;
		sum->bytes += t[k].bytes;
	}
	close(dirfd);
	free(types);
	free(names);
	if (all->nv > 0) {
		sum->v = xreallocarray(sum->v, sum->nv + all->nv,
		    sizeof(*sum->v));
		memcpy(sum->v + sum->nv, all->v, all->nv * sizeof(*all->v));
		sum->nv += all->nv;
	}
	free(all->v);
	return 0;
}

/* qfs_list (counts == 0) and qfs_stat: read everything (the directory,
 * then the partitions of smtp.ini nodes' workers), then report. */
static int
report(const char *dir, FILE *out, int counts)
{
	struct tally sum;
	struct item *v;
	const long *c;
	long rcpts;
	size_t nv;
	char **names = NULL;
	unsigned char *types = NULL;
	size_t n = 0;
	int dirfd, parts = 0;

	memset(&sum, 0, sizeof(sum));
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1 &&
	    qfs_dir_list(dir, 1, &names, &types, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			parts += partition(dirfd, names[i]);
			free(names[i]);
		}
		free(names);
		free(types);
	}
	if (dirfd != -1)
		close(dirfd);
	if (collect(dir, counts, parts > 0, &sum) != 0)
		return -1;
	for (long w = 0; parts > 0; w++) {	/* w0, w1, ...: no gap */
		char *p = xasprintf("%s/w%ld", dir, w);
		struct stat st;

		if (stat(p, &st) == -1 || !S_ISDIR(st.st_mode)) {
			free(p);
			break;
		}
		if (collect(p, counts, 0, &sum) != 0) {
			free(p);
			break;
		}
		free(p);
	}
	v = sum.v;
	nv = sum.nv;
	if (nv > 0)
		qsort(v, nv, sizeof(*v), cmp_item);
	for (size_t i = 0; i < nv && !counts; i++)
		show_item(out, &v[i]);
	c = sum.c;
	rcpts = sum.rc[0] + sum.rc[1] + sum.rc[2];
	if (counts)
		fprintf(out, "entries %ld\nrecipients %ld\n"
		    "recipients_pending %ld\nrecipients_delivered %ld\n"
		    "recipients_bounced %ld\ndeferred %ld\ndue %ld\n"
		    "corrupt %ld\nset_aside %ld\ntemp %ld\nother %ld\n"
		    "bodies %ld\nbytes %" PRIu64 "\n", c[QFS_K_ENTRY], rcpts,
		    sum.rc[0], sum.rc[1], sum.rc[2], sum.deferred,
		    sum.due, c[QFS_K_CORRUPT], c[QFS_K_ASIDE], c[QFS_K_TMP],
		    c[QFS_K_OTHER], c[QFS_K_BODY], sum.bytes);
	else
		fprintf(out, "-- %ld entr%s, %ld recipient%s (%ld pending), "
		    "%ld corrupt, %ld set aside, %ld being written, %ld "
		    "message bod%s\n",
		    c[QFS_K_ENTRY], c[QFS_K_ENTRY] == 1 ? "y" : "ies",
		    rcpts, rcpts == 1 ? "" : "s", sum.rc[0], c[QFS_K_CORRUPT],
		    c[QFS_K_ASIDE], c[QFS_K_TMP], c[QFS_K_BODY],
		    c[QFS_K_BODY] == 1 ? "y" : "ies");
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
