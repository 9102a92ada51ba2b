/*
 * scan: the start-up scan of the queue directory. What is not a regular
 * file is left alone unopened, temp files are removed, corrupt entries
 * set aside as error.<name> (or handed over with what could be salvaged),
 * version 1 entries migrated, valid ones handed to the caller; then the
 * body files no entry refers to are removed. Touches only the directory's
 * files; keeps no state.
 */
#include "queue/scan.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "core/log.h"
#include "queue/body.h"
#include "queue/refs.h"

enum qfs_kind
qfs_classify(const char *name)
{
	if (strncmp(name, QFS_TMP_PREFIX, strlen(QFS_TMP_PREFIX)) == 0)
		return QFS_K_TMP;
	if (strncmp(name, QFS_ERROR_PREFIX, strlen(QFS_ERROR_PREFIX)) == 0)
		return QFS_K_ASIDE;
	if (strncmp(name, QFS_BODY_PREFIX, strlen(QFS_BODY_PREFIX)) == 0)
		return qfs_valid_id(name + strlen(QFS_BODY_PREFIX)) ?
		    QFS_K_BODY : QFS_K_OTHER;
	return qfs_valid_id(name) ? QFS_K_ENTRY : QFS_K_OTHER;
}

/* Sorts names[0..n) (and types with them) by strcmp. */
struct named {
	char		*name;
	unsigned char	 type;
};

static int
cmp_named(const void *a, const void *b)
{
	return strcmp(((const struct named *)a)->name,
	    ((const struct named *)b)->name);
}

int
qfs_dir_list(const char *dir, int sorted, char ***out, unsigned char **types,
    size_t *n)
{
	struct dirent *de;
	struct named *v = NULL;
	size_t cap = 0;
	char **names;
	DIR *d;
	int err;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (*n == cap)
			v = xreallocarray(v, cap = cap ? cap * 2 : 16, sizeof(*v));
		v[*n].name = xstrdup(de->d_name);
		v[(*n)++].type = de->d_type;
	}
	err = errno;
	closedir(d);
	if (err != 0) {
		while (*n > 0)
			free(v[--*n].name);
		free(v);
		errno = err;
		return -1;
	}
	if (sorted && *n > 0)
		qsort(v, *n, sizeof(*v), cmp_named);
	names = xreallocarray(NULL, *n ? *n : 1, sizeof(*names));
	if (types != NULL)
		*types = xmalloc(*n ? *n : 1);
	for (size_t i = 0; i < *n; i++) {
		names[i] = v[i].name;
		if (types != NULL)
			(*types)[i] = v[i].type;
	}
	free(v);
	*out = names;
	return 0;
}

int
qfs_dir_names(const char *dir, char ***out, size_t *n)
{
	return qfs_dir_list(dir, 1, out, NULL, n);
}

void
qfs_log_aside(const char *name, const char *reason, int err)
{
	if (err == 0)
		log_error("core", NULL, "queue: %s: %s; moved aside to "
		    QFS_ERROR_PREFIX "%s", name, reason, name);
	else
		log_error("core", NULL, "queue: %s: %s; cannot move it aside "
		    "to " QFS_ERROR_PREFIX "%s: %s", name, reason, name,
		    strerror(err));
}

/* Renames a corrupt entry to error.<name>, logging why. */
static int
set_aside(const char *dir, const char *name, const char *reason)
{
	char *from = xasprintf("%s/%s", dir, name), *why = xstrdup(reason);
	char *to = xasprintf("%s/" QFS_ERROR_PREFIX "%s", dir, name);
	int rc = rename(from, to);

	qfs_log_aside(name, why, rc == 0 ? 0 : errno);
	free(from);
	free(to);
	free(why);
	return rc;
}

/* The type of name in the directory at dirfd, never following a link:
 * 0 for a regular file (readdir's type DT_REG is taken as it is); -1
 * when it is gone or is something else (logged: left alone). */
static int
regular(int dirfd, const char *name, unsigned char dtype)
{
	const char *type;
	struct stat st;
	int rc;

	if (dtype == DT_REG)
		return 0;
	if ((rc = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_error("core", NULL, "queue: %s: %s; left alone",
			    name, strerror(errno));
		return -1;
	}
	if ((type = fs_type_name(st.st_mode)) == NULL)
		return 0;
	log_error("core", NULL, "queue: %s is a %s, not a queue file; left "
	    "alone%s", name, type, S_ISLNK(st.st_mode) ? " (not followed)" :
	    " (not opened)");
	return -1;
}

/* Copies the message of version 1 entry file src (e locates it) into
 * the new body file fd, with its head and tail. */
static int
copy_body(int src, const struct qentry *e, int fd)
{
	struct buf head = BUF_INIT, tail = BUF_INIT;
	char *chunk = xmalloc(65536);
	uint32_t crc;
	int rc = -1;

	qfs_body_head(e->msg_len, &head);
	crc = crc32c(0, head.p, head.len);
	if (write_full(fd, head.p, head.len) == -1)
		goto done;
	for (size_t off = 0, n; off < e->msg_len; off += n) {
		n = e->msg_len - off < 65536 ? e->msg_len - off : 65536;
		if (qfs_pread_all(&src, e->msg_offset + off, chunk, n) == -1 ||
		    write_full(fd, chunk, n) == -1)
			goto done;
		crc = crc32c(crc, chunk, n);
	}
	qfs_body_tail(crc, &tail);
	rc = write_full(fd, tail.p, tail.len) == -1 || fdatasync(fd) == -1 ?
	    -1 : 0;
done:
	free(chunk);
	buf_free(&head);
	buf_free(&tail);
	return rc;
}

/* dir/tmp.<name>, written with data and made durable, renamed to
 * dir/<to>. */
static int
put_file(int dirfd, const char *tmp, const char *to, int (*fill)(int, void *),
    void *arg)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600), rc = -1;

	if (fd == -1)
		return -1;
	if (fill(fd, arg) == 0 && close(fd) == 0) {
		fd = -1;
		rc = renameat(dirfd, tmp, dirfd, to);
	}
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

struct v1 {
	int			 src;
	const struct qentry	*e;
};

static int
fill_body(int fd, void *arg)
{
	struct v1 *v = arg;

	return copy_body(v->src, v->e, fd);
}

static int
fill_entry(int fd, void *arg)
{
	struct buf img = BUF_INIT;
	int rc;

	qfs_encode(arg, &img);
	rc = write_full(fd, img.p, img.len) == -1 || fdatasync(fd) == -1 ?
	    -1 : 0;
	buf_free(&img);
	return rc;
}

/*
 * A version 1 entry (its message inline) becomes a version 2 entry and
 * the body file msg.<name>: the body first, then the entry replaced, each
 * durable before its rename, then the directory. A crash in between
 * leaves the old entry and a body no entry refers to (swept).
 */
static int
migrate(const char *dir, const char *name, struct qentry *e)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *tb = xasprintf(QFS_TMP_PREFIX QFS_BODY_PREFIX "%s", name);
	char *b = tb + strlen(QFS_TMP_PREFIX), *te = NULL;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
	struct v1 v = { -1, e };
	const char *why;
	struct stat st;
	int err;

	if (dirfd == -1 ||
	    (v.src = qfs_open_regular(path, &st, &why, &err)) == -1)
		goto done;
	if (put_file(dirfd, tb, b, fill_body, &v) == -1 || fsync(dirfd) == -1)
		goto done;
	e->body = xstrdup(name);
	te = xasprintf(QFS_TMP_PREFIX "%s", name);
	if (put_file(dirfd, te, name, fill_entry, e) == -1 ||
	    fsync(dirfd) == -1) {
		free(e->body);
		e->body = NULL;
		goto done;
	}
	rc = 0;
done:
	if (rc == -1)
		log_error("core", NULL, "queue: %s: cannot move its message to "
		    "a body file (queue format 1 to 2): %s; left in place",
		    name, strerror(errno));
	if (v.src != -1)
		close(v.src);
	if (dirfd != -1)
		close(dirfd);
	free(path);
	free(tb);
	free(te);
	return rc;
}

/* Whether entry e's body file is there (a regular file). */
static int
has_body(int dirfd, const struct qentry *e)
{
	char *name = xasprintf(QFS_BODY_PREFIX "%s", e->body);
	struct stat st;
	int rc = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);

	free(name);
	return rc;
}

void
qfs_sweep_bodies(const char *dir, const struct qrefs *refs)
{
	char **names = NULL, *path;
	size_t n = 0, swept = 0;
	struct stat st;

	if (qfs_dir_names(dir, &names, &n) == -1)
		return;
	for (size_t i = 0; i < n; i++) {
		if (qfs_classify(names[i]) == QFS_K_BODY &&
		    qrefs_get(refs, names[i] + strlen(QFS_BODY_PREFIX)) == 0) {
			path = xasprintf("%s/%s", dir, names[i]);
			/* Only a regular file: anything else is not ours
			 * (the scan named it already). */
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (unlink(path) == 0)
					swept++;
				else if (errno != ENOENT)
					log_error("core", NULL, "queue: %s: %s",
					    names[i], strerror(errno));
			}
			free(path);
		}
		free(names[i]);
	}
	free(names);
	if (swept > 0)
		log_info("core", NULL, "queue: removed %zu message bod%s no "
		    "entry refers to (a crash's leftovers)", swept,
		    swept == 1 ? "y" : "ies");
}

/* --- reading ahead ------------------------------------------------------ */

/*
 * The entries' files are read and decoded by READERS threads ahead of the
 * scan, which still handles every name in order on its own thread (logs,
 * migrations, set-asides, the callbacks): on a big queue the reads take
 * the time, and on a cold disk several in flight take less of it. Only
 * names readdir calls regular files are read ahead (the scan checks the
 * others first, as before); the threads touch nothing but their slots.
 */
#define READERS		3
#define READ_CHUNK	64
#define READ_AHEAD	4096	/* names at most past the scan's: the entries
				 * waiting in slots stay few */

struct slot {
	struct qentry	*e;		/* NULL: refused (why, err) */
	const char	*why;
	int		 err;
};

struct ahead {
	int		 dirfd;
	char		**names;
	unsigned char	*types;
	size_t		 n;
	struct slot	*slots;
	unsigned char	*done;		/* under mu */
	size_t		 next;		/* under mu: the next chunk's start */
	size_t		 pos;		/* under mu: the scan's name */
	int		 stop;		/* under mu */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 th[READERS];
	int		 nth;
};

static int
ahead_wanted(const struct ahead *a, size_t i)
{
	return a->types[i] == DT_REG &&
	    qfs_classify(a->names[i]) == QFS_K_ENTRY;
}

static void *
ahead_main(void *arg)
{
	struct ahead *a = arg;
	size_t from, to;
	struct stat st;

	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!a->stop && a->next < a->n &&
		    a->next >= a->pos + READ_AHEAD)
			pthread_cond_wait(&a->cv, &a->mu);
		from = a->stop ? a->n : a->next;
		to = a->next = from + READ_CHUNK < a->n ? from + READ_CHUNK :
		    a->n;
		pthread_mutex_unlock(&a->mu);
		if (from >= to)
			return NULL;
		for (size_t i = from; i < to; i++) {
			struct slot *s = &a->slots[i];

			if (!ahead_wanted(a, i))
				continue;
			s->e = xmalloc(sizeof(*s->e));
			if (qfs_read_entry_at(a->dirfd, a->names[i], 1, s->e,
			    &st, &s->why, &s->err) == -1) {
				free(s->e);
				s->e = NULL;
			}
		}
		pthread_mutex_lock(&a->mu);
		memset(a->done + from, 1, to - from);
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
}

/* Starts the readers on a big enough directory (a->nth 0: none). */
static void
ahead_start(struct ahead *a, int dirfd, char **names, unsigned char *types,
    size_t n)
{
	memset(a, 0, sizeof(*a));
	if (n < 4 * READ_CHUNK)
		return;
	a->dirfd = dirfd;
	a->names = names;
	a->types = types;
	a->n = n;
	a->slots = xcalloc(n, sizeof(*a->slots));
	a->done = xcalloc(n, 1);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	for (int k = 0; k < READERS; k++)
		if (pthread_create(&a->th[a->nth], NULL, ahead_main, a) == 0)
			a->nth++;
}

/* Entry i as read ahead: 1 with *e (NULL: refused, *why and *err), once
 * it is; 0 when it is not read ahead (the caller reads it). */
static int
ahead_take(struct ahead *a, size_t i, struct qentry **e, const char **why,
    int *err)
{
	if (a->nth == 0 || !ahead_wanted(a, i))
		return 0;
	pthread_mutex_lock(&a->mu);
	if (i >= a->pos + READ_CHUNK) {		/* room for the readers */
		a->pos = i;
		pthread_cond_broadcast(&a->cv);
	}
	while (!a->done[i])
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	*e = a->slots[i].e;
	*why = a->slots[i].why;
	*err = a->slots[i].err;
	a->slots[i].e = NULL;
	return 1;
}

static void
ahead_stop(struct ahead *a)
{
	if (a->slots == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	for (int k = 0; k < a->nth; k++)
		pthread_join(a->th[k], NULL);
	for (size_t i = 0; i < a->n; i++)
		if (a->slots[i].e != NULL) {
			qentry_clear(a->slots[i].e);
			free(a->slots[i].e);
		}
	free(a->slots);
	free(a->done);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
}

long
qfs_scan(const char *dir, qfs_entry_fn fn, qfs_lost_fn lost, void *arg,
    char **err)
{
	struct qrefs *refs = qrefs_new();
	long loaded = 0, aside = 0, unreadable = 0;
	char **names = NULL, *path;
	unsigned char *types = NULL;
	struct ahead ahead;
	struct qentry *e;
	struct stat st;
	const char *why;
	size_t n = 0;
	int errnum, dirfd = -1;

	*err = NULL;
	if ((qfs_dir_list(dir, 1, &names, &types, &n) == -1 &&
	    (errno != ENOENT || mkdirs(dir, 0700) == -1 ||
	    qfs_dir_list(dir, 1, &names, &types, &n) == -1)) ||
	    (dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*err = xasprintf("queue directory %s: %s", dir,
		    strerror(errno));
		while (n > 0)
			free(names[--n]);
		free(names);
		free(types);
		qrefs_free(refs);
		return -1;
	}
	ahead_start(&ahead, dirfd, names, types, n);
	for (size_t i = 0; i < n; i++) {
		if (regular(dirfd, names[i], types[i]) == -1)
			continue;
		switch (qfs_classify(names[i])) {
		case QFS_K_TMP:
			log_warn("core", NULL, "queue: removing left-over temp "
			    "file %s", names[i]);
			path = xasprintf("%s/%s", dir, names[i]);
			if (unlink(path) == -1 && errno != ENOENT)
				log_error("core", NULL, "queue: %s: %s",
				    names[i], strerror(errno));
			free(path);
			break;
		case QFS_K_OTHER:
			log_error("core", NULL, "queue: unrecognised file in "
			    "queue directory: %s", names[i]);
			break;
		case QFS_K_ENTRY:
			if (!ahead_take(&ahead, i, &e, &why, &errnum)) {
				e = xmalloc(sizeof(*e));
				if (qfs_read_entry_at(dirfd, names[i], 1, e,
				    &st, &why, &errnum) == -1) {
					free(e);
					e = NULL;
				}
			}
			if (e != NULL) {
				if (e->body == NULL &&
				    migrate(dir, names[i], e) == -1) {
					qentry_clear(e);
					free(e);
					break;
				}
				if (has_body(dirfd, e)) {
					qrefs_add(refs, e->body, 1);
					fn(e, arg);
					loaded++;
					break;
				}
				why = "message file missing";
				errnum = 0;
				qentry_clear(e);
			}
			free(e);
			if (errnum == ENOENT)		/* removed meanwhile */
				break;
			if (errnum != 0) {
				/* Unreadable is not corrupt: leave it (and
				 * whatever body it may refer to). */
				log_error("core", NULL, "queue: %s: cannot read: "
				    "%s; left in place", names[i], why);
				unreadable++;
				break;
			}
			/* Its records first (the callee's), then aside. */
			e = xmalloc(sizeof(*e));
			if (lost != NULL &&
			    qfs_salvage_entry(dir, names[i], e) == 0) {
				if (e->body != NULL)
					qrefs_add(refs, e->body, 1);
				lost(e, why, arg);
				aside++;
				break;
			}
			free(e);
			if (set_aside(dir, names[i], why) == 0)
				aside++;
			break;
		case QFS_K_BODY:		/* swept below */
			break;
		default:		/* error.*: entries, not their bodies */
			aside += strncmp(names[i], QFS_ERROR_PREFIX
			    QFS_BODY_PREFIX, strlen(QFS_ERROR_PREFIX
			    QFS_BODY_PREFIX)) != 0;
			break;
		}
	}
	/* The names go once the readers are gone (they read them). */
	ahead_stop(&ahead);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(types);
	close(dirfd);
	if (unreadable == 0)
		qfs_sweep_bodies(dir, refs);
	else
		log_warn("core", NULL, "queue: message bodies no entry refers to "
		    "are kept: %ld entr%s could not be read", unreadable,
		    unreadable == 1 ? "y" : "ies");
	qrefs_free(refs);
	if (aside > 0)
		log_warn("core", NULL, "queue: %ld corrupt entr%s set aside in "
		    "%s as " QFS_ERROR_PREFIX "*", aside, aside == 1 ? "y" :
		    "ies", dir);
	return loaded;
}
