/* Unit tests: records/amqp_spool.c — records come back in order, once
 * confirmed they are not read again (in this run after a rewind, nor after
 * a reopen), torn and corrupt lines are skipped, full segments are removed
 * as confirms pass them and a drained spool is emptied at close, another
 * process's spool is taken over; and
 * records/amqp_record.c's routing keys and stable event ids. */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>

#include <jansson.h>

#include "records/amqp_record.h"
#include "records/amqp_spool.h"

static int
nfiles(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l >= s && strcmp(e->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
append(struct aspool *s, const char *id)
{
	struct buf b = BUF_INIT;
	char *json = xasprintf("{\"event_id\":\"%s\"}", id);

	aspool_line(&b, "outpost.delivered", id, json, strlen(json));
	assert_int_equal(aspool_append(s, b.p, b.len), 0);
	buf_free(&b);
	free(json);
}

static void
expect(struct aspool *s, const char *id, int fresh, struct aspool_rec *r)
{
	char *err = NULL;

	assert_int_equal(aspool_next(s, r, &err), 1);
	assert_int_equal(r->id.len, strlen(id));
	assert_memory_equal(r->id.p, id, r->id.len);
	assert_true(slice_eq(r->key, "outpost.delivered"));
	assert_int_equal(r->is_fresh, fresh);
}

static void
expect_end(struct aspool *s)
{
	struct aspool_rec r;
	char *err = NULL;

	assert_int_equal(aspool_next(s, &r, &err), 0);
	assert_null(err);
}

static void
test_order_confirm_reopen(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct aspool *s = aspool_open(dir, 1 << 20, &err);
	struct aspool_rec r;
	struct aspool_pos two;

	(void)state;
	assert_non_null(s);
	/* Another process (or open) of the same spool is refused. */
	assert_null(aspool_open(dir, 1 << 20, &err));
	assert_non_null(strstr(err, "in use by another process"));
	free(err);
	err = NULL;
	expect_end(s);
	append(s, "a");
	append(s, "b");
	append(s, "c");
	expect(s, "a", 1, &r);
	assert_int_equal(r.end.fresh, 1);
	expect(s, "b", 1, &r);
	two = r.end;
	assert_int_equal(two.fresh, 2);
	expect(s, "c", 1, &r);
	expect_end(s);
	/* A lost connection: what is not confirmed comes again. */
	aspool_confirm(s, &two);
	aspool_rewind(s);
	expect(s, "c", 1, &r);
	assert_int_equal(r.end.fresh, 3);
	expect_end(s);
	assert_false(aspool_drained(s));
	aspool_close(s);
	/* The next run starts after the confirmed ones. */
	s = aspool_open(dir, 1 << 20, &err);
	assert_non_null(s);
	assert_true(aspool_backlog(s) > 0);
	expect(s, "c", 0, &r);
	assert_int_equal(r.end.fresh, 0);
	append(s, "d");
	expect(s, "d", 1, &r);
	assert_int_equal(r.end.fresh, 1);
	aspool_confirm(s, &r.end);
	assert_true(aspool_drained(s));
	aspool_close(s);
	assert_int_equal(nfiles(dir, ".spool"), 0);
	assert_int_equal(nfiles(dir, "position"), 0);
	tmpdir_rm(dir);
}

static void
test_segments_removed(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, id[16];
	struct aspool *s = aspool_open(dir, 64, &err);
	struct aspool_rec r;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "ev%d", i);
		append(s, id);
	}
	assert_true(nfiles(dir, ".spool") >= 5);
	for (int i = 0; i < 9; i++) {
		snprintf(id, sizeof(id), "ev%d", i);
		expect(s, id, 1, &r);
	}
	aspool_confirm(s, &r.end);
	/* Only the segment of the unconfirmed event (and the one written
	 * to) stay. */
	assert_true(nfiles(dir, ".spool") <= 2);
	expect(s, "ev9", 1, &r);
	expect_end(s);
	aspool_confirm(s, &r.end);
	aspool_close(s);
	assert_int_equal(nfiles(dir, ".spool"), 0);
	tmpdir_rm(dir);
}

static void
test_torn_and_corrupt(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, *path;
	struct buf b = BUF_INIT;
	struct aspool *s;
	struct aspool_rec r;
	int fd;

	(void)state;
	aspool_line(&b, "outpost.delivered", "good1", "{}", 2);
	aspool_line(&b, "outpost.delivered", "flipped", "{}", 2);
	b.p[b.len - 3] = '[';			/* the CRC no longer matches */
	aspool_line(&b, "outpost.delivered", "good2", "{}", 2);
	aspool_line(&b, "outpost.delivered", "torn", "{\"x\":1}", 7);
	b.len -= 4;				/* no LF: a torn write */
	path = xasprintf("%s/0000000000000001.spool", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
	close(fd);
	s = aspool_open(dir, 1 << 20, &err);
	assert_non_null(s);
	expect(s, "good1", 0, &r);
	expect(s, "good2", 0, &r);
	expect_end(s);
	assert_int_equal(aspool_skipped(s), 1);
	/* This run's records follow in a new segment; the torn tail of the
	 * old one is skipped on the way. */
	append(s, "new");
	expect(s, "new", 1, &r);
	assert_int_equal(aspool_skipped(s), 2);
	aspool_confirm(s, &r.end);
	aspool_close(s);
	assert_int_equal(nfiles(dir, ".spool"), 0);
	buf_free(&b);
	free(path);
	tmpdir_rm(dir);
}

static void
test_key_and_id(void **state)
{
	struct buf k = BUF_INIT, a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;

	(void)state;
	amqp_rec_key(&k, "outpost.{type}.{domain}.{vmta}.{hostname}{x}",
	    "bounced", "example.com", NULL, "mx1");
	assert_string_equal(buf_cstr(&k), "outpost.bounced.example.com."
	    "default.mx1{x}");
	amqp_rec_event_id(&a, "JOB1", "deferred", 2, "u@example.com");
	amqp_rec_event_id(&b, "JOB1", "deferred", 2, "u@example.com");
	amqp_rec_event_id(&c, "JOB1", "deferred", 3, "u@example.com");
	assert_string_equal(buf_cstr(&a), buf_cstr(&b));
	assert_string_not_equal(buf_cstr(&a), buf_cstr(&c));
	assert_int_equal(strncmp(buf_cstr(&a), "JOB1-deferred-2-", 16), 0);
	assert_int_equal(a.len, 16 + 16);
	buf_reset(&c);
	amqp_rec_event_id(&c, "JOB1", "deferred", 2, "v@example.com");
	assert_string_not_equal(buf_cstr(&a), buf_cstr(&c));
	buf_free(&k);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
}

/* One spool line's fields: key and id (malloc'd), the JSON parsed. */
/* Another process's spool taken over: what it had not confirmed is
 * appended here in order, and its directory goes. */
static void
test_adopt(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	char *mine = xasprintf("%s/mine", dir), *other = xasprintf("%s/w1", dir);
	struct aspool *o = aspool_open(other, 1 << 20, &err), *s;
	struct aspool_rec r;
	uint64_t n;

	(void)state;
	assert_non_null(o);
	append(o, "a");
	append(o, "b");
	append(o, "c");
	expect(o, "a", 1, &r);
	aspool_confirm(o, &r.end);		/* a was published */
	aspool_close(o);
	s = aspool_open(mine, 1 << 20, &err);
	assert_non_null(s);
	append(s, "x");
	/* A spool in use is refused and left as it is. */
	o = aspool_open(other, 1 << 20, &err);
	assert_int_equal(aspool_adopt(s, other, &n, &err), -1);
	assert_non_null(strstr(err, "in use by another process"));
	free(err);
	err = NULL;
	aspool_close(o);
	assert_int_equal(aspool_adopt(s, other, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(access(other, F_OK), -1);
	expect(s, "x", 1, &r);
	expect(s, "b", 1, &r);
	expect(s, "c", 1, &r);
	expect_end(s);
	aspool_close(s);
	free(mine);
	free(other);
	tmpdir_rm(dir);
}

static json_t *
line_json(const struct buf *b, char **key, char **id)
{
	const char *t1 = memchr(b->p + 9, '\t', b->len - 9), *t2;
	json_error_t e;
	json_t *j;

	assert_non_null(t1);
	t2 = memchr(t1 + 1, '\t', b->len - (size_t)(t1 + 1 - b->p));
	assert_non_null(t2);
	*key = xstrndup(b->p + 9, (size_t)(t1 - b->p - 9));
	*id = xstrndup(t1 + 1, (size_t)(t2 - t1 - 1));
	assert_int_equal(b->p[b->len - 1], '\n');
	j = json_loadb(t2 + 1, (size_t)(b->p + b->len - 1 - t2 - 1), 0, &e);
	assert_non_null(j);
	return j;
}

static void
test_feedback_record(void **state)
{
	struct amqp_rec_ctx x = { "outpost.{type}.{domain}", "mx1", 7,
	    1700000000000LL };
	struct op_feedback f;
	struct buf b = BUF_INIT;
	char *key, *id;
	json_t *j;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.type = "complaint";
	f.event_id = "fb-42";
	f.arrival_time = 1700000000000LL;
	f.id = "JOB7.1";
	f.recipient = "u@example.com";
	f.mail_from = "s@example.org";
	f.feedback_type = "abuse";
	f.category = "complaint";
	assert_int_equal(amqp_rec_feedback(&b, &x, &f), 1);
	j = line_json(&b, &key, &id);
	assert_string_equal(key, "outpost.complaint.example.com");
	assert_string_equal(id, "fb-42");
	assert_string_equal(json_string_value(json_object_get(j, "event_id")),
	    "fb-42");
	assert_string_equal(json_string_value(json_object_get(j, "type")),
	    "complaint");
	assert_string_equal(json_string_value(json_object_get(j, "job_id")),
	    "JOB7.1");
	assert_string_equal(json_string_value(json_object_get(j,
	    "feedback_type")), "abuse");
	assert_null(json_object_get(j, "dsn_status"));	/* not given */
	json_decref(j);
	free(key);
	free(id);
	/* No id from the parser: one is derived, stable. */
	buf_reset(&b);
	f.event_id = NULL;
	amqp_rec_feedback(&b, &x, &f);
	j = line_json(&b, &key, &id);
	assert_int_equal(strncmp(id, "JOB7.1-complaint-0-", 19), 0);
	json_decref(j);
	free(key);
	free(id);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_confirm_reopen),
		cmocka_unit_test(test_segments_removed),
		cmocka_unit_test(test_torn_and_corrupt),
		cmocka_unit_test(test_key_and_id),
		cmocka_unit_test(test_adopt),
		cmocka_unit_test(test_feedback_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
