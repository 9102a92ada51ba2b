/* Unit tests: dane_policy.c's rules of DANE for SMTP (RFC 7672) — TLSA
 * records read and judged usable or not, MX exchanges compared, the policy
 * decided from the security of the three answers, OpenSSL's DANE set up on
 * a connection — and dane.c's resolver set-up, a lookup cancelled against a
 * silent server, and its release. Nothing here asks the system resolver. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "delivery/dane.h"
#include "delivery/tlsrpt.h"
#include "delivery/mta_session.h"
#include "delivery/pool.h"

/* --- TLSA records ---------------------------------------------------------- */

static void
test_tlsa_parse(void **state)
{
	const unsigned char rd[] = { 3, 1, 1, 0xab, 0xcd };
	struct dane_tlsa t;

	(void)state;
	assert_int_equal(dane_tlsa_parse(rd, 3, &t), -1);	/* no data */
	assert_int_equal(dane_tlsa_parse(rd, 0, &t), -1);
	assert_int_equal(dane_tlsa_parse(rd, sizeof(rd), &t), 0);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.len, 2);
	assert_memory_equal(t.data, rd + 3, 2);
	free(t.data);
}

struct usable_case {
	uint8_t	 usage, selector, mtype;
	size_t	 len;
	int	 usable;
};

static const struct usable_case usable_cases[] = {
	{ 3, 1, 1, 32, 1 },	/* DANE-EE SPKI SHA-256 */
	{ 3, 0, 1, 32, 1 },
	{ 3, 1, 2, 64, 1 },	/* SHA-512 */
	{ 3, 0, 0, 300, 1 },	/* the full certificate */
	{ 2, 0, 1, 32, 1 },	/* DANE-TA */
	{ 2, 1, 0, 91, 1 },
	{ 0, 0, 1, 32, 0 },	/* PKIX-TA: unusable for SMTP */
	{ 1, 1, 1, 32, 0 },	/* PKIX-EE */
	{ 4, 1, 1, 32, 0 },	/* unknown usage */
	{ 3, 2, 1, 32, 0 },	/* unknown selector */
	{ 3, 1, 3, 32, 0 },	/* unknown matching type */
	{ 3, 1, 1, 31, 0 },	/* SHA-256 of the wrong length */
	{ 3, 1, 1, 64, 0 },
	{ 3, 1, 2, 32, 0 },	/* SHA-512 of the wrong length */
	{ 3, 1, 0, 0, 0 },	/* empty */
};

static void
test_tlsa_usable(void **state)
{
	unsigned char data[300] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(usable_cases) / sizeof(usable_cases[0]);
	    i++) {
		const struct usable_case *c = &usable_cases[i];
		struct dane_tlsa t = { c->usage, c->selector, c->mtype, c->len,
		    data };

		if (dane_tlsa_usable(&t) != c->usable)
			fail_msg("TLSA %u %u %u (%zu bytes): expected %s",
			    c->usage, c->selector, c->mtype, c->len,
			    c->usable ? "usable" : "unusable");
	}
}

static void
test_mx_names(void **state)
{
	static const unsigned char mx[] = "\x00\x0a\x02mx\x04" "dane\x07"
	    "example";	/* and the terminating NUL: the root label */
	static const unsigned char bad[] = "\x00\x0a\x3fmx";

	(void)state;
	assert_true(dane_mx_names(mx, sizeof(mx), "mx.dane.example"));
	assert_true(dane_mx_names(mx, sizeof(mx), "MX.Dane.Example."));
	assert_false(dane_mx_names(mx, sizeof(mx), "mx.dane"));
	assert_false(dane_mx_names(mx, sizeof(mx), "mx.dane.example.org"));
	assert_false(dane_mx_names(mx, sizeof(mx), "x.dane.example"));
	assert_false(dane_mx_names(mx, 2, "mx.dane.example"));
	/* A label running past the end. */
	assert_false(dane_mx_names(bad, sizeof(bad) - 1, "mx"));
	/* The null MX (".") names nothing. */
	assert_false(dane_mx_names((const unsigned char *)"\x00\x00\x00", 3,
	    ""));
}

/* --- dane_decide ------------------------------------------------------------ */

static unsigned char digest[32];

static const struct dane_tlsa ee = { 3, 1, 1, 32, digest };
static const struct dane_tlsa pkix = { 1, 1, 1, 32, digest };
static const struct dane_tlsa dane_ta = { 2, 0, 1, 32, digest };

struct decide_case {
	enum dane_sec	 mx, addr, tlsa;
	int		 has_host;
	const struct dane_tlsa *recs;
	size_t		 n;
	enum dane_level	 level;
	size_t		 kept;
	const char	*result;	/* NULL: none */
	const char	*why;		/* a part of why, NULL: none */
};

#define S	DANE_SEC_SECURE
#define I	DANE_SEC_INSECURE
#define B	DANE_SEC_BOGUS
#define F	DANE_SEC_FAIL

static const struct dane_tlsa both[] = { { 1, 1, 1, 32, digest },
    { 3, 1, 1, 32, digest }, { 2, 0, 1, 32, digest } };

static const struct decide_case decide_cases[] = {
	/* DANE applies: usable records kept, unusable ones dropped. */
	{ S, S, S, 1, &ee, 1, DANE_VERIFY, 1, NULL, NULL },
	{ S, S, S, 1, &dane_ta, 1, DANE_VERIFY, 1, NULL, NULL },
	{ S, S, S, 1, both, 3, DANE_VERIFY, 2, NULL, NULL },
	/* Only unusable records: TLS without authentication. */
	{ S, S, S, 1, &pkix, 1, DANE_ENCRYPT, 0, "tlsa-invalid", NULL },
	/* Insecure anywhere on the path, or no TLSA: no DANE. */
	{ I, S, S, 1, &ee, 1, DANE_NONE, 0, NULL, "MX records of d.example "
	    "are not signed" },
	{ S, I, S, 1, &ee, 1, DANE_NONE, 0, NULL, "addresses of mx.d.example "
	    "are not signed" },
	{ S, S, I, 1, &ee, 1, DANE_NONE, 0, NULL, "TLSA records" },
	{ S, S, S, 1, NULL, 0, DANE_NONE, 0, NULL, "has no TLSA record" },
	/* Bogus or failed: the host is unusable for now. */
	{ B, S, S, 1, &ee, 1, DANE_FAIL, 0, "dnssec-invalid",
	    "DANE: the MX records of d.example failed DNSSEC validation" },
	{ F, S, S, 1, &ee, 1, DANE_FAIL, 0, "dnssec-invalid",
	    "validating lookup of the MX records" },
	{ S, B, S, 1, &ee, 1, DANE_FAIL, 0, "dnssec-invalid",
	    "addresses of mx.d.example failed" },
	{ S, F, S, 1, &ee, 1, DANE_FAIL, 0, "dnssec-invalid", "addresses" },
	{ S, S, B, 1, &ee, 1, DANE_FAIL, 0, "dnssec-invalid",
	    "TLSA records of _25._tcp.mx.d.example failed" },
	{ S, S, F, 1, NULL, 0, DANE_FAIL, 0, "dnssec-invalid", "TLSA" },
	/* A secure MX RRset that does not name the host. */
	{ S, S, S, 0, &ee, 1, DANE_FAIL, 0, "dnssec-invalid",
	    "mx.d.example is not in the validated MX records of d.example" },
	/* An insecure MX RRset: its host need not be in it. */
	{ I, S, S, 0, &ee, 1, DANE_NONE, 0, NULL, NULL },
};

static void
test_decide(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]);
	    i++) {
		const struct decide_case *c = &decide_cases[i];
		struct dane_answers a = { c->mx, c->addr, c->tlsa, c->has_host,
		    c->recs, c->n, NULL };
		struct dane_policy *p = dane_decide("d.example", "mx.d.example",
		    &a);

		if (p->level != c->level || p->n != c->kept)
			fail_msg("case %zu: level %d with %zu records, expected "
			    "%d with %zu", i, (int)p->level, p->n,
			    (int)c->level, c->kept);
		if ((c->result == NULL) != (p->result == NULL) ||
		    (c->result != NULL && strcmp(c->result, p->result) != 0))
			fail_msg("case %zu: result %s", i,
			    p->result ? p->result : "(none)");
		if (c->why != NULL && (p->why == NULL ||
		    strstr(p->why, c->why) == NULL))
			fail_msg("case %zu: why '%s'", i,
			    p->why ? p->why : "(none)");
		for (size_t j = 0; j < p->n; j++)
			assert_true(dane_tlsa_usable(&p->recs[j]));
		assert_string_equal(p->domain, "d.example");
		assert_string_equal(p->host, "mx.d.example");
		assert_non_null(p->key);
		dane_policy_unref(p);
	}
}

static void
test_policy_keys(void **state)
{
	unsigned char other[32];
	struct dane_tlsa o = { 3, 1, 1, 32, other };
	struct dane_answers a = { S, S, S, 1, &ee, 1, NULL };
	struct dane_policy *p1, *p2, *p3, *p4;

	(void)state;
	memset(other, 0x5a, sizeof(other));
	p1 = dane_decide("d.example", "mx.d.example", &a);
	p2 = dane_decide("e.example", "mx.d.example", &a);
	a.recs = &o;
	p3 = dane_decide("d.example", "mx.d.example", &a);
	a.recs = &pkix;
	p4 = dane_decide("d.example", "mx.d.example", &a);
	/* The same host and records: one pool of connections. */
	assert_string_equal(p1->key, p2->key);
	assert_string_not_equal(p1->key, p3->key);
	assert_string_not_equal(p1->key, p4->key);
	/* The connection pool keeps them apart, and from no DANE. */
	{
		struct mta_conf c = { .ip = "192.0.2.1", .port = 25,
		    .helo = "me.test", .tls = MTA_TLS_MUST };
		char *none = pool_key(&c), *k1, *k3;

		c.dane = p1;
		k1 = pool_key(&c);
		c.dane = p3;
		k3 = pool_key(&c);
		assert_string_not_equal(none, k1);
		assert_string_not_equal(k1, k3);
		assert_non_null(strstr(k1, p1->key));
		free(none);
		free(k1);
		free(k3);
	}
	assert_ptr_equal(dane_policy_ref(p1), p1);
	dane_policy_unref(p1);
	dane_policy_unref(p1);
	dane_policy_unref(p2);
	dane_policy_unref(p3);
	dane_policy_unref(p4);
	dane_policy_unref(NULL);
	assert_null(dane_policy_ref(NULL));
}

/* --- OpenSSL ---------------------------------------------------------------- */

static void
test_ssl_setup(void **state)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct dane_answers a = { S, S, S, 1, &ee, 1, NULL };
	struct dane_policy *verify = dane_decide("d.example", "mx.d.example",
	    &a), *encrypt;
	SSL *ssl;
	char *err;

	(void)state;
	a.recs = &pkix;
	encrypt = dane_decide("d.example", "mx.d.example", &a);
	/* Without DANE on the context, OpenSSL refuses. */
	ssl = SSL_new(ctx);
	err = dane_ssl_setup(ssl, verify);
	assert_non_null(err);
	assert_non_null(strstr(err, "DANE: cannot enable DANE"));
	free(err);
	SSL_free(ssl);

	assert_true(SSL_CTX_dane_enable(ctx) > 0);
	ssl = SSL_new(ctx);
	assert_null(dane_ssl_setup(ssl, verify));
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_PEER);
	assert_string_equal(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name),
	    "mx.d.example");
	/* Before a handshake nothing matched: a failure, never a pass. */
	err = dane_ssl_check(ssl, verify, "192.0.2.1:25", NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "DANE: "));
	free(err);
	SSL_free(ssl);

	ssl = SSL_new(ctx);
	assert_null(dane_ssl_setup(ssl, encrypt));
	assert_int_equal(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
	assert_null(dane_ssl_check(ssl, encrypt, "192.0.2.1:25", NULL));
	SSL_free(ssl);

	/* Counted by tlsrpt.c (the checks above counted too), domains
	 * without regard to case. */
	tlsrpt_reset();
	dane_count("d.example", "success", NULL);
	dane_count("D.Example", "validation-failure", NULL);
	assert_int_equal(tlsrpt_get("d.example", TLSRPT_POLICY_TLSA,
	    TLSRPT_SUCCESS), 1);
	assert_int_equal(tlsrpt_get("d.example", TLSRPT_POLICY_TLSA,
	    TLSRPT_VALIDATION_FAILURE), 1);
	tlsrpt_reset();
	dane_policy_unref(verify);
	dane_policy_unref(encrypt);
	SSL_CTX_free(ctx);
}

/* --- the resolver ---------------------------------------------------------- */

static char *
write_anchor(void)
{
	char path[] = "/tmp/test_dane_ta.XXXXXX";
	int fd = mkstemp(path);
	const char *ds = "d.example. IN DS 56306 13 2 "
	    "b88b47130be85997c80db986a062803082e447376c5600a0859bbae5573f451a\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, ds, strlen(ds)), (ssize_t)strlen(ds));
	close(fd);
	return strdup(path);
}

static void
test_resolver_bad_forwarder(void **state)
{
	struct event_base *base = event_base_new();
	char *ta = write_anchor(), *err = NULL;

	(void)state;
	assert_null(dane_new(base, ta, "127.0.0.1@53, not-an-address", NULL,
	    &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "dane_resolvers: bad resolver "
	    "'not-an-address'"));
	free(err);
	err = NULL;
	/* net-utils.ini's forms, and libunbound's own. */
	{
		char *servers[] = { "127.0.0.1:5353", "[::1]:5353", "::1",
		    NULL };
		struct dane *d = dane_new(base, ta, NULL, servers, &err);

		assert_null(err);
		assert_non_null(d);
		dane_free(d);
		d = dane_new(base, ta, " 127.0.0.1@5353 ,::1@53", NULL, &err);
		assert_null(err);
		assert_non_null(d);
		dane_free(d);
	}
	unlink(ta);
	free(ta);
	event_base_free(base);
}

static void
never(void *arg, struct dane_policy *p)
{
	(void)arg;
	(void)p;
	fail_msg("a cancelled lookup answered");
}

/* A server that never answers: the lookup is cancelled, the resolver freed
 * with nothing pending, nothing leaks. */
static void
test_resolver_cancel(void **state)
{
	struct event_base *base = event_base_new();
	char *ta = write_anchor(), *err = NULL, server[64];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char *servers[2] = { server, NULL };
	struct dane *d;
	struct dane_query *q;
	struct timeval tv = { 0, 200000 };

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(sin.sin_port));
	d = dane_new(base, ta, NULL, servers, &err);
	assert_null(err);
	assert_non_null(d);
	q = dane_lookup(d, "d.example", "mx.d.example", 4, never, NULL);
	assert_non_null(q);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	dane_cancel(q);
	dane_free(d);
	close(fd);
	unlink(ta);
	free(ta);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlsa_parse),
		cmocka_unit_test(test_tlsa_usable),
		cmocka_unit_test(test_mx_names),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_policy_keys),
		cmocka_unit_test(test_ssl_setup),
		cmocka_unit_test(test_resolver_bad_forwarder),
		cmocka_unit_test(test_resolver_cancel),
	};

	return cmocka_run_group_tests_name("dane", tests, NULL, NULL);
}
