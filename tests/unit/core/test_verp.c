/* Unit tests: VERP tokens round-trip, survive case folding, fit the
 * common address, and refuse every tampered or foreign token. */
#include "unit.h"

#include "core/verp.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "0123456789abcdef0123456789abcdeF";
static const char *jid = "4F1A2B3C-0D4E-4F60-8A7B-9C0D1E2F3A4B.1.1";

static char *
local_of(char *addr)
{
	char *at = strrchr(addr, '@');

	assert_non_null(at);
	*at = '\0';
	return addr;
}

static void
roundtrip(const char *id, const char *rcpt)
{
	char *a = verp_encode("b", "bounces.example.com", key, 32, id, rcpt);
	char *i, *r;

	assert_non_null(strstr(a, "@bounces.example.com"));
	assert_int_equal(strncmp(a, "b+", 2), 0);
	for (const char *p = a; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("+-=_.%@", *p) != NULL))
			fail_msg("%s: char '%c' outside the token alphabet", a,
			    *p);
	assert_null(strstr(a, ".."));
	assert_int_equal(verp_decode("b", key, 32, local_of(a), &i, &r),
	    VERP_OK);
	assert_string_equal(i, id);
	if (rcpt == NULL)
		assert_null(r);
	else
		assert_string_equal(r, rcpt);
	free(i);
	free(r);
	free(a);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	roundtrip(jid, "user@example.com");
	roundtrip(jid, NULL);
	roundtrip(jid, "First.Last+tag@Sub.Example.org");
	roundtrip(jid, "a..b@x.y");
	roundtrip(jid, ".lead.@x.y");
	roundtrip(jid, "we=ird%stuff-1_2@ex-ample.test");
	roundtrip("some-other id", "u@x.y");
	roundtrip("4F1A2B3C-0D4E-4F60-8A7B-9C0D1E2F3A4B", "u@x.y");
	roundtrip("4f1a2b3c-0d4e-4f60-8a7b-9c0d1e2f3a4b.1", "u@x.y");
}

static void
test_length(void **state)
{
	char *a = verp_encode("b", "b.example.com", key, 32, jid, NULL);

	(void)state;
	/* The job-id-only token fits RFC 5321's 64-octet local part. */
	assert_true(strchr(a, '@') - a <= 64);
	free(a);
}

static void
test_case_folding(void **state)
{
	char *a = verp_encode("b", "x.y", key, 32, jid, "User@Example.com");
	char *i, *r;

	(void)state;
	for (char *p = a; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(verp_decode("b", key, 32, local_of(a), &i, &r),
	    VERP_OK);
	assert_string_equal(i, jid);
	assert_string_equal(r, "User@Example.com");
	free(i);
	free(r);
	free(a);
}

static void
expect_bad(const char *local)
{
	char *i = (char *)1, *r = (char *)1;

	if (verp_decode("b", key, 32, local, &i, &r) != VERP_BAD)
		fail_msg("%s: not refused", local);
	assert_null(i);
	assert_null(r);
}

static void
test_forged(void **state)
{
	char *a = verp_encode("b", "x.y", key, 32, jid, "user@example.com");
	char *l = local_of(a), *i, *r;
	size_t n = strlen(l);

	(void)state;
	/* The wrong key. */
	assert_int_equal(verp_decode("b", key2, 32, l, &i, &r), VERP_BAD);
	/* Every single character changed is refused. */
	for (size_t k = 2; k < n; k++) {
		char save = l[k];

		l[k] = save == 'a' ? 'b' : save == '2' ? '3' : 'a';
		expect_bad(l);
		l[k] = save;
	}
	/* Another recipient or id spliced onto a valid MAC. */
	{
		char *b = verp_encode("b", "x.y", key, 32, jid, "other@example.com");
		char *lb = local_of(b), spliced[256];

		snprintf(spliced, sizeof(spliced), "%.15s%s", l, lb + 15);
		expect_bad(spliced);
		free(b);
	}
	expect_bad("b+");
	expect_bad("b+abc");
	expect_bad("b+aaaaaaaaaaaaa-");
	expect_bad("b+aaaaaaaaaaaaa-u");
	expect_bad("b+aaaaaaaaaaaaa-x4");
	expect_bad("b+aaaaaaaaaaaaa-x41-user%zz");
	expect_bad("b+aaaaaaaaaaaaa-x41-user%00");
	free(a);
}

static void
test_not_verp(void **state)
{
	char *i, *r;

	(void)state;
	assert_int_equal(verp_decode("b", key, 32, "postmaster", &i, &r),
	    VERP_NONE);
	assert_int_equal(verp_decode("b", key, 32, "bounce+x", &i, &r),
	    VERP_NONE);
	assert_int_equal(verp_decode("b", key, 32, "b", &i, &r), VERP_NONE);
	assert_int_equal(verp_decode("bounce", key, 32, "b+x", &i, &r),
	    VERP_NONE);
}

static void
test_return_path(void **state)
{
	struct verp_conf *c = xcalloc(1, sizeof(*c));
	char *p, *i, *r;

	(void)state;
	assert_null(verp_return_path("s@example.com", jid, "u@x.y"));
	c->prefix = xstrdup("rp");
	c->domain = xstrdup("bounce.example.com");
	memcpy(c->key, key, 32);
	c->keylen = 32;
	c->sender_domains = xcalloc(1, sizeof(char *));
	c->sender_domains[0] = xstrdup("example.com");
	c->nsender_domains = 1;
	verp_set(c);
	/* Outpost's own DSNs keep <>. */
	assert_null(verp_return_path("", jid, "u@x.y"));
	assert_null(verp_return_path("s@other.org", jid, "u@x.y"));
	p = verp_return_path("s@Example.COM", jid, "u@x.y");
	assert_non_null(p);
	assert_non_null(strstr(p, "@bounce.example.com"));
	assert_int_equal(verp_decode("rp", key, 32, local_of(p), &i, &r),
	    VERP_OK);
	assert_string_equal(r, "u@x.y");
	free(i);
	free(r);
	free(p);
	c->all = 1;
	p = verp_return_path("s@other.org", jid, NULL);
	assert_non_null(p);
	free(p);
	verp_set(NULL);
	assert_null(verp_get());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_case_folding),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_not_verp),
		cmocka_unit_test(test_return_path),
	};

	return cmocka_run_group_tests_name("core_verp", tests, NULL, NULL);
}
