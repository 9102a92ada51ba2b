/* Unit tests: lib/fsutil — unnamed files (O_TMPFILE): the probe leaves
 * nothing behind, a linked file holds what was written, a taken name is
 * refused (EEXIST) and an unlinked one leaves no name; and
 * buf_replace_head (lib/buf), the in-place replacement of a buffer's
 * start. */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include "lib/buf.h"
#include "lib/fsutil.h"

static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
test_unnamed(void **state)
{
	char *dir = tmpdir_new(), *path, got[16] = "";
	int dfd, fd, rfd;
	enum fs_unnamed how;

	(void)state;
	assert_true((dfd = open(dir, O_RDONLY | O_DIRECTORY)) != -1);
	how = fs_unnamed_probe(dfd, "tmp.probe");
	assert_int_equal(entries(dir), 0);
	if (how == FS_UNNAMED_NONE) {
		/* No O_TMPFILE here: the link is refused, never faked. */
		assert_int_equal(fs_unnamed_link(how, 0, dfd, "x"), -1);
		goto out;
	}
	/* Not linked: nothing to see, and nothing left once closed. */
	assert_true((fd = fs_unnamed_open(dfd)) != -1);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(entries(dir), 0);
	close(fd);
	assert_int_equal(entries(dir), 0);
	/* Linked: the file, with its bytes. */
	assert_true((fd = fs_unnamed_open(dfd)) != -1);
	assert_int_equal(write(fd, "hello", 5), 5);
	assert_int_equal(fs_unnamed_link(how, fd, dfd, "E.1.1"), 0);
	close(fd);
	path = xasprintf("%s/E.1.1", dir);
	assert_true((rfd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(rfd, got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	close(rfd);
	free(path);
	/* A taken name is refused, and stays as it was. */
	assert_true((fd = fs_unnamed_open(dfd)) != -1);
	assert_int_equal(fs_unnamed_link(how, fd, dfd, "E.1.1"), -1);
	assert_int_equal(errno, EEXIST);
	close(fd);
	assert_int_equal(entries(dir), 1);
out:
	close(dfd);
	tmpdir_rm(dir);
}

static void
test_replace_head(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_replace_head(&b, 0, "H: 1\r\n", 6);	/* an empty buffer */
	assert_string_equal(b.p, "H: 1\r\n");
	buf_reset(&b);
	buf_adds(&b, "Trace\r\nBody\r\n");
	buf_replace_head(&b, 7, "Rcvd\r\nTrace\r\nDate\r\n", 19);
	assert_string_equal(b.p, "Rcvd\r\nTrace\r\nDate\r\nBody\r\n");
	assert_int_equal(b.len, strlen(b.p));
	buf_replace_head(&b, 6, "", 0);		/* shorter */
	assert_string_equal(b.p, "Trace\r\nDate\r\nBody\r\n");
	buf_replace_head(&b, 100, "x", 1);	/* cut past the end: all */
	assert_string_equal(b.p, "x");
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unnamed),
		cmocka_unit_test(test_replace_head),
	};

	return cmocka_run_group_tests_name("lib_fsutil", tests, NULL, NULL);
}
