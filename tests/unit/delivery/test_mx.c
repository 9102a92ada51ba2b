/* Unit tests: mx.c's parsers and ordering rules, local addresses, and the
 * parts of dns.c that need no answering server (deferred completion,
 * timeouts against a silent socket, cancel, free with lookups pending).
 * Nothing here asks the system resolver. (net-utils.ini loading:
 * core/test_dns_config.c.) */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "delivery/dns.h"
#include "delivery/mx.h"

/* --- mx_parse ------------------------------------------------------------- */

struct parse_case {
	const char	*in;
	const char	*exchange;
	unsigned	 port;
	int		 lmtp;
	const char	*user;
	const char	*pass;
};

static const struct parse_case parse_ok[] = {
	{ "mx.example.com", "mx.example.com", 0, 0, NULL, NULL },
	{ "MX.Example.COM", "mx.example.com", 0, 0, NULL, NULL },
	{ "mx.example.com.", "mx.example.com", 0, 0, NULL, NULL },
	{ "mx.example.com:25", "mx.example.com", 25, 0, NULL, NULL },
	{ "mx.example.com:2525", "mx.example.com", 2525, 0, NULL, NULL },
	{ "host:1", "host", 1, 0, NULL, NULL },
	{ "host:65535", "host", 65535, 0, NULL, NULL },
	{ "1.2.3.4", "1.2.3.4", 0, 0, NULL, NULL },
	{ "1.2.3.4:587", "1.2.3.4", 587, 0, NULL, NULL },
	{ "[1.2.3.4]", "1.2.3.4", 0, 0, NULL, NULL },
	{ "[1.2.3.4]:2525", "1.2.3.4", 2525, 0, NULL, NULL },
	{ "[::1]", "::1", 0, 0, NULL, NULL },
	{ "[::1]:2525", "::1", 2525, 0, NULL, NULL },
	{ "[mx.example]", "mx.example", 0, 0, NULL, NULL },
	{ "[MX.Example]:26", "mx.example", 26, 0, NULL, NULL },
	{ "::1", "::1", 0, 0, NULL, NULL },
	{ "2001:db8::1", "2001:db8::1", 0, 0, NULL, NULL },
	{ "2001:DB8::A", "2001:db8::a", 0, 0, NULL, NULL },
	{ "::ffff:127.0.0.1", "::ffff:127.0.0.1", 0, 0, NULL, NULL },
	{ "smtp://mx.example.com", "mx.example.com", 0, 0, NULL, NULL },
	{ "smtp://mx.example.com/", "mx.example.com", 0, 0, NULL, NULL },
	{ "smtp://Relay.Example:587", "relay.example", 587, 0, NULL, NULL },
	{ "smtp://user:pass@relay.example:587", "relay.example", 587, 0,
	    "user", "pass" },
	{ "SMTP://u%40x.org:p%3As%25@relay.example", "relay.example", 0, 0,
	    "u@x.org", "p:s%" },
	{ "smtp://user@relay.example", "relay.example", 0, 0, "user", NULL },
	{ "smtp://a:b@c@relay.example", "relay.example", 0, 0, "a", "b@c" },
	{ "smtp://[::1]:2525", "::1", 2525, 0, NULL, NULL },
	{ "smtp://u:p@[2001:db8::2]", "2001:db8::2", 0, 0, "u", "p" },
	{ "lmtp://127.0.0.1:24", "127.0.0.1", 24, 1, NULL, NULL },
	{ "lmtp://lmtp.local", "lmtp.local", 0, 1, NULL, NULL },
	{ "my_host-1.example", "my_host-1.example", 0, 0, NULL, NULL },
};

static const char *const parse_bad[] = {
	"", "host:0", "host:65536", "host:", "host:abc", "host:+25",
	"host:25x", "host:123456", ":25", "[::1", "[::1]x", "[::1]:",
	"[::1]:0", "[]", "[]:25", "gggg::1", "1:2:3", "smtp://",
	"smtp://:25", "smtp://user@", "smtp://host/path", "smtp://host?x",
	"smtp://::1", "smtp://u%zz@host", "smtp://u%0@host",
	"smtp://u%00@host", "http://host", "ftp://host:21", "two words",
	"host\n", " host", "a..b", ".host", ".", "a/b", "a@b",
	"host:25:26",
};

static void
test_parse_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_ok) / sizeof(parse_ok[0]); i++) {
		const struct parse_case *c = &parse_ok[i];
		const char *why = NULL;
		struct mx mx;

		if (mx_parse(c->in, &mx, &why) != 0)
			fail_msg("'%s': %s", c->in, why);
		if (strcmp(mx.exchange, c->exchange) != 0 ||
		    mx.port != c->port || mx.using_lmtp != c->lmtp)
			fail_msg("'%s': exchange '%s' port %u lmtp %d", c->in,
			    mx.exchange, mx.port, mx.using_lmtp);
		if ((c->user == NULL) != (mx.auth_user == NULL) ||
		    (c->user && strcmp(c->user, mx.auth_user) != 0))
			fail_msg("'%s': user '%s'", c->in,
			    mx.auth_user ? mx.auth_user : "(null)");
		if ((c->pass == NULL) != (mx.auth_pass == NULL) ||
		    (c->pass && strcmp(c->pass, mx.auth_pass) != 0))
			fail_msg("'%s': pass '%s'", c->in,
			    mx.auth_pass ? mx.auth_pass : "(null)");
		assert_null(mx.path);
		assert_null(mx.from_dns);
		assert_int_equal(mx.priority, 0);
		mx_clear(&mx);
	}
}

static void
test_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
		const char *why = NULL;
		struct mx mx;

		if (mx_parse(parse_bad[i], &mx, &why) != -1)
			fail_msg("'%s' parsed as '%s' port %u", parse_bad[i],
			    mx.exchange, mx.port);
		assert_non_null(why);
		assert_true(*why != '\0');
		assert_null(mx.exchange);
		assert_null(mx.auth_user);
		assert_null(mx.auth_pass);
	}
}

static void
test_copy_clear(void **state)
{
	struct mx a, b;
	const char *why;

	(void)state;
	assert_int_equal(mx_parse("smtp://u:p@h:26", &a, &why), 0);
	a.bind = xstrdup("192.0.2.1");
	a.bind_helo = xstrdup("helo.example");
	a.auth_type = xstrdup("PLAIN");
	a.route = xstrdup("vmta1");
	a.from_dns = xstrdup("example.com");
	a.priority = 7;
	mx_copy(&b, &a);
	mx_clear(&a);
	assert_null(a.exchange);
	assert_int_equal(a.port, 0);
	assert_string_equal(b.exchange, "h");
	assert_string_equal(b.auth_user, "u");
	assert_string_equal(b.auth_pass, "p");
	assert_string_equal(b.bind, "192.0.2.1");
	assert_string_equal(b.bind_helo, "helo.example");
	assert_string_equal(b.auth_type, "PLAIN");
	assert_string_equal(b.route, "vmta1");
	assert_string_equal(b.from_dns, "example.com");
	assert_int_equal(b.priority, 7);
	assert_int_equal(b.port, 26);
	mx_clear(&b);
	mx_list_free(NULL, 0);
}

/* --- ordering --------------------------------------------------------------- */

static struct mx *
list_of(const int *prio, const char *const *names, size_t n)
{
	struct mx *l = xcalloc(n, sizeof(*l));

	for (size_t i = 0; i < n; i++) {
		l[i].exchange = xstrdup(names[i]);
		l[i].priority = prio[i];
	}
	return l;
}

static void
test_sort_priority(void **state)
{
	static const int prio[] = { 30, 10, 20, 0, 10, 30, 20, 5 };
	static const char *const names[] = { "a", "b", "c", "d", "e", "f",
	    "g", "h" };
	const size_t n = 8;

	(void)state;
	for (int run = 0; run < 200; run++) {
		struct mx *l = list_of(prio, names, n);
		int seen_b = 0, seen_e = 0;

		mx_sort(l, n);
		for (size_t i = 1; i < n; i++)
			assert_true(l[i - 1].priority <= l[i].priority);
		assert_string_equal(l[0].exchange, "d");
		assert_string_equal(l[1].exchange, "h");
		for (size_t i = 2; i < 4; i++) {
			seen_b |= strcmp(l[i].exchange, "b") == 0;
			seen_e |= strcmp(l[i].exchange, "e") == 0;
		}
		assert_true(seen_b && seen_e);
		mx_list_free(l, n);
	}
	mx_sort(NULL, 0);
}

/* Every permutation of a run of four equal priorities shows up, each
 * roughly 1/24 of the time, and the run stays between its neighbours. */
static void
test_sort_shuffle_uniform(void **state)
{
	static const int prio[] = { 20, 10, 10, 10, 10, 5 };
	static const char *const names[] = { "z", "a", "b", "c", "d", "y" };
	const int runs = 24000;
	unsigned count[256] = { 0 };
	size_t distinct = 0;

	(void)state;
	for (int r = 0; r < runs; r++) {
		struct mx *l = list_of(prio, names, 6);
		unsigned key = 0;

		mx_sort(l, 6);
		assert_string_equal(l[0].exchange, "y");
		assert_string_equal(l[5].exchange, "z");
		for (size_t i = 1; i < 5; i++)
			key = key * 4 + (unsigned)(l[i].exchange[0] - 'a');
		count[key]++;
		mx_list_free(l, 6);
	}
	for (size_t k = 0; k < 256; k++) {
		if (count[k] == 0)
			continue;
		distinct++;
		/* mean 1000, sd ~31: 800..1200 is over 6 sd */
		if (count[k] < 800 || count[k] > 1200)
			fail_msg("permutation %zu seen %u times", k, count[k]);
	}
	assert_int_equal(distinct, 24);
}

static void
test_sort_two_equal(void **state)
{
	static const int prio[] = { 10, 10 };
	static const char *const names[] = { "mx1", "mx2" };
	int first_mx1 = 0;

	(void)state;
	for (int r = 0; r < 1000; r++) {
		struct mx *l = list_of(prio, names, 2);

		mx_sort(l, 2);
		first_mx1 += strcmp(l[0].exchange, "mx1") == 0;
		mx_list_free(l, 2);
	}
	assert_true(first_mx1 > 400 && first_mx1 < 600);
}

static void
test_is_null(void **state)
{
	static const int p0[] = { 0 }, p1[] = { 1 }, p00[] = { 0, 0 };
	static const char *const dot[] = { "" }, *const host[] = { "a" };
	static const char *const two[] = { "", "mx" };
	struct mx *l;

	(void)state;
	l = list_of(p0, dot, 1);
	assert_true(mx_is_null(l, 1));
	assert_false(mx_is_null(l, 0));
	mx_list_free(l, 1);
	l = list_of(p1, dot, 1);
	assert_false(mx_is_null(l, 1));
	mx_list_free(l, 1);
	l = list_of(p0, host, 1);
	assert_false(mx_is_null(l, 1));
	mx_list_free(l, 1);
	l = list_of(p00, two, 2);
	assert_false(mx_is_null(l, 2));
	mx_list_free(l, 2);
}

static void
expect_order(const struct mx *l, size_t n, const char *const *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].exchange ? l[i].exchange : "(path)",
		    want[i]) != 0)
			fail_msg("[%zu] = %s, want %s", i,
			    l[i].exchange ? l[i].exchange : "(path)", want[i]);
}

static void
test_inet_prefer(void **state)
{
	/* Two MXs: mx1 (10) with ::1 and 127.0.0.2, mx2 (20) with 2001:db8::2
	 * and 192.0.2.2; plus a host name and a socket path. */
	static const int prio[] = { 10, 10, 20, 20, 30, 40 };
	static const char *const in[] = { "::1", "127.0.0.2", "2001:db8::2",
	    "192.0.2.2", "name.example", "(path)" };
	static const char *const v4[] = { "127.0.0.2", "192.0.2.2",
	    "name.example", "(path)", "::1", "2001:db8::2" };
	static const char *const v6[] = { "::1", "2001:db8::2",
	    "name.example", "(path)", "127.0.0.2", "192.0.2.2" };
	struct mx *l;

	(void)state;
	l = list_of(prio, in, 6);
	free(l[5].exchange);
	l[5].exchange = NULL;
	l[5].path = xstrdup("/tmp/lmtp.sock");
	mx_inet_prefer(l, 6, INET_PREFER_DEFAULT);
	expect_order(l, 6, in);
	mx_inet_prefer(l, 6, INET_PREFER_V4);
	expect_order(l, 6, v4);
	/* The partition is global: mx2's IPv4 precedes mx1's IPv6. */
	assert_int_equal(l[1].priority, 20);
	assert_int_equal(l[4].priority, 10);
	mx_list_free(l, 6);

	l = list_of(prio, in, 6);
	free(l[5].exchange);
	l[5].exchange = NULL;
	l[5].path = xstrdup("/tmp/lmtp.sock");
	mx_inet_prefer(l, 6, INET_PREFER_V6);
	expect_order(l, 6, v6);
	mx_list_free(l, 6);
	mx_inet_prefer(NULL, 0, INET_PREFER_V4);
}

static void
test_ip_family(void **state)
{
	(void)state;
	assert_int_equal(mx_ip_family("1.2.3.4"), 4);
	assert_int_equal(mx_ip_family("::1"), 6);
	assert_int_equal(mx_ip_family("::ffff:1.2.3.4"), 6);
	assert_int_equal(mx_ip_family("2001:db8::1"), 6);
	assert_int_equal(mx_ip_family("mx.example"), 0);
	assert_int_equal(mx_ip_family("1.2.3"), 0);
	assert_int_equal(mx_ip_family("[::1]"), 0);
	assert_int_equal(mx_ip_family(""), 0);
	assert_int_equal(mx_ip_family(NULL), 0);
}

static void
test_ip_is_local(void **state)
{
	static const char *const local[] = {
		"127.0.0.1", "127.0.0.5", "127.255.255.254", "0.0.0.0",
		"169.254.1.1", "::", "::1", "fe80::1", "febf::1", "fc00::1",
		"fd12:3456::1", "::ffff:127.0.0.1", "::ffff:169.254.0.9",
		"::ffff:0.0.0.0",
	};
	static const char *const remote[] = {
		"192.0.2.1", "2001:db8::1", "128.0.0.1", "169.253.1.1",
		"fec0::1", "fe00::1", "::2", "::ffff:192.0.2.1", "mx.example",
		"", "1.2.3",
	};

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
			if (!mx_ip_is_local(local[i]))
				fail_msg("%s should be local", local[i]);
		for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
			if (mx_ip_is_local(remote[i]))
				fail_msg("%s should not be local", remote[i]);
		mx_local_reset();
	}
	assert_false(mx_ip_is_local(NULL));
}

/* --- dns.c without an answering server ------------------------------------ */

struct got {
	int			 calls;
	enum dns_status		 status;
	char			*error;
	char			*order[8];
	size_t			 n;
	struct event_base	*base;
};

static void
on_answer(void *arg, struct dns_answer *a)
{
	struct got *g = arg;

	g->calls++;
	g->status = a->status;
	g->error = a->error ? xstrdup(a->error) : NULL;
	for (size_t i = 0; i < a->n && i < 8; i++)
		g->order[i] = xstrdup(a->mxs[i].exchange ? a->mxs[i].exchange :
		    a->mxs[i].path);
	g->n = a->n;
	if (g->base != NULL)
		event_base_loopbreak(g->base);
}

static void
got_clear(struct got *g)
{
	free(g->error);
	for (size_t i = 0; i < g->n && i < 8; i++)
		free(g->order[i]);
	memset(g, 0, sizeof(*g));
}

/* A UDP socket on 127.0.0.1 that never answers; its port in *port. */
static int
silent_server(unsigned *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct dns *
dns_silent(struct event_base *base, int *fd)
{
	struct dns_config cfg = { NULL, 1000, 1 };
	char *servers[2], *err = NULL;
	unsigned port;
	struct dns *d;

	*fd = silent_server(&port);
	servers[0] = xasprintf("127.0.0.1:%u", port);
	servers[1] = NULL;
	cfg.servers = servers;
	d = dns_new(base, &cfg, &err);
	if (d == NULL)
		fail_msg("dns_new: %s", err);
	free(servers[0]);
	return d;
}

static void
run_for(struct event_base *base, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_dns_addresses_no_lookup(void **state)
{
	struct event_base *base = event_base_new();
	struct mx in[4];
	struct got g = { 0 };
	struct dns *d;
	int fd;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].exchange = "::1";
	in[1].exchange = "127.0.0.2";
	in[2].path = "/tmp/sock";
	in[3].exchange = "";		/* a null MX goes nowhere */
	d = dns_silent(base, &fd);
	g.base = base;
	dns_addresses(d, in, 4, INET_PREFER_V4, on_answer, &g);
	assert_int_equal(g.calls, 0);	/* never inside the call */
	run_for(base, 2000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.order[0], "127.0.0.2");
	assert_string_equal(g.order[1], "/tmp/sock");
	assert_string_equal(g.order[2], "::1");
	got_clear(&g);

	/* Nothing at all. */
	g.base = base;
	dns_addresses(d, NULL, 0, INET_PREFER_DEFAULT, on_answer, &g);
	run_for(base, 2000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.n, 0);
	got_clear(&g);

	/* Cancelled before its zero-timeout event. */
	dns_cancel(dns_addresses(d, in, 2, INET_PREFER_DEFAULT, on_answer,
	    &g));
	run_for(base, 50);
	assert_int_equal(g.calls, 0);
	dns_free(d);
	close(fd);
	event_base_free(base);
}

static void
test_dns_timeout(void **state)
{
	struct event_base *base = event_base_new();
	struct got g = { 0 };
	struct mx in = { 0 };
	struct dns *d;
	int fd;

	(void)state;
	d = dns_silent(base, &fd);
	g.base = base;
	dns_mx(d, "example.test", on_answer, &g);
	assert_int_equal(g.calls, 0);
	run_for(base, 5000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_TEMP);
	assert_string_equal(g.error, "Timeout while contacting DNS servers");
	got_clear(&g);

	/* Failed address lookups make the name disappear. */
	in.exchange = "mx.example.test";
	g.base = base;
	dns_addresses(d, &in, 1, INET_PREFER_DEFAULT, on_answer, &g);
	run_for(base, 5000);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.n, 0);
	got_clear(&g);
	dns_free(d);
	close(fd);
	event_base_free(base);
}

static void
test_dns_cancel_and_free(void **state)
{
	struct event_base *base = event_base_new();
	struct got g = { 0 };
	struct mx in[2];
	struct dns_query *q;
	struct dns *d;
	int fd;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].exchange = "mx.example.test";
	in[1].exchange = "192.0.2.1";
	d = dns_silent(base, &fd);
	/* Cancelled while c-ares still has it: no callback, freed once
	 * c-ares gives up (ASan checks the freeing). */
	q = dns_mx(d, "example.test", on_answer, &g);
	run_for(base, 100);
	dns_cancel(q);
	q = dns_addresses(d, in, 2, INET_PREFER_DEFAULT, on_answer, &g);
	dns_cancel(q);
	run_for(base, 2500);
	assert_int_equal(g.calls, 0);

	/* Freed with lookups pending and a completion waiting. */
	dns_mx(d, "example.test", on_answer, &g);
	dns_addresses(d, in, 2, INET_PREFER_DEFAULT, on_answer, &g);
	q = dns_mx(d, "other.test", on_answer, &g);
	dns_cancel(q);
	run_for(base, 50);
	dns_addresses(d, in + 1, 1, INET_PREFER_DEFAULT, on_answer, &g);
	dns_free(d);
	run_for(base, 50);
	assert_int_equal(g.calls, 0);
	close(fd);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_copy_clear),
		cmocka_unit_test(test_sort_priority),
		cmocka_unit_test(test_sort_shuffle_uniform),
		cmocka_unit_test(test_sort_two_equal),
		cmocka_unit_test(test_is_null),
		cmocka_unit_test(test_inet_prefer),
		cmocka_unit_test(test_ip_family),
		cmocka_unit_test(test_ip_is_local),
		cmocka_unit_test(test_dns_addresses_no_lookup),
		cmocka_unit_test(test_dns_timeout),
		cmocka_unit_test(test_dns_cancel_and_free),
	};

	return cmocka_run_group_tests_name("mx", tests, NULL, NULL);
}
