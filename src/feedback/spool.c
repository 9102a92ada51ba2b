/*
 * spool: the feedback spool's files — the durable write before the 250,
 * the read back, the envelope preamble, the move to quarantine and the
 * start-up scan (feedback/spool.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "feedback/spool.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"

#define MAGIC		"outpost-feedback 1\n"
#define TMP		"tmp."

void
spool_preamble(long long arrival, const char *id, const char *helo,
    const char *ip, const char *from, const char *const *rcpts,
    size_t nrcpts, struct buf *out, char **name)
{
	buf_adds(out, MAGIC);
	buf_printf(out, "arrival %lld\nid %s\nhelo %s\nip %s\nfrom %s\n",
	    arrival, id, helo != NULL ? helo : "", ip != NULL ? ip : "",
	    from != NULL ? from : "");
	for (size_t i = 0; i < nrcpts; i++)
		buf_printf(out, "rcpt %s\n", rcpts[i]);
	buf_addc(out, '\n');
	*name = xasprintf("%013lld.%s", arrival, id);
}

int
spool_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;

	if (fd == -1)
		return errno;
	if (fsync(fd) != 0)
		e = errno;
	close(fd);
	return e;
}

int
spool_write(const char *dir, const char *name, const struct buf *pre,
    const char *msg, size_t len)
{
	char *tmp = xasprintf("%s/" TMP "%s", dir, name);
	char *path = xasprintf("%s/%s", dir, name);
	struct iovec iov[2];
	int fd, e = 0;

	iov[0].iov_base = pre->p;
	iov[0].iov_len = pre->len;
	iov[1].iov_base = (void *)(uintptr_t)msg;
	iov[1].iov_len = len;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		e = errno;
	else if (writev_full(fd, iov, 2) != 0 || fsync(fd) != 0)
		e = errno;
	if (fd != -1 && close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && rename(tmp, path) != 0)
		e = errno;
	if (e != 0)
		unlink(tmp);
	free(tmp);
	free(path);
	return e;
}

int
spool_read(const char *dir, const char *name, char **data, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	int fd, e = 0;
	size_t got = 0;

	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) != 0) {
		e = errno;
		goto done;
	}
	*data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *data + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : EIO;
			break;
		}
		got += (size_t)r;
	}
	(*data)[got] = '\0';
	*len = got;
done:
	if (fd != -1)
		close(fd);
	if (e != 0) {
		free(*data);
		*data = NULL;
	}
	free(path);
	return e;
}

static int
field(const char **p, const char *end, const char *key, char **out)
{
	size_t k = strlen(key);
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL || (size_t)(nl - *p) < k + 1 ||
	    memcmp(*p, key, k) != 0 || (*p)[k] != ' ')
		return -1;
	*out = xstrndup(*p + k + 1, (size_t)(nl - *p) - k - 1);
	*p = nl + 1;
	return 0;
}

int
spool_envelope(const char *data, size_t len, struct fb_envelope *e)
{
	const char *p = data, *end = data + len;
	char *arrival = NULL, *r;

	memset(e, 0, sizeof(*e));
	if (len < strlen(MAGIC) || memcmp(p, MAGIC, strlen(MAGIC)) != 0)
		return -1;
	p += strlen(MAGIC);
	if (field(&p, end, "arrival", &arrival) != 0 ||
	    field(&p, end, "id", &e->id) != 0 ||
	    field(&p, end, "helo", &e->helo) != 0 ||
	    field(&p, end, "ip", &e->ip) != 0 ||
	    field(&p, end, "from", &e->from) != 0)
		goto bad;
	e->arrival = strtoll(arrival, NULL, 10);
	free(arrival);
	arrival = NULL;
	while (field(&p, end, "rcpt", &r) == 0) {
		e->rcpts = xreallocarray(e->rcpts, e->nrcpts + 1,
		    sizeof(*e->rcpts));
		e->rcpts[e->nrcpts++] = r;
	}
	if (p >= end || *p != '\n')
		goto bad;
	e->msg = p + 1;
	e->len = (size_t)(end - p - 1);
	return 0;
bad:
	free(arrival);
	spool_envelope_free(e);
	return -1;
}

void
spool_envelope_free(struct fb_envelope *e)
{
	free(e->id);
	free(e->helo);
	free(e->ip);
	free(e->from);
	for (size_t i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	memset(e, 0, sizeof(*e));
}

int
spool_move(const char *from_dir, const char *name, const char *dir)
{
	char *a = xasprintf("%s/%s", from_dir, name);
	char *b = xasprintf("%s/%s", dir, name);
	int e = 0;

	if (rename(a, b) != 0)
		e = errno;
	else if ((e = spool_sync(dir)) == 0)
		e = spool_sync(from_dir);
	free(a);
	free(b);
	return e;
}

int
spool_remove(const char *dir, const char *name)
{
	char *a = xasprintf("%s/%s", dir, name);
	int e = 0;

	if (unlink(a) != 0 && errno != ENOENT)
		e = errno;
	free(a);
	return e;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
spool_scan(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = xcalloc(1, sizeof(*v));
	size_t n = 0;

	if (d == NULL)
		return v;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, TMP, strlen(TMP)) == 0) {
			spool_remove(dir, de->d_name);	/* never answered */
			continue;
		}
		v = xreallocarray(v, n + 2, sizeof(*v));
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), by_name);
	return v;
}
