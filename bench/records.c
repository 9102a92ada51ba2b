/*
 * records: accounting-record throughput of recwriter against plain write(2),
 * on files in one directory. Built and run by bench/records.sh.
 *
 *   records DIR [N [K]]
 *
 * N records (200000) of about 250 bytes, JSON lines like the outbound
 * logger's, made up front so that no run pays for them, go through:
 *   (a) recwriter, no sync: the loop appends all of them, each with a done
 *       callback, and runs until every callback ran;
 *   (b) recwriter, sync: K (64) records in flight; each done callback
 *       appends the next record, as deliveries waiting for durability do;
 *   (c) write(2) of each record, no sync;
 *   (d) the batches (b) made, as the loop saw them (the callbacks run in
 *       one loop iteration), each written with one write(2) + fdatasync;
 *   (e) write(2) + fdatasync per record, for the first few thousand only:
 *       what durability costs without group commit.
 * Every run writes its own file (DIR/records-<run>.log), removed at the
 * end; the recwriter files are checked for size first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "records/writer.h"

#define PER_RECORD_SYNCS	5000

static struct {
	const char		*dir;
	struct event_base	*base;
	struct rw_stream	*st;
	struct buf		 recs;		/* all records, back to back */
	size_t			*off;		/* record i: off[i]..off[i+1] */
	size_t			 n, k, appended, done;
	unsigned long		 iter, batch_iter;	/* loop iterations */
	size_t			*batch;		/* (b)'s batches, in records */
	size_t			 nbatch;
} B;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
make_records(void)
{
	static const char *const verbs[] = { "delivered", "deferred",
	    "bounced" };

	B.off = xcalloc(B.n + 1, sizeof(*B.off));
	for (size_t i = 0; i < B.n; i++) {
		B.off[i] = B.recs.len;
		buf_printf(&B.recs, "{\"type\":\"%s\",\"time\":"
		    "\"2024-05-01T12:%02zu:%02zu.%03zuZ\",\"uuid\":"
		    "\"6F1C0A2E-%012zX.1\",\"mail_from\":"
		    "\"s%zu@example.org\",\"rcpt_to\":\"user%zu@example.net"
		    "\",\"host\":\"mx%zu.example.net\",\"ip\":\"192.0.2.%zu\","
		    "\"response\":\"250 2.0.0 Ok: queued as %08zX\","
		    "\"delay\":%zu.%03zu}\n", verbs[i % 20 == 19 ? 1 : i % 50 == 49 ? 2 : 0],
		    i / 60 % 60, i % 60, i % 1000, i * 7919, i % 5000, i % 977,
		    i % 7, i % 250 + 1, i * 2654435761u % 0xffffffffu, i % 30,
		    i % 1000);
	}
	B.off[B.n] = B.recs.len;
}

static char *
path_of(const char *run)
{
	return xasprintf("%s/records-%s.log", B.dir, run);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void
append(size_t i, rw_done_fn done)
{
	rw_append(B.st, B.recs.p + B.off[i], B.off[i + 1] - B.off[i], done,
	    NULL);
}

static void
on_done_a(void *arg)
{
	(void)arg;
	B.done++;
}

static void
on_done_b(void *arg)
{
	(void)arg;
	B.done++;
	if (B.nbatch == 0 || B.iter != B.batch_iter) {
		B.batch[B.nbatch++] = 0;
		B.batch_iter = B.iter;
	}
	B.batch[B.nbatch - 1]++;
	if (B.appended < B.n)
		append(B.appended++, on_done_b);
}

/* One recwriter run; seconds. */
static double
run_recwriter(const char *run, int sync)
{
	struct recwriter *w;
	struct stat sb;
	char *err = NULL, *path = path_of(run);
	double t0, t;

	if ((w = recwriter_new(B.base, &err)) == NULL ||
	    (B.st = rw_stream_open(w, &(struct rw_opts){ .source = "bench",
	    .fd = -1, .dir = B.dir, .name = strrchr(path, '/') + 1,
	    .sync = sync }, &err)) == NULL) {
		fprintf(stderr, "records: %s\n", err);
		exit(1);
	}
	B.done = B.appended = 0;
	t0 = now();
	if (sync)
		while (B.appended < B.k && B.appended < B.n)
			append(B.appended++, on_done_b);
	else
		for (; B.appended < B.n; B.appended++)
			append(B.appended, on_done_a);
	while (B.done < B.n) {
		event_base_loop(B.base, EVLOOP_ONCE);
		B.iter++;
	}
	t = now() - t0;
	recwriter_free(w);
	if (stat(path, &sb) == -1 || (size_t)sb.st_size != B.recs.len) {
		fprintf(stderr, "records: %s: %lld bytes, %zu expected\n", path,
		    (long long)sb.st_size, B.recs.len);
		exit(1);
	}
	free(path);
	return t;
}

/* One plain run: batches of nrec[i] records (all of size 1 when nrec is
 * NULL), fdatasync after each when sync; stops after n records. */
static double
run_plain(const char *run, const size_t *nrec, size_t n, int sync)
{
	char *path = path_of(run);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	size_t i = 0, b = 0, m;
	double t0;

	if (fd == -1) {
		fprintf(stderr, "records: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	t0 = now();
	for (; i < n; i += m) {
		m = nrec != NULL ? nrec[b++] : 1;
		if (write_all(fd, B.recs.p + B.off[i], B.off[i + m] -
		    B.off[i]) == -1 || (sync && fdatasync(fd) == -1)) {
			fprintf(stderr, "records: %s: %s\n", path,
			    strerror(errno));
			exit(1);
		}
	}
	t0 = now() - t0;
	close(fd);
	free(path);
	return t0;
}

static void
row(const char *what, size_t n, double secs)
{
	printf("%-44s %8zu %9.3f %11.0f\n", what, n, secs, (double)n / secs);
}

int
main(int argc, char **argv)
{
	static const char *const runs[] = { "a", "b", "c", "d", "e" };
	double ta, tb, tc, td, te;
	size_t ne;
	char what[80];

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: records DIR [N [K]]\n");
		return 2;
	}
	B.dir = argv[1];
	B.n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	B.k = argc > 3 ? strtoul(argv[3], NULL, 10) : 64;
	if (B.n == 0 || B.k == 0) {
		fprintf(stderr, "records: N and K must be > 0\n");
		return 2;
	}
	log_set_level(LOG_WARN);
	B.base = event_base_new();
	B.batch = xcalloc(B.n, sizeof(*B.batch));
	make_records();
	ne = B.n < PER_RECORD_SYNCS ? B.n : PER_RECORD_SYNCS;

	ta = run_recwriter("a", 0);
	tb = run_recwriter("b", 1);
	tc = run_plain("c", NULL, B.n, 0);
	td = run_plain("d", B.batch, B.n, 1);
	te = run_plain("e", NULL, ne, 1);

	printf("%zu records, %.1f bytes on average, in %s\n\n", B.n,
	    (double)B.recs.len / (double)B.n, B.dir);
	printf("%-44s %8s %9s %11s\n", "run", "records", "seconds",
	    "records/s");
	row("(a) recwriter, no sync", B.n, ta);
	snprintf(what, sizeof(what), "(b) recwriter, sync, %zu in flight", B.k);
	row(what, B.n, tb);
	row("(c) write(2) per record, no sync", B.n, tc);
	row("(d) write(2)+fdatasync per batch of (b)", B.n, td);
	row("(e) write(2)+fdatasync per record", ne, te);
	printf("\n(b) made %zu batches, %.1f records each on average\n",
	    B.nbatch, (double)B.n / (double)B.nbatch);
	printf("ratio (a)/(c) recwriter no sync / write per record: %6.2f\n",
	    tc / ta);
	printf("ratio (b)/(d) recwriter sync / same batches:        %6.2f\n",
	    td / tb);
	printf("ratio (b)/(e) recwriter sync / fdatasync per record: %5.2f\n",
	    ((double)B.n / tb) / ((double)ne / te));

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		char *p = path_of(runs[i]);

		unlink(p);
		free(p);
	}
	event_base_free(B.base);
	buf_free(&B.recs);
	free(B.off);
	free(B.batch);
	return 0;
}
