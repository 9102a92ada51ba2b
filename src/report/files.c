/*
 * report/files: which files a report reads — the paths it is given, the
 * record files under the directories it is given (accounting files by
 * their <d|df|b>.<time>[.n].<ext> names, the JSON log and its rotations
 * by its name; archives are plain files in subdirectories), or the
 * record directories ROOT/config names. A file reached twice (by two
 * paths, or a directory inside another) is read once.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "records/bouncecat.h"
#include "records/record.h"
#include "report/run.h"

#define MAX_DEPTH	8		/* directory levels walked */

static void
add_file(struct run *run, const char *path, const char *skipped)
{
	struct rp_file *f;

	run->files = xreallocarray(run->files, run->nfiles + 1,
	    sizeof(*run->files));
	f = &run->files[run->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	f->skipped = skipped;
}

/* Whether a file (by device and inode) was taken already. */
static int
seen(struct run *run, const struct stat *st)
{
	for (size_t i = 0; i < run->nseen; i++)
		if (run->seen[i].dev == st->st_dev &&
		    run->seen[i].ino == st->st_ino)
			return 1;
	run->seen = xreallocarray(run->seen, run->nseen + 1,
	    sizeof(*run->seen));
	run->seen[run->nseen].dev = st->st_dev;
	run->seen[run->nseen++].ino = st->st_ino;
	return 0;
}

static int
compressed(const char *name)
{
	static const char *const exts[] = { ".gz", ".bz2", ".xz", ".zst" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (n > strlen(exts[i]) &&
		    strcmp(name + n - strlen(exts[i]), exts[i]) == 0)
			return 1;
	return 0;
}

/* <d|df|b|rb|f>.<yyyy-mm-dd-HHMMss>[.<n>].<ext>: an accounting file. */
static int
acct_name(const char *name)
{
	static const char stamp[] = "dddd-dd-dd-dddddd";
	const char *p = strchr(name, '.');

	if (p == NULL || (p - name != 1 && p - name != 2) ||
	    (strncmp(name, "d.", 2) != 0 && strncmp(name, "df.", 3) != 0 &&
	    strncmp(name, "b.", 2) != 0 && strncmp(name, "rb.", 3) != 0 &&
	    strncmp(name, "f.", 2) != 0))
		return 0;
	p++;
	for (size_t i = 0; stamp[i] != '\0'; i++, p++)
		if (stamp[i] == 'd' ? *p < '0' || *p > '9' : *p != stamp[i])
			return 0;
	return *p == '.' && p[1] != '\0';
}

/* The JSON log and its rotations: outbound.log, .1, -20261204 ... */
static int
json_name(const struct run *run, const char *name)
{
	size_t n = strlen(run->json_name);

	return strncmp(name, run->json_name, n) == 0 && (name[n] == '\0' ||
	    name[n] == '.' || name[n] == '-');
}

static void
walk(struct run *run, const char *dir, int depth)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0) {
		fprintf(stderr, "outpost report: %s: %s\n", dir,
		    strerror(errno));
		run->errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = xasprintf("%s/%s", dir, name);
		struct stat st;

		if (name[0] != '.' && lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH)
				walk(run, path, depth + 1);
			else if (S_ISREG(st.st_mode) && (acct_name(name) ||
			    json_name(run, name)) && !seen(run, &st))
				add_file(run, path, compressed(name) ?
				    "compressed: not read (decompress it, or "
				    "pipe it to outpost report -)" : NULL);
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

int
rp_add_path(struct run *run, const char *path, int named)
{
	struct stat st;

	if (strcmp(path, "-") == 0) {
		add_file(run, path, NULL);
		return 0;
	}
	if (stat(path, &st) != 0) {
		if (!named && errno == ENOENT)
			return 0;	/* a record directory not made yet */
		fprintf(stderr, "outpost report: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		walk(run, path, 0);
	else if (!seen(run, &st))
		add_file(run, path, compressed(path) ? "compressed: not read "
		    "(decompress it, or pipe it to outpost report -)" : NULL);
	return 0;
}

static void
add_dir(void *arg, const char *dir)
{
	rp_add_path(arg, dir, 0);
}

int
rp_from_root(struct run *run, const char *root, int dirs, struct ini **ol,
    struct ini **af)
{
	char *cdir = xasprintf("%s/config", root), *path;
	struct stat st;
	int exists;
	const char *v;

	if (stat(cdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "outpost report: %s: %s\n", cdir,
		    strerror(errno ? errno : ENOTDIR));
		free(cdir);
		return -1;
	}
	path = xasprintf("%s/outbound_logger.ini", cdir);
	*ol = ini_load(path, "outbound_logger.ini", &exists, NULL, NULL);
	free(path);
	if (*ol != NULL && (v = ini_get(*ol, "file", "filename")) != NULL &&
	    *v != '\0')
		run->json_name = v;
	path = xasprintf("%s/accounting_files.ini", cdir);
	*af = ini_load(path, "accounting_files.ini", &exists, NULL, NULL);
	free(path);
	if (*af != NULL && (v = ini_get(*af, "main", "separator")) != NULL &&
	    *v != '\0')
		run->sep = strcmp(v, "\\t") == 0 ? "\t" : v;
	path = xasprintf("%s/bounce_categories", cdir);
	if (bouncecat_load(run->bc, path, NULL, NULL) < 0)
		fprintf(stderr, "outpost report: %s: %s; using the built-in "
		    "bounce categories\n", path, strerror(errno));
	free(path);
	if (dirs) {
		outbound_logger_dirs(cdir, add_dir, run);
		accounting_files_dirs(cdir, add_dir, run);
	}
	free(cdir);
	return 0;
}
