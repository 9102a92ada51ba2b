/* dkim_util.h: the DKIM unit tests' key directory (a temp dir per test:
 * setup, teardown), keys generated into it, dkim.ini loaded from it. */
#ifndef OUTPOST_DKIM_UTIL_H
#define OUTPOST_DKIM_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dkim_keys.h"
#include "lib/buf.h"

static char dir[64];

static inline void
keygen(const char *domain, const char *sel, enum dkim_alg alg)
{
	struct buf out = BUF_INIT;
	char *err = NULL;

	if (dkim_keygen(dir, domain, sel, alg, 1024, &out, &err) != 0)
		fail_msg("keygen: %s", err);
	assert_non_null(strstr(out.p, "._domainkey."));
	buf_free(&out);
}

static inline int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/outpost-dkim-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static inline int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf %s", dir);

	(void)state;
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

static inline struct dkim_config *
load_ok(void)
{
	char *err = NULL;
	struct dkim_config *c = dkim_config_load(dir, &err);

	if (c == NULL)
		fail_msg("unexpected error: %s", err);
	return c;
}

#endif
