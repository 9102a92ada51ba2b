/* unit.h: shared helpers for the cmocka unit tests. */
#ifndef OUTPOST_UNIT_H
#define OUTPOST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "lib/xmalloc.h"

/* Log output captured in a temporary file. */
static inline FILE *
capture_start(void)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	log_set_color(0);
	log_set_fd(fileno(f));
	return f;
}

/* Everything logged since capture_start (malloc'd); resets the log fd. */
static inline char *
capture_end(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = lseek(fileno(f), 0, SEEK_END);
	assert_true(n >= 0);
	s = xmalloc((size_t)n + 1);
	assert_int_equal(pread(fileno(f), s, (size_t)n, 0), n);
	s[n] = '\0';
	fclose(f);
	log_set_fd(1);
	return s;
}

/* A temporary directory with files; removed by tmpdir_rm. */
static inline char *
tmpdir_new(void)
{
	char tmpl[] = "/tmp/outpost-unit.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static inline void
write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static inline void
tmpdir_rm(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(dir);
}

#endif
