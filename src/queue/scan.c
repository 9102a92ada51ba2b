/*
 * scan: the start-up scan of the queue directory. What is not a regular
 * file is left alone unopened, temp files are removed, corrupt entries
 * set aside as error.<name> (or handed over with what could be salvaged),
 * valid ones handed to the caller. Touches only the directory's files;
 * keeps no state.
 */
#include "queue/scan.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "core/log.h"

enum qfs_kind
qfs_classify(const char *name)
{
	if (strncmp(name, QFS_TMP_PREFIX, strlen(QFS_TMP_PREFIX)) == 0)
		return QFS_K_TMP;
	if (strncmp(name, QFS_ERROR_PREFIX, strlen(QFS_ERROR_PREFIX)) == 0)
		return QFS_K_ASIDE;
	return qfs_valid_id(name) ? QFS_K_ENTRY : QFS_K_OTHER;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
qfs_dir_names(const char *dir, char ***out, size_t *n)
{
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
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
		v[(*n)++] = xstrdup(de->d_name);
	}
	err = errno;
	closedir(d);
	if (err != 0) {
		while (*n > 0)
			free(v[--*n]);
		free(v);
		errno = err;
		return -1;
	}
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_str);
	*out = v;
	return 0;
}

const char *
qfs_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return NULL;
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symbolic link";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	default:
		return "special file";
	}
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

/* The type of dir/name, never following a link: 0 for a regular file;
 * -1 when it is gone or is something else (logged: left alone). */
static int
regular(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	const char *type;
	struct stat st;
	int rc = lstat(path, &st);

	free(path);
	if (rc == -1) {
		if (errno != ENOENT)
			log_error("core", NULL, "queue: %s: %s; left alone",
			    name, strerror(errno));
		return -1;
	}
	if ((type = qfs_type_name(st.st_mode)) == NULL)
		return 0;
	log_error("core", NULL, "queue: %s is a %s, not a queue file; left "
	    "alone%s", name, type, S_ISLNK(st.st_mode) ? " (not followed)" :
	    " (not opened)");
	return -1;
}

long
qfs_scan(const char *dir, qfs_entry_fn fn, qfs_lost_fn lost, void *arg,
    char **err)
{
	long loaded = 0, aside = 0;
	char **names = NULL, *path;
	struct qentry *e;
	const char *why;
	size_t n = 0;
	int errnum;

	*err = NULL;
	if (qfs_dir_names(dir, &names, &n) == -1 && (errno != ENOENT ||
	    mkdirs(dir, 0700) == -1 || qfs_dir_names(dir, &names, &n) == -1)) {
		*err = xasprintf("queue directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (regular(dir, names[i]) == -1) {
			free(names[i]);
			continue;
		}
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
			e = xmalloc(sizeof(*e));
			if (qfs_read_entry(dir, names[i], e, &why,
			    &errnum) == 0) {
				fn(e, arg);
				loaded++;
				break;
			}
			free(e);
			if (errnum == ENOENT)		/* removed meanwhile */
				break;
			if (errnum != 0) {
				/* Unreadable is not corrupt: leave it. */
				log_error("core", NULL, "queue: %s: cannot read: "
				    "%s; left in place", names[i], why);
				break;
			}
			/* Its records first (the callee's), then aside. */
			e = xmalloc(sizeof(*e));
			if (lost != NULL &&
			    qfs_salvage_entry(dir, names[i], e) == 0) {
				lost(e, why, arg);
				aside++;
				break;
			}
			free(e);
			if (set_aside(dir, names[i], why) == 0)
				aside++;
			break;
		default:
			aside++;
			break;
		}
		free(names[i]);
	}
	free(names);
	if (aside > 0)
		log_warn("core", NULL, "queue: %ld corrupt entr%s set aside in "
		    "%s as " QFS_ERROR_PREFIX "*", aside, aside == 1 ? "y" :
		    "ies", dir);
	return loaded;
}
