/*
 * ini: parser for Haraka's ini, flat and list configuration files.
 * The parsed struct owns copies of every name and value.
 */
#include "lib/ini.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"

struct ini_entry {
	char		 *key;
	char		 *val;		/* NULL when bare or array */
	char		**arr;
	size_t		  narr;
	int		  is_array;
	unsigned	  line;
};

struct ini_sect {
	char		 *name;
	struct ini_entry *e;
	size_t		  n;
	unsigned	  line;		/* of its first [name] line; 0: none */
};

struct ini {
	char		*name;
	struct ini_sect	*s;
	size_t		 n;
};

static struct ini_sect *
sect_find(const struct ini *ini, const char *name)
{
	for (size_t i = 0; i < ini->n; i++)
		if (strcmp(ini->s[i].name, name) == 0)
			return &ini->s[i];
	return NULL;
}

static struct ini_sect *
sect_get(struct ini *ini, const char *name, size_t len)
{
	char *z = xstrndup(name, len);
	struct ini_sect *s = sect_find(ini, z);

	if (s != NULL) {
		free(z);
		return s;
	}
	ini->s = xreallocarray(ini->s, ini->n + 1, sizeof(*ini->s));
	s = &ini->s[ini->n++];
	s->name = z;
	s->e = NULL;
	s->n = 0;
	s->line = 0;
	return s;
}

static struct ini_entry *
entry_find(const struct ini_sect *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].key, key) == 0)
			return &s->e[i];
	return NULL;
}

static void
entry_clear(struct ini_entry *e)
{
	free(e->val);
	e->val = NULL;
	for (size_t i = 0; i < e->narr; i++)
		free(e->arr[i]);
	free(e->arr);
	e->arr = NULL;
	e->narr = 0;
	e->is_array = 0;
}

static struct ini_entry *
entry_get(struct ini_sect *s, const char *key)
{
	struct ini_entry *e = entry_find(s, key);

	if (e != NULL)
		return e;
	s->e = xreallocarray(s->e, s->n + 1, sizeof(*s->e));
	e = &s->e[s->n++];
	memset(e, 0, sizeof(*e));
	e->key = xstrdup(key);
	return e;
}

static int
is_space(char c)
{
	return isspace((unsigned char)c);
}

static int
is_keychar(char c)
{
	/* strchr() finds the terminating NUL too: no key holds one. */
	return isalnum((unsigned char)c) ||
	    (c != '\0' && strchr("_@:.+-/[]", c) != NULL);
}

/* Section header: ^\s*\[([^\]]*)\]\s*$ */
static int
parse_section(const char *p, const char *end, const char **name, size_t *len)
{
	const char *q;

	while (p < end && is_space(*p))
		p++;
	if (p == end || *p != '[')
		return 0;
	q = ++p;
	while (q < end && *q != ']')
		q++;
	if (q == end)
		return 0;
	*name = p;
	*len = (size_t)(q - p);
	for (q++; q < end; q++)
		if (!is_space(*q))
			return 0;
	return 1;
}

/* Parameter: ^\s*([\w@:._+\-/[\]]+)\s*(?:=\s*(.*?)\s*)?$ */
static int
parse_param(const char *p, const char *end, struct slice *key,
    struct slice *val, int *has_val)
{
	while (p < end && is_space(*p))
		p++;
	key->p = p;
	while (p < end && is_keychar(*p))
		p++;
	key->len = (size_t)(p - key->p);
	if (key->len == 0)
		return 0;
	while (p < end && is_space(*p))
		p++;
	*has_val = 0;
	if (p == end)
		return 1;
	if (*p != '=')
		return 0;
	*has_val = 1;
	*val = slice_trim(slice_of(p + 1, (size_t)(end - p - 1)));
	return 1;
}

static void
store(struct ini_sect *s, struct slice key, struct slice val, int has_val,
    unsigned lineno)
{
	struct ini_entry *e;
	char *k;
	int is_array = 0;

	if (key.len > 2 && key.p[key.len - 2] == '[' && key.p[key.len - 1] == ']') {
		is_array = 1;
		key.len -= 2;
	}
	k = xstrndup(key.p, key.len);
	e = entry_get(s, k);
	free(k);
	e->line = lineno;
	if (is_array) {
		if (!e->is_array)
			entry_clear(e);
		e->is_array = 1;
		e->arr = xreallocarray(e->arr, e->narr + 1, sizeof(*e->arr));
		e->arr[e->narr++] = has_val ? xstrndup(val.p, val.len) :
		    xstrdup("");
		return;
	}
	entry_clear(e);
	if (has_val)
		e->val = xstrndup(val.p, val.len);
}

static void
param_line(struct ini *ini, struct ini_sect *cur, const char *p,
    const char *end, unsigned lineno, ini_warn_fn warn, void *arg)
{
	struct slice key, val = { NULL, 0 };
	int has_val;

	if (parse_param(p, end, &key, &val, &has_val))
		store(cur, key, val, has_val, lineno);
	else if (warn != NULL) {
		char *msg = xasprintf("Invalid line in config file '%s': %.*s",
		    ini->name, (int)(end - p), p);
		warn(arg, ini->name, lineno, msg);
		free(msg);
	}
}

static void
parse_line(struct ini *ini, struct ini_sect **cur, struct buf *pre,
    const char *p, const char *end, unsigned lineno, ini_warn_fn warn,
    void *arg)
{
	const char *q, *name;
	size_t len;

	for (q = p; q < end && is_space(*q); q++)
		;
	if (q == end || *q == ';' || *q == '#')
		return;			/* blank or comment */
	if (parse_section(p, end, &name, &len)) {
		*cur = sect_get(ini, name, len);
		if ((*cur)->line == 0)
			(*cur)->line = lineno;
		return;
	}
	/* Continuation: a trailing backslash (and blanks) joins the next line. */
	for (q = end; q > p && (q[-1] == ' ' || q[-1] == '\t'); q--)
		;
	if (q > p && q[-1] == '\\') {
		buf_add(pre, p, (size_t)(q - 1 - p));
		return;
	}
	if (pre->len) {
		buf_add(pre, p, (size_t)(end - p));
		p = pre->p;
		end = pre->p + pre->len;
	}
	param_line(ini, *cur, p, end, lineno, warn, arg);
	buf_reset(pre);
}

struct ini *
ini_parse(const char *name, const char *data, size_t len, ini_warn_fn warn,
    void *arg)
{
	struct ini *ini = xcalloc(1, sizeof(*ini));
	struct ini_sect *cur;
	struct buf pre = BUF_INIT;
	const char *p = data, *end = data + len, *eol;
	unsigned lineno = 0;

	ini->name = xstrdup(name);
	cur = sect_get(ini, "main", 4);
	while (p < end) {
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		parse_line(ini, &cur, &pre, p, eol, ++lineno, warn, arg);
		if (eol < end && *eol == '\r' && eol + 1 < end && eol[1] == '\n')
			eol++;
		p = eol + 1;
	}
	if (pre.len)		/* a continuation on the last line ends it */
		param_line(ini, cur, pre.p, pre.p + pre.len, lineno, warn, arg);
	buf_free(&pre);
	return ini;
}

int
read_file(const char *path, char **data, size_t *len)
{
	struct buf b = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			buf_free(&b);
			errno = saved;
			return -1;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.len;
	*data = buf_release(&b);
	return 0;
}

struct ini *
ini_load(const char *path, const char *name, int *exists, ini_warn_fn warn,
    void *arg)
{
	struct ini *ini;
	char *data;
	size_t len;

	*exists = 0;
	if (read_file(path, &data, &len) == -1) {
		if (errno != ENOENT)
			return NULL;
		return ini_parse(name, "", 0, warn, arg);
	}
	*exists = 1;
	ini = ini_parse(name, data, len, warn, arg);
	free(data);
	return ini;
}

void
ini_free(struct ini *ini)
{
	if (ini == NULL)
		return;
	for (size_t i = 0; i < ini->n; i++) {
		for (size_t j = 0; j < ini->s[i].n; j++) {
			entry_clear(&ini->s[i].e[j]);
			free(ini->s[i].e[j].key);
		}
		free(ini->s[i].e);
		free(ini->s[i].name);
	}
	free(ini->s);
	free(ini->name);
	free(ini);
}

const char *
ini_name(const struct ini *ini)
{
	return ini->name;
}

static const struct ini_entry *
lookup(const struct ini *ini, const char *sect, const char *key)
{
	const struct ini_sect *s = sect_find(ini, sect);

	return s ? entry_find(s, key) : NULL;
}

unsigned
ini_section_line(const struct ini *ini, const char *sect)
{
	const struct ini_sect *s = sect_find(ini, sect);

	return s != NULL ? s->line : 0;
}

void
ini_warn_first(void *arg, const char *name, unsigned lineno, const char *msg)
{
	char **err = arg;

	(void)msg;
	if (*err == NULL)
		*err = xasprintf("%s:%u: not a [section] or key=value line",
		    name, lineno);
}

int
ini_has(const struct ini *ini, const char *sect, const char *key)
{
	return lookup(ini, sect, key) != NULL;
}

const char *
ini_get(const struct ini *ini, const char *sect, const char *key)
{
	const struct ini_entry *e = lookup(ini, sect, key);

	return e ? e->val : NULL;
}

unsigned
ini_line(const struct ini *ini, const char *sect, const char *key)
{
	const struct ini_entry *e = lookup(ini, sect, key);

	return e ? e->line : 0;
}

size_t
ini_array(const struct ini *ini, const char *sect, const char *key,
    const char *const **vals)
{
	const struct ini_entry *e = lookup(ini, sect, key);

	*vals = NULL;
	if (e == NULL)
		return 0;
	if (e->is_array) {
		*vals = (const char *const *)e->arr;
		return e->narr;
	}
	if (e->val == NULL)
		return 0;
	*vals = (const char *const *)&e->val;
	return 1;
}

int
ini_is_truth(const char *v)
{
	static const char *const truth[] = {
		"true", "yes", "ok", "enabled", "on", "1"
	};

	for (size_t i = 0; i < sizeof(truth) / sizeof(truth[0]); i++)
		if (strcasecmp(v, truth[i]) == 0)
			return 1;
	return 0;
}

int
ini_is_falsity(const char *v)
{
	static const char *const falsity[] = {
		"false", "no", "off", "disabled", "0"
	};

	for (size_t i = 0; i < sizeof(falsity) / sizeof(falsity[0]); i++)
		if (strcasecmp(v, falsity[i]) == 0)
			return 1;
	return 0;
}

static const char *
digits(const char *v)
{
	const char *p = v;

	while (isdigit((unsigned char)*p))
		p++;
	return p == v ? NULL : p;
}

int
ini_is_integer(const char *v)
{
	const char *p = digits(v + (*v == '-'));

	return p != NULL && *p == '\0';
}

int
ini_is_float(const char *v)
{
	const char *p = digits(v + (*v == '-'));

	if (p == NULL || *p != '.')
		return 0;
	p = digits(p + 1);
	return p != NULL && *p == '\0';
}

int
ini_bool(const struct ini *ini, const char *sect, const char *key, int def)
{
	const struct ini_entry *e = lookup(ini, sect, key);

	if (e == NULL)
		return def;
	return e->val != NULL && ini_is_truth(e->val);
}

enum ini_got
ini_int(const struct ini *ini, const char *sect, const char *key,
    long long *out)
{
	const struct ini_entry *e = lookup(ini, sect, key);
	char *end;

	if (e == NULL)
		return INI_ABSENT;
	if (e->val == NULL || !ini_is_integer(e->val))
		return INI_BAD;
	errno = 0;
	*out = strtoll(e->val, &end, 10);
	return errno == ERANGE ? INI_BAD : INI_OK;
}

enum ini_got
ini_num(const struct ini *ini, const char *sect, const char *key, double *out)
{
	const struct ini_entry *e = lookup(ini, sect, key);

	if (e == NULL)
		return INI_ABSENT;
	if (e->val == NULL || !(ini_is_integer(e->val) || ini_is_float(e->val)))
		return INI_BAD;
	*out = strtod(e->val, NULL);
	return INI_OK;
}

size_t
ini_nsections(const struct ini *ini)
{
	return ini->n;
}

const char *
ini_section_name(const struct ini *ini, size_t i)
{
	return i < ini->n ? ini->s[i].name : NULL;
}

size_t
ini_nkeys(const struct ini *ini, const char *sect)
{
	const struct ini_sect *s = sect_find(ini, sect);

	return s ? s->n : 0;
}

const char *
ini_key_name(const struct ini *ini, const char *sect, size_t i)
{
	const struct ini_sect *s = sect_find(ini, sect);

	return s && i < s->n ? s->e[i].key : NULL;
}

/* Calls fn for each non-blank, non-comment line, trimmed; stops if fn
 * returns nonzero. */
static void
each_line(const char *data, size_t len, int (*fn)(void *, struct slice),
    void *arg)
{
	const char *p = data, *end = data + len, *eol;
	struct slice s;

	while (p < end) {
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		s = slice_trim(slice_of(p, (size_t)(eol - p)));
		if (s.len && s.p[0] != ';' && s.p[0] != '#' && fn(arg, s))
			return;
		p = eol + 1;
	}
}

static int
first_line(void *arg, struct slice s)
{
	*(char **)arg = xstrndup(s.p, s.len);
	return 1;
}

char *
flat_value_parse(const char *data, size_t len)
{
	char *v = NULL;

	each_line(data, len, first_line, &v);
	return v;
}

struct list_acc {
	char	**v;
	size_t	  n;
};

static int
add_line(void *arg, struct slice s)
{
	struct list_acc *a = arg;

	a->v = xreallocarray(a->v, a->n + 2, sizeof(*a->v));
	a->v[a->n++] = xstrndup(s.p, s.len);
	a->v[a->n] = NULL;
	return 0;
}

char **
flat_list_parse(const char *data, size_t len, size_t *n)
{
	struct list_acc a = { NULL, 0 };

	each_line(data, len, add_line, &a);
	if (a.v == NULL)
		a.v = xcalloc(1, sizeof(*a.v));
	*n = a.n;
	return a.v;
}

int
flat_value(const char *path, char **out)
{
	char *data;
	size_t len;

	*out = NULL;
	if (read_file(path, &data, &len) == -1)
		return errno == ENOENT ? 0 : -1;
	*out = flat_value_parse(data, len);
	free(data);
	return 0;
}

int
flat_list(const char *path, char ***out, size_t *n)
{
	char *data;
	size_t len;

	if (read_file(path, &data, &len) == -1) {
		if (errno != ENOENT)
			return -1;
		*out = flat_list_parse("", 0, n);
		return 0;
	}
	*out = flat_list_parse(data, len, n);
	free(data);
	return 0;
}

void
flat_list_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
