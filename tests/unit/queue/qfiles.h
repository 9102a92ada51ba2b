/*
 * qfiles: the queue tests' files in a temp directory — writing bytes,
 * listing names — shared by test_entry.c, test_body.c and test_queue.c.
 */
#ifndef OUTPOST_TEST_QFILES_H
#define OUTPOST_TEST_QFILES_H

#include "unit.h"

#include "lib/buf.h"
#include "queue/scan.h"

/* Writes p[0..n) as dir/name; returns n. */
static inline size_t
put_file(const char *dir, const char *name, const char *p, size_t n)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(path);
	return n;
}

/* The names in dir, sorted, one a line (malloc'd). */
static inline char *
names(const char *dir)
{
	struct buf b = BUF_INIT;
	char **v;
	size_t n;

	assert_int_equal(qfs_dir_names(dir, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		buf_printf(&b, "%s\n", v[i]);
		free(v[i]);
	}
	free(v);
	buf_addc(&b, '\0');
	return b.p;
}

#endif
