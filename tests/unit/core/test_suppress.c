/* Unit tests: core/suppress.c (the LMDB store: names, lookups by scope,
 * expiry, the put policy, deletes and purges over neighbouring keys,
 * listing with filters and paging, counts, reopening) and
 * core/suppress_writer.c (suppression.ini, the writer thread through a
 * real event loop). The daemon's use is tested end to end
 * (tests/e2e/test_suppression.py). */
#include "unit.h"

#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "core/suppress.h"
#include "core/suppress_writer.h"

static struct suppress_entry
entry(const char *addr, const char *scope, enum suppress_source src,
    int64_t created, int64_t expires)
{
	struct suppress_entry e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(suppress_address(addr, e.address), 0);
	assert_int_equal(suppress_scope(scope, e.scope), 0);
	snprintf(e.reason, sizeof(e.reason), "550 5.1.1 no such user %s",
	    addr);
	e.source = src;
	e.created = created;
	e.expires = expires;
	return e;
}

static void
put(struct suppress_store *s, struct suppress_entry e, int force, int want)
{
	char *err = NULL;
	struct suppress_txn *t = suppress_begin(s, &err);

	assert_non_null(t);
	assert_int_equal(suppress_put(t, &e, force, &err), want);
	assert_int_equal(suppress_commit(t, &err), 0);
}

static void
test_names(void **state)
{
	char a[SUPPRESS_ADDR_MAX + 1], d[SUPPRESS_SCOPE_MAX + 1];
	char longer[400];

	(void)state;
	assert_int_equal(suppress_address("<John.Doe@Example.COM>", a), 0);
	assert_string_equal(a, "John.Doe@example.com");
	assert_int_equal(suppress_address("a+b@x.test", a), 0);
	assert_string_equal(a, "a+b@x.test");
	assert_int_equal(suppress_address("\"a@b\"@x.test", a), 0);
	assert_string_equal(a, "\"a@b\"@x.test");
	assert_int_equal(suppress_address("nodomain", a), -1);
	assert_int_equal(suppress_address("@x.test", a), -1);
	assert_int_equal(suppress_address("a@", a), -1);
	assert_int_equal(suppress_address("a b@x.test", a), -1);
	assert_int_equal(suppress_address("a@x/test", a), -1);
	assert_int_equal(suppress_address("", a), -1);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	longer[10] = '@';
	assert_int_equal(suppress_address(longer, a), -1);
	assert_int_equal(suppress_scope("global", d), 0);
	assert_string_equal(d, "");
	assert_int_equal(suppress_scope("Senders.TEST", d), 0);
	assert_string_equal(d, "senders.test");
	assert_int_equal(suppress_scope("bad domain", d), -1);
	assert_int_equal(suppress_scope(".x", d), -1);
	suppress_sender_domain("Bob@Mail.Example", d);
	assert_string_equal(d, "mail.example");
	suppress_sender_domain("", d);
	assert_string_equal(d, "");
	assert_int_equal(suppress_source_parse("remote_bounce"),
	    SUP_REMOTE_BOUNCE);
	assert_int_equal(suppress_source_parse("nope"), -1);
	assert_string_equal(suppress_source_name(SUP_COMPLAINT), "complaint");
	assert_int_equal(suppress_duration("30d"), 30 * 86400);
	assert_int_equal(suppress_duration("2"), 2);
	assert_int_equal(suppress_duration("never"), 0);
	assert_int_equal(suppress_duration("0"), 0);
	assert_true(suppress_duration("x") < 0);
	assert_true(suppress_duration("-5") < 0);
}

static void
test_lookup_scope_expiry(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct suppress_store *s = suppress_open(dir, 8, 0, &err);
	struct suppress_entry got;

	(void)state;
	assert_non_null(s);
	put(s, entry("u1@Dest.test", "a.test", SUP_BOUNCE, 1000, 0), 0, 1);
	put(s, entry("u2@dest.test", "global", SUP_COMPLAINT, 1000, 0), 0, 1);
	put(s, entry("u3@dest.test", "a.test", SUP_BOUNCE, 1000, 2000), 0, 1);
	/* Per sender domain: only that domain's mail. */
	assert_int_equal(suppress_lookup(s, "u1@dest.test", "a.test", 1500,
	    &got), 1);
	assert_string_equal(got.scope, "a.test");
	assert_int_equal(got.source, SUP_BOUNCE);
	assert_string_equal(got.reason, "550 5.1.1 no such user u1@Dest.test");
	assert_int_equal(suppress_lookup(s, "u1@dest.test", "b.test", 1500,
	    &got), 0);
	assert_int_equal(suppress_lookup(s, "u1@dest.test", "", 1500, &got),
	    0);
	/* The local part as sent: another case is another address. */
	assert_int_equal(suppress_lookup(s, "U1@dest.test", "a.test", 1500,
	    &got), 0);
	/* Global: every sender, the null sender too. */
	assert_int_equal(suppress_lookup(s, "u2@dest.test", "b.test", 1500,
	    &got), 1);
	assert_string_equal(got.scope, "");
	assert_int_equal(suppress_lookup(s, "u2@dest.test", "", 1500, &got),
	    1);
	/* Expiry: until 2000, not at or after. */
	assert_int_equal(suppress_lookup(s, "u3@dest.test", "a.test", 1999,
	    &got), 1);
	assert_int_equal(got.expires, 2000);
	assert_int_equal(suppress_lookup(s, "u3@dest.test", "a.test", 2000,
	    &got), 0);
	suppress_close(s);
	/* Reopened: all of it is still there. */
	s = suppress_open(dir, 8, 1, &err);
	assert_non_null(s);
	assert_int_equal(suppress_lookup(s, "u2@dest.test", "x.test", 1500,
	    &got), 1);
	suppress_close(s);
	tmpdir_rm(dir);
}

static void
test_put_policy(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct suppress_store *s = suppress_open(dir, 8, 0, &err);
	struct suppress_entry got;

	(void)state;
	assert_non_null(s);
	/* A complaint (never expires) is not replaced by a bounce. */
	put(s, entry("c@d.test", "a.test", SUP_COMPLAINT, 100, 0), 0, 1);
	put(s, entry("c@d.test", "a.test", SUP_BOUNCE, 200, 5000), 0, 0);
	assert_int_equal(suppress_lookup(s, "c@d.test", "a.test", 300, &got),
	    1);
	assert_int_equal(got.source, SUP_COMPLAINT);
	/* A bounce renews a shorter entry... */
	put(s, entry("b@d.test", "a.test", SUP_BOUNCE, 100, 1000), 0, 1);
	put(s, entry("b@d.test", "a.test", SUP_BOUNCE, 500, 3000), 0, 1);
	assert_int_equal(suppress_lookup(s, "b@d.test", "a.test", 600, &got),
	    1);
	assert_int_equal(got.created, 500);
	assert_int_equal(got.expires, 3000);
	/* ...but does not shorten a longer one. */
	put(s, entry("b@d.test", "a.test", SUP_BOUNCE, 600, 2000), 0, 0);
	/* An expired entry is replaced whatever it was. */
	put(s, entry("b@d.test", "a.test", SUP_BOUNCE, 4000, 4500), 0, 1);
	/* force (the administrator) always writes. */
	put(s, entry("c@d.test", "a.test", SUP_ADMIN, 700, 800), 1, 1);
	assert_int_equal(suppress_lookup(s, "c@d.test", "a.test", 750, &got),
	    1);
	assert_int_equal(got.source, SUP_ADMIN);
	suppress_close(s);
	tmpdir_rm(dir);
}

struct seen {
	char	 addrs[64][SUPPRESS_ADDR_MAX + SUPPRESS_SCOPE_MAX + 2];
	size_t	 n;
};

static void
collect(void *arg, const struct suppress_entry *e)
{
	struct seen *sn = arg;

	assert_true(sn->n < 64);
	snprintf(sn->addrs[sn->n++], sizeof(sn->addrs[0]), "%s%s%s",
	    e->address, e->scope[0] ? "/" : "", e->scope);
}

static void
test_delete_purge_list(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, addr[64];
	struct suppress_store *s = suppress_open(dir, 8, 0, &err);
	struct suppress_filter f = { NULL, NULL, NULL, -1, 0 };
	struct suppress_txn *t;
	struct seen sn;
	size_t total, active, expired;

	(void)state;
	assert_non_null(s);
	/* One address under three scopes, between two neighbours whose
	 * keys share its prefix. */
	put(s, entry("x@d.test", "a.test", SUP_BOUNCE, 10, 0), 0, 1);
	put(s, entry("x@d.test", "global", SUP_ADMIN, 10, 0), 0, 1);
	put(s, entry("x@d.test", "b.test", SUP_BOUNCE, 10, 0), 0, 1);
	put(s, entry("x@d.tes", "a.test", SUP_BOUNCE, 10, 0), 0, 1);
	put(s, entry("x@d.test2", "a.test", SUP_BOUNCE, 10, 0), 0, 1);
	/* Twenty consecutive expired ones, every other one kept. */
	for (int i = 0; i < 20; i++) {
		snprintf(addr, sizeof(addr), "p%02d@e.test", i);
		put(s, entry(addr, "a.test", SUP_REMOTE_BOUNCE, 10,
		    i % 2 ? 0 : 50), 0, 1);
	}
	assert_int_equal(suppress_count(s, 100, &active, &expired), 0);
	assert_int_equal(active, 15);
	assert_int_equal(expired, 10);
	/* Listing: filters. */
	memset(&sn, 0, sizeof(sn));
	f.address = "x@d.test";
	assert_int_equal(suppress_list(s, &f, 100, 0, 100, collect, &sn,
	    &total), 0);
	assert_int_equal(total, 3);
	assert_string_equal(sn.addrs[0], "x@d.test");	/* global first */
	assert_string_equal(sn.addrs[1], "x@d.test/a.test");
	memset(&sn, 0, sizeof(sn));
	f.address = NULL;
	f.domain = "e.test";
	assert_int_equal(suppress_list(s, &f, 100, 2, 3, collect, &sn,
	    &total), 0);
	assert_int_equal(total, 10);		/* active only */
	assert_int_equal(sn.n, 3);
	assert_string_equal(sn.addrs[0], "p05@e.test/a.test");
	f.expired = 1;
	assert_int_equal(suppress_list(s, &f, 100, 0, 0, collect, &sn,
	    &total), 0);
	assert_int_equal(total, 20);
	f.domain = NULL;
	f.expired = 0;
	f.source = SUP_ADMIN;
	assert_int_equal(suppress_list(s, &f, 100, 0, 0, collect, &sn,
	    &total), 0);
	assert_int_equal(total, 1);
	f.source = -1;
	f.scope = "b.test";
	assert_int_equal(suppress_list(s, &f, 100, 0, 0, collect, &sn,
	    &total), 0);
	assert_int_equal(total, 1);
	/* Delete: one scope, then every scope, neighbours untouched. */
	t = suppress_begin(s, &err);
	assert_int_equal(suppress_del(t, "x@d.test", "b.test", &err), 1);
	assert_int_equal(suppress_del(t, "x@d.test", "b.test", &err), 0);
	assert_int_equal(suppress_del(t, "x@d.test", NULL, &err), 2);
	assert_int_equal(suppress_del(t, "nobody@d.test", NULL, &err), 0);
	assert_int_equal(suppress_purge(t, 100, &err), 10);
	assert_int_equal(suppress_commit(t, &err), 0);
	assert_int_equal(suppress_count(s, 100, &active, &expired), 0);
	assert_int_equal(active, 12);
	assert_int_equal(expired, 0);
	memset(&sn, 0, sizeof(sn));
	assert_int_equal(suppress_list(s, NULL, 100, 0, 100, collect, &sn,
	    &total), 0);
	assert_string_equal(sn.addrs[0], "p01@e.test/a.test");
	assert_string_equal(sn.addrs[10], "x@d.tes/a.test");
	assert_string_equal(sn.addrs[11], "x@d.test2/a.test");
	/* An aborted transaction leaves nothing. */
	t = suppress_begin(s, &err);
	assert_int_equal(suppress_del(t, "x@d.tes", NULL, &err), 1);
	suppress_abort(t);
	assert_int_equal(suppress_count(s, 100, &active, &expired), 0);
	assert_int_equal(active, 12);
	suppress_close(s);
	tmpdir_rm(dir);
}

static void
test_open_errors(void **state)
{
	char *err = NULL;

	(void)state;
	assert_null(suppress_open("/nonexistent/dir/sup", 8, 0, &err));
	assert_non_null(strstr(err, "/nonexistent/dir/sup"));
	free(err);
	err = NULL;
	assert_null(suppress_open("/nonexistent/sup", 8, 1, &err));
	free(err);
}

static void
test_config(void **state)
{
	char *dir = tmpdir_new(), *err = NULL;
	struct suppress_config c;

	(void)state;
	assert_int_equal(suppress_config_load("/root", dir, &c, &err), 0);
	assert_true(c.enabled);
	assert_false(c.global);
	assert_string_equal(c.path, "/root/suppression");
	assert_int_equal(c.map_mb, 4096);
	assert_int_equal(c.ncategories, 3);
	assert_string_equal(c.categories[0], "bad-mailbox");
	assert_int_equal(c.expiry[SUP_BOUNCE], 30 * 86400);
	assert_int_equal(c.expiry[SUP_COMPLAINT], 0);
	suppress_config_clear(&c);
	write_file(dir, "suppression.ini", "[main]\nenabled=false\n"
	    "scope=global\npath=/var/sup\nmap_size=16\ncategories=bad-domain"
	    "\npurge_interval=10m\n[expiry]\nbounce=2\ncomplaint=1d\n");
	assert_int_equal(suppress_config_load("/root", dir, &c, &err), 0);
	assert_false(c.enabled);
	assert_true(c.global);
	assert_string_equal(c.path, "/var/sup");
	assert_int_equal(c.map_mb, 16);
	assert_int_equal(c.ncategories, 1);
	assert_int_equal(c.purge_interval, 600);
	assert_int_equal(c.expiry[SUP_BOUNCE], 2);
	assert_int_equal(c.expiry[SUP_COMPLAINT], 86400);
	suppress_config_clear(&c);
	static const char *const bad[][2] = {
		{ "scope=everyone\n", "scope" },
		{ "map_size=0\n", "map_size" },
		{ "map_size=big\n", "map_size" },
		{ "purge_interval=0\n", "purge_interval" },
		{ "colour=blue\n", "colour" },
		{ "[expiry]\nbounce=soon\n", "bounce" },
		{ "[expiry]\nspam=1\n", "spam" },
		{ "[other]\nx=1\n", "[other]" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(dir, "suppression.ini", bad[i][0]);
		assert_int_equal(suppress_config_load("/root", dir, &c, &err),
		    -1);
		assert_non_null(strstr(err, "suppression.ini"));
		assert_non_null(strstr(err, bad[i][1]));
		free(err);
		err = NULL;
	}
	tmpdir_rm(dir);
}

struct wait {
	struct event_base	*base;
	int			 calls, ok;
	long			 changed;
};

static void
done(void *arg, int ok, long changed, const char *err)
{
	struct wait *w = arg;

	(void)err;
	w->calls++;
	w->ok = ok;
	w->changed += changed;
	event_base_loopbreak(w->base);
}

static void
test_writer(void **state)
{
	char *dir = tmpdir_new(), *err = NULL, *path;
	struct event_base *base = event_base_new();
	struct suppress_config c;
	struct suppress_store *st;
	struct suppressor *sp;
	struct suppress_entry v[3], got;
	struct wait w = { base, 0, 0, 0 };
	int64_t now = (int64_t)time(NULL);

	(void)state;
	assert_int_equal(suppress_config_load(dir, dir, &c, &err), 0);
	st = suppress_open(c.path, c.map_mb, 0, &err);
	assert_non_null(st);
	sp = suppressor_start(base, st, &c, &err);
	assert_non_null(sp);
	path = xasprintf("%s/suppression", dir);
	assert_string_equal(suppressor_config(sp)->path, path);
	assert_null(c.path);			/* moved in */
	v[0] = entry("w1@d.test", "a.test", SUP_BOUNCE, now, 0);
	v[1] = entry("w2@d.test", "a.test", SUP_BOUNCE, now, now - 1);
	v[2] = entry("w3@d.test", "global", SUP_COMPLAINT, now, 0);
	/* Two writes queued at once: each gets its done(). */
	suppressor_put(sp, v, 2, 0, done, &w);
	suppressor_put(sp, v + 2, 1, 0, done, &w);
	while (w.calls < 2)
		event_base_dispatch(base);
	assert_true(w.ok);
	assert_int_equal(w.changed, 3);
	/* Durable and visible to a reader once done() ran. */
	assert_int_equal(suppress_lookup(suppressor_store(sp), "w3@d.test",
	    "z.test", now, &got), 1);
	w.changed = 0;
	suppressor_purge(sp, done, &w);
	while (w.calls < 3)
		event_base_dispatch(base);
	assert_int_equal(w.changed, 1);
	suppressor_del(sp, "w1@d.test", NULL, done, &w);
	/* Stopping finishes the queued write and calls its done(). */
	suppressor_stop(sp);
	assert_int_equal(w.calls, 4);
	st = suppress_open(path, 8, 1, &err);
	assert_non_null(st);
	assert_int_equal(suppress_lookup(st, "w1@d.test", "a.test", now, &got),
	    0);
	assert_int_equal(suppress_lookup(st, "w3@d.test", "", now, &got), 1);
	suppress_close(st);
	event_base_free(base);
	free(path);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_lookup_scope_expiry),
		cmocka_unit_test(test_put_policy),
		cmocka_unit_test(test_delete_purge_list),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
