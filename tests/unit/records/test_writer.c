/* Unit tests: the record writer — order and completeness across many
 * appends, done callbacks, sync streams, headers, rotating names, size and
 * requested rotation, reopen, pipes, and write errors with retries. */
#include "unit.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "records/writer.h"

#define HDR	"#time\tid\tstatus\n"

struct fix {
	struct event_base	*base;
	struct recwriter	*w;
	char			*dir;
	char			*arch;
};

/* Done callbacks of one stream: each checks it comes next and outside
 * rw_append; failures are counted, not asserted, as they run in the loop. */
struct tracker {
	size_t			 next;
	size_t			 bad;
	struct rw_stream	*st;	/* for producers that refill */
	size_t			 total, appended;
	char			**recs;
	struct rec		*slots;
};

struct rec {
	struct tracker	*t;
	size_t		 i;
};

static int in_append;

static void
on_done(void *arg)
{
	struct rec *r = arg;

	if (in_append || r->i != r->t->next)
		r->t->bad++;
	r->t->next++;
}

static void
append(struct rw_stream *st, const char *s, struct rec *r)
{
	in_append = 1;
	rw_append(st, s, strlen(s), r != NULL ? on_done : NULL, r);
	in_append = 0;
}

static void
fix_init(struct fix *f)
{
	char *err = NULL;

	f->base = event_base_new();
	assert_non_null(f->base);
	f->w = recwriter_new(f->base, &err);
	assert_non_null(f->w);
	f->dir = tmpdir_new();
	f->arch = xasprintf("%s/archive", f->dir);
	assert_int_equal(mkdir(f->arch, 0755), 0);
	log_set_level(LOG_INFO);
}

static void
fix_done(struct fix *f)
{
	recwriter_free(f->w);
	event_base_free(f->base);
	free(f->arch);
	tmpdir_rm(f->dir);
	log_set_level(LOG_WARN);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Runs the loop until *n reaches want (1) or ms pass (0). */
static int
run_until(struct event_base *base, const size_t *n, size_t want, long ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (n != NULL && *n >= want)
			return 1;
		if (ms_since(&t0) >= ms)
			return 0;
		usleep(500);
	}
}

static struct rw_stream *
open_stream(struct fix *f, const struct rw_opts *o)
{
	char *err = NULL;
	struct rw_stream *st = rw_stream_open(f->w, o, &err);

	if (st == NULL)
		fail_msg("rw_stream_open: %s", err);
	return st;
}

/* A JSON-ish record of a size that varies with i. */
static char *
mkrec(size_t i)
{
	char pad[301];
	int n = (int)(i * 37 % 300);

	memset(pad, 'a' + (int)(i % 26), (size_t)n);
	pad[n] = '\0';
	return xasprintf("{\"n\":%zu,\"pad\":\"%s\"}\n", i, pad);
}

static char *
slurp(const char *dir, const char *name)
{
	char *path = name ? xasprintf("%s/%s", dir, name) : xstrdup(dir);
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;

	assert_non_null(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	free(path);
	return buf_release(&b);
}

/* Regular files of dir, sorted; NULL-terminated, malloc'd. */
static char **
files_of(const char *dir, size_t *n)
{
	struct dirent **ents;
	int k = scandir(dir, &ents, NULL, alphasort);
	char **v;

	assert_true(k >= 0);
	v = xcalloc((size_t)k + 1, sizeof(*v));
	*n = 0;
	for (int i = 0; i < k; i++) {
		if (ents[i]->d_type == DT_REG)
			v[(*n)++] = xstrdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return v;
}

static void
strv_free(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static size_t
count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Counts every record line "{"n":N,..." of a file into seen[], checking
 * that the file starts with the header and holds it once. */
static void
tally(const char *text, size_t *seen, size_t max)
{
	const char *p = text;

	assert_memory_equal(text, HDR, strlen(HDR));
	assert_int_equal(count_str(text, "#time"), 1);
	for (p += strlen(HDR); *p != '\0'; p = strchr(p, '\n') + 1) {
		size_t i;

		assert_int_equal(sscanf(p, "{\"n\":%zu,", &i), 1);
		assert_true(i < max);
		seen[i]++;
	}
}

/* "prefix.yyyy-mm-dd-HHMMss[.n].ext" */
static int
rot_name_ok(const char *name, const char *prefix, const char *ext)
{
	const char *shape = "dddd-dd-dd-dddddd", *p;
	size_t pl = strlen(prefix);

	if (strncmp(name, prefix, pl) != 0 || name[pl] != '.')
		return 0;
	p = name + pl + 1;
	for (size_t i = 0; shape[i] != '\0'; i++, p++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)*p) : *p != '-')
			return 0;
	if (*p == '.' && isdigit((unsigned char)p[1]))
		for (p++; isdigit((unsigned char)*p); p++)
			;
	return *p == '.' && strcmp(p + 1, ext) == 0;
}

/* --- tests --------------------------------------------------------------- */

static void
test_many_in_order(void **state)
{
	struct fix f;
	struct rw_stream *a, *b;
	struct tracker ta = { 0 }, tb = { 0 };
	enum { N = 10000 };
	struct rec *ra = xcalloc(N, sizeof(*ra)), *rb = xcalloc(N, sizeof(*rb));
	struct buf want = BUF_INIT;
	char *got;

	(void)state;
	fix_init(&f);
	/* Two streams in the same rounds: one synced, one not. */
	a = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .name = "sync.log", .header = HDR, .sync = 1 });
	b = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .name = "plain.log", .header = HDR });
	buf_adds(&want, HDR);
	for (size_t i = 0; i < N; i++) {
		char *r = mkrec(i);

		ra[i] = (struct rec){ &ta, i };
		rb[i] = (struct rec){ &tb, i };
		append(a, r, &ra[i]);
		append(b, r, &rb[i]);
		buf_adds(&want, r);
		free(r);
		/* Let some rounds happen in between. */
		if (i % 1000 == 999)
			event_base_loop(f.base, EVLOOP_NONBLOCK);
	}
	assert_true(run_until(f.base, &ta.next, N, 20000));
	assert_true(run_until(f.base, &tb.next, N, 20000));
	assert_int_equal(ta.bad + tb.bad, 0);
	run_until(f.base, NULL, 0, 50);		/* no second call */
	assert_int_equal(ta.next, N);
	assert_int_equal(tb.next, N);
	got = slurp(f.dir, "sync.log");
	assert_string_equal(got, want.p);
	free(got);
	got = slurp(f.dir, "plain.log");
	assert_string_equal(got, want.p);
	free(got);
	buf_free(&want);
	free(ra);
	free(rb);
	fix_done(&f);
}

/* K producers in flight on a sync stream: each completion appends the next
 * record, as deliveries do while they wait for durability. */
static void
refill(void *arg)
{
	struct rec *r = arg;
	struct tracker *t = r->t;

	on_done(arg);
	if (t->appended < t->total) {
		size_t i = t->appended++;

		t->slots[i] = (struct rec){ t, i };
		in_append = 1;
		rw_append(t->st, t->recs[i], strlen(t->recs[i]), refill,
		    &t->slots[i]);
		in_append = 0;
	}
}

static void
test_sync_in_flight(void **state)
{
	struct fix f;
	struct tracker t = { 0 };
	enum { N = 3000, K = 16 };
	struct buf want = BUF_INIT;
	char *got;

	(void)state;
	fix_init(&f);
	t.st = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .name = "s.log", .sync = 1 });
	t.total = N;
	t.recs = xcalloc(N, sizeof(*t.recs));
	t.slots = xcalloc(N, sizeof(*t.slots));
	for (size_t i = 0; i < N; i++) {
		t.recs[i] = mkrec(i);
		buf_adds(&want, t.recs[i]);
	}
	for (; t.appended < K; t.appended++) {
		t.slots[t.appended] = (struct rec){ &t, t.appended };
		in_append = 1;
		rw_append(t.st, t.recs[t.appended], strlen(t.recs[t.appended]),
		    refill, &t.slots[t.appended]);
		in_append = 0;
	}
	assert_true(run_until(f.base, &t.next, N, 30000));
	assert_int_equal(t.bad, 0);
	got = slurp(f.dir, "s.log");
	assert_string_equal(got, want.p);
	free(got);
	for (size_t i = 0; i < N; i++)
		free(t.recs[i]);
	free(t.recs);
	free(t.slots);
	buf_free(&want);
	fix_done(&f);
}

static void
test_header_when_empty(void **state)
{
	struct fix f;
	struct tracker t = { 0 }, t2 = { 0 };
	struct rec r[3] = { { &t, 0 }, { &t, 1 }, { &t2, 0 } };
	struct rw_opts o = { .fd = -1, .name = "x.log", .header = HDR };
	struct rw_stream *st;
	char *got, *err = NULL;

	(void)state;
	fix_init(&f);
	o.dir = f.dir;
	write_file(f.dir, "x.log", "");		/* there but empty */
	st = open_stream(&f, &o);
	got = xasprintf("%s/x.log", f.dir);
	assert_string_equal(rw_stream_path(st), got);
	free(got);
	append(st, "one\n", &r[0]);
	assert_true(run_until(f.base, &t.next, 1, 5000));
	/* A second writer on the same, non-empty file: no second header. */
	recwriter_free(f.w);
	f.w = recwriter_new(f.base, &err);
	assert_non_null(f.w);
	st = open_stream(&f, &o);
	append(st, "two\n", &r[1]);
	/* A file without a header that is not empty gets none either. */
	write_file(f.dir, "y.log", "old\n");
	o.name = "y.log";
	append(open_stream(&f, &o), "three\n", &r[2]);
	assert_true(run_until(f.base, &t.next, 2, 5000));
	assert_true(run_until(f.base, &t2.next, 1, 5000));
	assert_int_equal(t.bad + t2.bad, 0);
	got = slurp(f.dir, "x.log");
	assert_string_equal(got, HDR "one\ntwo\n");
	free(got);
	got = slurp(f.dir, "y.log");
	assert_string_equal(got, "old\nthree\n");
	free(got);
	fix_done(&f);
}

static void
test_open_errors(void **state)
{
	struct fix f;
	char *err = NULL;

	(void)state;
	fix_init(&f);
	assert_null(rw_stream_open(f.w, &(struct rw_opts){ .fd = -1,
	    .dir = "/nonexistent/dir", .name = "x.log" }, &err));
	assert_non_null(strstr(err, "No such file"));
	free(err);
	err = NULL;
	assert_null(rw_stream_open(f.w, &(struct rw_opts){ .fd = -1,
	    .dir = "/nonexistent/dir", .prefix = "d", .ext = "tsv" }, &err));
	assert_non_null(strstr(err, "/nonexistent/dir/d.*.tsv"));
	free(err);
	err = NULL;
	/* A header that cannot be written fails the open. */
	assert_null(rw_stream_open(f.w, &(struct rw_opts){ .fd = -1,
	    .dir = "/dev", .name = "full", .header = HDR }, &err));
	assert_non_null(strstr(err, "No space left"));
	free(err);
	fix_done(&f);
}

static void
test_rotating_names(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	struct rec r = { &t, 0 };
	char **v, *got, stamp[32], *taken[2];
	size_t n;
	time_t now = time(NULL);

	(void)state;
	fix_init(&f);
	/* Names already in the archive for this second and the next are
	 * not used again. */
	for (int i = 0; i < 2; i++) {
		time_t s = now + i;
		struct tm tm;

		localtime_r(&s, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
		taken[i] = xasprintf("d.%s.tsv", stamp);
		write_file(f.arch, taken[i], "keep\n");
	}
	st = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .prefix = "d", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch });
	append(st, "{\"n\":0,}\n", &r);
	assert_true(run_until(f.base, &t.next, 1, 5000));
	v = files_of(f.dir, &n);
	assert_int_equal(n, 1);
	assert_true(rot_name_ok(v[0], "d", "tsv"));
	assert_string_not_equal(v[0], taken[0]);
	assert_string_not_equal(v[0], taken[1]);
	assert_non_null(strstr(rw_stream_path(st), v[0]));
	got = slurp(f.dir, v[0]);
	assert_string_equal(got, HDR "{\"n\":0,}\n");
	free(got);
	strv_free(v);
	for (int i = 0; i < 2; i++) {
		got = slurp(f.arch, taken[i]);
		assert_string_equal(got, "keep\n");
		free(got);
		free(taken[i]);
	}
	fix_done(&f);
}

/* Every record exactly once across the current file and the archive,
 * every file with its header, no name used twice. */
static void
check_rotated(struct fix *f, struct rw_stream *st, size_t nrec,
    size_t min_archived)
{
	size_t *seen = xcalloc(nrec, sizeof(*seen)), nd, na;
	char **d = files_of(f->dir, &nd), **a = files_of(f->arch, &na), *got;

	assert_int_equal(nd, 1);
	assert_true(na >= min_archived);
	assert_non_null(strstr(rw_stream_path(st), d[0]));
	got = slurp(f->dir, d[0]);
	tally(got, seen, nrec);
	free(got);
	for (size_t i = 0; i < na; i++) {
		assert_true(rot_name_ok(a[i], "b", "tsv"));
		assert_string_not_equal(a[i], d[0]);
		got = slurp(f->arch, a[i]);
		tally(got, seen, nrec);
		free(got);
	}
	for (size_t i = 0; i < nrec; i++)
		assert_int_equal(seen[i], 1);
	strv_free(d);
	strv_free(a);
	free(seen);
}

static void
test_size_rotation(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	enum { N = 400, PER = 10 };
	struct rec *r = xcalloc(N, sizeof(*r));
	FILE *cap;
	char *logged;
	size_t na;
	char **a;

	(void)state;
	fix_init(&f);
	cap = capture_start();
	st = open_stream(&f, &(struct rw_opts){ .source = "acct", .fd = -1,
	    .dir = f.dir, .prefix = "b", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch, .max_size = 2000 });
	/* Rounds of PER records, so that there are many batches. */
	for (size_t i = 0; i < N; i++) {
		char *s = mkrec(i);

		r[i] = (struct rec){ &t, i };
		append(st, s, &r[i]);
		free(s);
		if (i % PER == PER - 1)
			assert_true(run_until(f.base, &t.next, i + 1, 5000));
	}
	assert_int_equal(t.bad, 0);
	logged = capture_end(cap);
	a = files_of(f.arch, &na);
	/* Many files in one second: suffixes, no reuse. */
	check_rotated(&f, st, N, 10);
	assert_int_equal(count_str(logged, "[INFO] [-] [acct] File '"), na);
	assert_int_equal(count_str(logged, "' archived\n"), na);
	assert_null(strstr(logged, "ERROR"));
	strv_free(a);
	free(logged);
	free(r);
	fix_done(&f);
}

static void
test_rotate_requested(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	struct rec r[4] = { { &t, 0 }, { &t, 1 }, { &t, 2 }, { &t, 3 } };
	char **d, **a, *name, *got, *path, *logged, *want;
	size_t nd, na;
	FILE *cap;

	(void)state;
	fix_init(&f);
	cap = capture_start();
	st = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .prefix = "b", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch });
	path = xstrdup(rw_stream_path(st));
	/* The archive already has the current file's name: it stays. */
	name = strrchr(path, '/') + 1;
	write_file(f.arch, name, "precious\n");
	append(st, "{\"n\":0,}\n", &r[0]);
	rw_rotate(st);
	append(st, "{\"n\":1,}\n", &r[1]);
	rw_rotate(st);
	rw_rotate(st);		/* a file with only its header */
	append(st, "{\"n\":2,}\n", &r[2]);
	append(st, "{\"n\":3,}\n", &r[3]);
	assert_true(run_until(f.base, &t.next, 4, 5000));
	assert_int_equal(t.bad, 0);
	assert_string_not_equal(rw_stream_path(st), path);
	logged = capture_end(cap);
	/* The first file could not keep its name in the archive. */
	want = xasprintf("File '%s' archived as '", name);
	assert_non_null(strstr(logged, want));
	assert_int_equal(count_str(logged, "[INFO]"), 3);
	free(want);
	free(logged);
	got = slurp(f.arch, name);
	assert_string_equal(got, "precious\n");
	free(got);
	got = xasprintf("%s/%s", f.arch, name);
	assert_int_equal(unlink(got), 0);
	free(got);
	check_rotated(&f, st, 4, 3);
	d = files_of(f.dir, &nd);
	a = files_of(f.arch, &na);
	assert_int_equal(na, 3);
	got = slurp(f.dir, d[0]);
	assert_string_equal(got, HDR "{\"n\":2,}\n{\"n\":3,}\n");
	free(got);
	strv_free(d);
	strv_free(a);
	free(path);
	fix_done(&f);
}

/* logrotate moved the files away: SIGUSR1 makes new ones, with headers. */
static void
test_reopen(void **state)
{
	struct fix f;
	struct rw_stream *fixed, *rot;
	struct tracker t = { 0 }, t2 = { 0 };
	struct rec r[4] = { { &t, 0 }, { &t, 1 }, { &t, 2 }, { &t2, 0 } };
	struct rec r2 = { &t2, 1 };
	char *got, *moved, *fpath, *rpath;

	(void)state;
	fix_init(&f);
	fixed = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .name = "outbound.log", .header = HDR, .sync = 1 });
	rot = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .prefix = "d", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch });
	fpath = xstrdup(rw_stream_path(fixed));
	rpath = xstrdup(rw_stream_path(rot));
	append(fixed, "a\n", &r[0]);
	append(rot, "a\n", NULL);
	/* Records queued before the reopen still go to the old files. */
	moved = xasprintf("%s.1", fpath);
	assert_int_equal(rename(fpath, moved), 0);
	free(moved);
	moved = xasprintf("%s.1", rpath);
	assert_int_equal(rename(rpath, moved), 0);
	free(moved);
	append(fixed, "b\n", &r[1]);
	recwriter_reopen(f.w);
	append(fixed, "c\n", &r[2]);
	append(rot, "c\n", &r[3]);
	append(rot, "d\n", &r2);
	assert_true(run_until(f.base, &t.next, 3, 5000));
	assert_true(run_until(f.base, &t2.next, 2, 5000));
	assert_int_equal(t.bad + t2.bad, 0);
	assert_string_equal(rw_stream_path(fixed), fpath);
	assert_string_equal(rw_stream_path(rot), rpath);
	got = slurp(f.dir, "outbound.log.1");
	assert_string_equal(got, HDR "a\nb\n");
	free(got);
	got = slurp(fpath, NULL);
	assert_string_equal(got, HDR "c\n");
	free(got);
	moved = xasprintf("%s.1", rpath);
	got = slurp(moved, NULL);
	assert_string_equal(got, HDR "a\n");
	free(got);
	free(moved);
	got = slurp(rpath, NULL);
	assert_string_equal(got, HDR "c\nd\n");
	free(got);
	free(fpath);
	free(rpath);
	fix_done(&f);
}

struct reader {
	struct buf	 got;
	size_t		 reads, torn;	/* reads not ending at a line end */
};

static void
on_pipe(evutil_socket_t fd, short what, void *arg)
{
	struct reader *rd = arg;
	static char tmp[1 << 20];
	ssize_t n;

	(void)what;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
		rd->reads++;
		rd->torn += tmp[n - 1] != '\n';
		buf_add(&rd->got, tmp, (size_t)n);
	}
}

/* stdout as a pipe: whole lines per write where they fit in PIPE_BUF,
 * even when the pipe is non-blocking and full most of the time. */
static void
test_pipe_lines(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	enum { N = 4000 };
	struct rec *r = xcalloc(N + 3, sizeof(*r));
	struct reader rd = { BUF_INIT, 0, 0 };
	struct buf want = BUF_INIT;
	struct event *ev;
	char *big;
	int p[2];

	(void)state;
	fix_init(&f);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	ev = event_new(f.base, p[0], EV_READ | EV_PERSIST, on_pipe, &rd);
	event_add(ev, NULL);
	st = open_stream(&f, &(struct rw_opts){ .fd = p[1], .header = HDR,
	    .sync = 1 });
	assert_null(rw_stream_path(st));
	for (size_t i = 0; i < N; i++) {
		char *s = mkrec(i);

		r[i] = (struct rec){ &t, i };
		append(st, s, &r[i]);
		buf_adds(&want, s);
		free(s);
	}
	assert_true(run_until(f.base, &t.next, N, 10000));
	run_until(f.base, NULL, 0, 50);
	assert_int_equal(t.bad, 0);
	assert_int_equal(rd.got.len, want.len);
	assert_memory_equal(rd.got.p, want.p, want.len);
	assert_true(rd.reads > 1);
	assert_int_equal(rd.torn, 0);
	/* Lines longer than PIPE_BUF go whole, around short ones. */
	big = xmalloc(3 * PIPE_BUF + 2);
	memset(big, 'x', 3 * PIPE_BUF);
	strcpy(big + 3 * PIPE_BUF, "\n");
	for (size_t i = N; i < N + 3; i++) {
		r[i] = (struct rec){ &t, i };
		append(st, i == N + 1 ? "short\n" : big, &r[i]);
		buf_adds(&want, i == N + 1 ? "short\n" : big);
	}
	assert_true(run_until(f.base, &t.next, N + 3, 10000));
	run_until(f.base, NULL, 0, 50);
	assert_int_equal(rd.got.len, want.len);
	assert_memory_equal(rd.got.p, want.p, want.len);
	free(big);
	event_free(ev);
	close(p[0]);
	recwriter_free(f.w);	/* never closes the caller's descriptor */
	f.w = NULL;
	assert_int_equal(fcntl(p[1], F_GETFD), FD_CLOEXEC);
	close(p[1]);
	buf_free(&rd.got);
	buf_free(&want);
	free(r);
	fix_done(&f);
}

/* A full device: the record waits (done not called), the error is logged
 * once, and once the descriptor leads somewhere else the record is written
 * and writing resumes. */
static void
test_write_error_retry(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	struct rec r[2] = { { &t, 0 }, { &t, 1 } };
	FILE *cap;
	char *logged, *path, *got;
	int fd, file;

	(void)state;
	fix_init(&f);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	cap = capture_start();
	st = open_stream(&f, &(struct rw_opts){ .source = "acct", .fd = fd });
	append(st, "one\n", &r[0]);
	append(st, "two\n", &r[1]);
	/* Long enough for a retry or two. */
	assert_false(run_until(f.base, &t.next, 1, 2300));
	assert_int_equal(t.next, 0);
	path = xasprintf("%s/out", f.dir);
	file = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	assert_true(file >= 0);
	assert_int_equal(dup3(file, fd, O_CLOEXEC), fd);
	close(file);
	assert_true(run_until(f.base, &t.next, 2, 3000));
	assert_int_equal(t.bad, 0);
	logged = capture_end(cap);
	assert_int_equal(count_str(logged, "[ERROR] [-] [acct] cannot write "
	    "to descriptor"), 1);
	assert_non_null(strstr(logged, "No space left on device"));
	assert_int_equal(count_str(logged, "[INFO] [-] [acct] writing to "
	    "descriptor"), 1);
	assert_true(strstr(logged, "[ERROR]") < strstr(logged, "resumed"));
	got = slurp(path, NULL);
	assert_string_equal(got, "one\ntwo\n");
	free(got);
	free(logged);
	free(path);
	fix_done(&f);
	close(fd);
}

/* A file that cannot be reopened (a directory in its place): records
 * wait, and go to the file as soon as it can be created, header first. */
static void
test_open_error_retry(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	struct rec r = { &t, 0 };
	FILE *cap;
	char *logged, *path, *got;

	(void)state;
	fix_init(&f);
	st = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .name = "o.log", .header = HDR, .sync = 1 });
	path = xstrdup(rw_stream_path(st));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	cap = capture_start();
	recwriter_reopen(f.w);
	append(st, "rec\n", &r);
	assert_false(run_until(f.base, &t.next, 1, 1200));
	assert_int_equal(rmdir(path), 0);
	assert_true(run_until(f.base, &t.next, 1, 3000));
	logged = capture_end(cap);
	assert_int_equal(count_str(logged, "[ERROR]"), 1);
	assert_non_null(strstr(logged, "cannot open"));
	assert_non_null(strstr(logged, "Is a directory"));
	assert_non_null(strstr(logged, "resumed"));
	got = slurp(path, NULL);
	assert_string_equal(got, HDR "rec\n");
	free(got);
	free(logged);
	free(path);
	fix_done(&f);
}

/* Stopping while the device is still full ends (after one last try),
 * says what was not written and calls no done callback. */
static void
test_error_at_stop(void **state)
{
	struct fix f;
	struct rw_stream *st;
	struct tracker t = { 0 };
	struct rec r = { &t, 0 };
	struct timespec t0;
	FILE *cap;
	char *logged;
	int fd;

	(void)state;
	fix_init(&f);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	cap = capture_start();
	st = open_stream(&f, &(struct rw_opts){ .fd = fd });
	append(st, "lost\n", &r);
	assert_false(run_until(f.base, &t.next, 1, 200));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	recwriter_free(f.w);
	f.w = NULL;
	assert_true(ms_since(&t0) < 3000);
	assert_int_equal(t.next, 0);
	logged = capture_end(cap);
	assert_int_equal(count_str(logged, "[ERROR]"), 2);
	assert_non_null(strstr(logged, "5 bytes of records for descriptor"));
	free(logged);
	close(fd);
	fix_done(&f);
}

/* archive_at_close: stopping the writer moves that stream's current file
 * into the archive, whole; a stream without it keeps its file in place. */
static void
test_archive_at_close(void **state)
{
	struct fix f;
	struct rw_stream *a, *b;
	struct tracker t = { 0 };
	struct rec r0 = { &t, 0 }, r1 = { &t, 1 };
	char **v, *got;
	size_t n;

	(void)state;
	fix_init(&f);
	a = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .prefix = "d", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch, .archive_at_close = 1 });
	b = open_stream(&f, &(struct rw_opts){ .fd = -1, .dir = f.dir,
	    .prefix = "b", .ext = "tsv", .header = HDR,
	    .archive_dir = f.arch });
	append(a, "{\"n\":0,}\n", &r0);
	append(b, "{\"n\":1,}\n", &r1);
	assert_true(run_until(f.base, &t.next, 2, 5000));
	recwriter_free(f.w);
	f.w = NULL;
	v = files_of(f.dir, &n);
	assert_int_equal(n, 1);
	assert_true(rot_name_ok(v[0], "b", "tsv"));
	strv_free(v);
	v = files_of(f.arch, &n);
	assert_int_equal(n, 1);
	assert_true(rot_name_ok(v[0], "d", "tsv"));
	got = slurp(f.arch, v[0]);
	assert_string_equal(got, HDR "{\"n\":0,}\n");
	free(got);
	strv_free(v);
	fix_done(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_in_order),
		cmocka_unit_test(test_sync_in_flight),
		cmocka_unit_test(test_header_when_empty),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_rotating_names),
		cmocka_unit_test(test_size_rotation),
		cmocka_unit_test(test_rotate_requested),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_pipe_lines),
		cmocka_unit_test(test_write_error_retry),
		cmocka_unit_test(test_open_error_retry),
		cmocka_unit_test(test_error_at_stop),
		cmocka_unit_test(test_archive_at_close),
	};

	return cmocka_run_group_tests_name("recwriter", tests, NULL, NULL);
}
