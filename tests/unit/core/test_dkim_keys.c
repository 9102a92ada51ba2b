/* Unit tests: core/dkim_keys — dkim.ini (header lists, oversigning,
 * canonicalisation, fallback, additional domains), the key directories
 * (Haraka's private + selector, <name>.private), the lookup by parent
 * domain, errors naming file and key, and --dkim-keygen's files. */
#include "unit.h"

#include <sys/stat.h>

#include "dkim_util.h"
#include "lib/fsutil.h"

static void
load_bad(const char *want)
{
	char *err = NULL;
	struct dkim_config *c = dkim_config_load(dir, &err);

	if (c != NULL)
		fail_msg("accepted, expected '%s'", want);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' does not hold '%s'", err, want);
	free(err);
}

static void
test_defaults_without_files(void **state)
{
	struct dkim_config *c;

	(void)state;
	c = load_ok();
	assert_true(c->enabled);
	assert_int_equal(c->hcanon, DKIM_RELAXED);
	assert_int_equal(c->bcanon, DKIM_RELAXED);
	assert_string_equal(c->headers[0], "from");
	assert_int_equal(c->noversign, 5);
	assert_int_equal(dkim_config_nkeys(c), 0);
	assert_null(dkim_config_find(c, "example.com"));
	dkim_config_unref(c);
}

static void
test_ini_and_keys(void **state)
{
	struct dkim_config *c;
	const struct dkim_domain *d;

	(void)state;
	keygen("example.com", "rsa1", DKIM_RSA_SHA256);
	keygen("example.com", "ed1", DKIM_ED25519_SHA256);
	keygen("esp.net", "esp", DKIM_RSA_SHA256);
	write_file(dir, "dkim.ini", "[sign]\nenabled=yes\nheaders = Subject; To:Date , "
	    "X-Custom\noversign=Subject\ndomain=esp.net\n"
	    "additional_domains=esp.net\n[canon]\nheader=simple\n"
	    "body=Relaxed\n");
	c = load_ok();
	assert_int_equal(c->hcanon, DKIM_SIMPLE);
	assert_int_equal(c->bcanon, DKIM_RELAXED);
	assert_int_equal(c->nheaders, 5);
	assert_string_equal(c->headers[0], "from");
	assert_string_equal(c->headers[4], "x-custom");
	assert_int_equal(c->noversign, 1);
	assert_int_equal(dkim_config_nkeys(c), 3);
	d = dkim_config_find(c, "Mail.Sub.EXAMPLE.com");
	assert_non_null(d);
	assert_string_equal(d->name, "example.com");
	assert_int_equal(d->nkeys, 2);
	/* `private` first, then ed25519.private. */
	assert_string_equal(d->keys[0].selector, "rsa1");
	assert_int_equal(d->keys[0].alg, DKIM_RSA_SHA256);
	assert_string_equal(d->keys[1].selector, "ed1");
	assert_int_equal(d->keys[1].alg, DKIM_ED25519_SHA256);
	assert_null(dkim_config_find(c, "example.org"));
	assert_non_null(c->fallback);
	assert_string_equal(c->fallback->name, "esp.net");
	assert_int_equal(c->nalso, 1);
	dkim_config_unref(c);
}

static void
test_errors_name_file_and_key(void **state)
{
	char *p;

	(void)state;
	write_file(dir, "dkim.ini", "[canon]\nbody=nofws\n");
	load_bad("config/dkim.ini:2: body: 'nofws' is neither simple nor "
	    "relaxed");
	write_file(dir, "dkim.ini", "[sign]\nadditional_domains=nowhere.test\n");
	load_bad("config/dkim.ini:2: additional_domains: no directory "
	    "config/dkim/nowhere.test/");
	write_file(dir, "dkim.ini", "");
	keygen("a.test", "s", DKIM_ED25519_SHA256);
	p = xasprintf("%s/dkim/a.test/ed25519.selector", dir);
	assert_int_equal(unlink(p), 0);
	free(p);
	load_bad("config/dkim/a.test/ed25519.selector: missing or empty");
	write_file(dir, "dkim/a.test/ed25519.selector", "bad/selector\n");
	load_bad("config/dkim/a.test/ed25519.selector: 'bad/selector' is not "
	    "a DNS label");
	write_file(dir, "dkim/a.test/ed25519.selector", "s\n");
	write_file(dir, "dkim/a.test/ed25519.private", "-----BEGIN PRIVATE KEY-----\n"
	    "garbage\n-----END PRIVATE KEY-----\n");
	load_bad("config/dkim/a.test/ed25519.private: not a PEM private key");
}

static void
test_keygen_never_overwrites(void **state)
{
	struct buf out = BUF_INIT;
	char *err = NULL, *p;
	struct stat st;

	(void)state;
	keygen("k.test", "one", DKIM_RSA_SHA256);
	p = xasprintf("%s/dkim/k.test/private", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);
	assert_int_equal(dkim_keygen(dir, "k.test", "two", DKIM_RSA_SHA256,
	    2048, &out, &err), -1);
	assert_non_null(strstr(err, "never overwritten"));
	free(err);
	assert_int_equal(dkim_keygen(dir, "../k.test", "two",
	    DKIM_ED25519_SHA256, 0, &out, &err), -1);
	free(err);
	assert_int_equal(dkim_keygen(dir, "k.test", "two", DKIM_RSA_SHA256,
	    512, &out, &err), -1);
	assert_non_null(strstr(err, "1024 to 8192"));
	free(err);
	assert_int_equal(out.len, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_without_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_ini_and_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_file_and_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keygen_never_overwrites,
		    setup, teardown),
	};

	return cmocka_run_group_tests_name("dkim_keys", tests, NULL, NULL);
}
