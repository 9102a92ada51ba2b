/*
 * suppress: the suppression list's LMDB store (contract in suppress.h).
 * Owns the environment and its one database; each call opens and ends its
 * own transaction, so callers hold nothing between calls. A value that
 * does not decode (another version, a torn write LMDB would not allow) is
 * skipped, never trusted.
 */
#include "core/suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "lib/xmalloc.h"

#define VERSION		1
#define HEAD		18	/* version, source, created, expires */

struct suppress_store {
	MDB_env		*env;
	MDB_dbi		 dbi;
};

struct suppress_txn {
	struct suppress_store	*s;
	MDB_txn			*txn;
};

static const char *const source_names[SUP_NSOURCES] = {
	"bounce", "remote_bounce", "complaint", "admin"
};

const char *
suppress_source_name(enum suppress_source s)
{
	return (unsigned)s < SUP_NSOURCES ? source_names[s] : "admin";
}

int
suppress_source_parse(const char *s)
{
	for (int i = 0; i < SUP_NSOURCES; i++)
		if (s != NULL && strcmp(s, source_names[i]) == 0)
			return i;
	return -1;
}

/* --- names ------------------------------------------------------------------ */

static int
domain_ok(const char *d, size_t n)
{
	if (n == 0 || n > SUPPRESS_SCOPE_MAX || d[0] == '.' || d[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		/* Letters, digits, '-', '.', UTF-8 (IDN as sent), an
		 * address literal's brackets and colons. */
		if (!(c >= 0x80 || (c >= '0' && c <= '9') ||
		    ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
		    strchr("-.[]:_", c) != NULL))
			return 0;
	}
	return 1;
}

static void
lower(char *p)
{
	for (; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
}

int
suppress_address(const char *in, char out[SUPPRESS_ADDR_MAX + 1])
{
	size_t n = strlen(in);
	const char *at;

	if (n >= 2 && in[0] == '<' && in[n - 1] == '>') {
		in++;
		n -= 2;
	}
	if (n == 0 || n > SUPPRESS_ADDR_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f)
			return -1;
	at = memrchr(in, '@', n);
	if (at == NULL || at == in || !domain_ok(at + 1, n - (size_t)(at -
	    in) - 1))
		return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	lower(out + (at - in) + 1);
	return 0;
}

int
suppress_scope(const char *in, char out[SUPPRESS_SCOPE_MAX + 1])
{
	size_t n = strlen(in);

	if (n == 0 || strcmp(in, "*") == 0 || strcasecmp(in, "global") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (!domain_ok(in, n))
		return -1;
	memcpy(out, in, n + 1);
	lower(out);
	return 0;
}

void
suppress_sender_domain(const char *addr, char out[SUPPRESS_SCOPE_MAX + 1])
{
	const char *at = strrchr(addr, '@');

	out[0] = '\0';
	if (at != NULL && strlen(at + 1) <= SUPPRESS_SCOPE_MAX) {
		snprintf(out, SUPPRESS_SCOPE_MAX + 1, "%s", at + 1);
		out[strcspn(out, ">")] = '\0';
		lower(out);
	}
}

int
suppress_active(const struct suppress_entry *e, int64_t now)
{
	return e->expires == 0 || e->expires > now;
}

/* --- the encoding ------------------------------------------------------------ */

static size_t
make_key(char *k, const char *addr, const char *scope)
{
	size_t a = strlen(addr), s = strlen(scope);

	memcpy(k, addr, a);
	k[a] = '\0';
	memcpy(k + a + 1, scope, s);
	return a + 1 + s;
}

static void
put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (unsigned char)u;
}

static int64_t
get64(const unsigned char *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)u;
}

/* 0, or -1 when k/v are not an entry of this version. */
static int
decode(const MDB_val *k, const MDB_val *v, struct suppress_entry *e)
{
	const char *key = k->mv_data, *nul;
	const unsigned char *p = v->mv_data;
	size_t a, s, r;

	if ((nul = memchr(key, '\0', k->mv_size)) == NULL)
		return -1;
	a = (size_t)(nul - key);
	s = k->mv_size - a - 1;
	if (a == 0 || a > SUPPRESS_ADDR_MAX || s > SUPPRESS_SCOPE_MAX ||
	    v->mv_size < HEAD || p[0] != VERSION || p[1] >= SUP_NSOURCES)
		return -1;
	r = v->mv_size - HEAD;
	if (r > SUPPRESS_REASON_MAX)
		r = SUPPRESS_REASON_MAX;
	memcpy(e->address, key, a);
	e->address[a] = '\0';
	memcpy(e->scope, nul + 1, s);
	e->scope[s] = '\0';
	e->source = p[1];
	e->created = get64(p + 2);
	e->expires = get64(p + 10);
	memcpy(e->reason, p + HEAD, r);
	e->reason[r] = '\0';
	return 0;
}

/* --- the environment ------------------------------------------------------------ */

static char *
lmdb_err(const char *what, const char *dir, int rc)
{
	return xasprintf("suppression list %s: %s: %s", dir, what,
	    mdb_strerror(rc));
}

struct suppress_store *
suppress_open(const char *dir, size_t map_mb, int rdonly, char **err)
{
	struct suppress_store *s = xcalloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	int rc, dead;

	if (!rdonly && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*err = xasprintf("suppression list %s: cannot create it: %s",
		    dir, strerror(errno));
		free(s);
		return NULL;
	}
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map_mb << 20)) != 0 ||
	    (rc = mdb_env_open(s->env, dir, MDB_NOTLS |
	    (rdonly ? MDB_RDONLY : 0), 0600)) != 0) {
		*err = lmdb_err("cannot open it", dir, rc);
		goto fail;
	}
	mdb_reader_check(s->env, &dead);	/* slots of a killed process */
	if ((rc = mdb_txn_begin(s->env, NULL, rdonly ? MDB_RDONLY : 0,
	    &txn)) != 0 || (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		if (txn != NULL && rc != 0)
			mdb_txn_abort(txn);
		*err = lmdb_err("cannot read it", dir, rc);
		goto fail;
	}
	return s;
fail:
	if (s->env != NULL)
		mdb_env_close(s->env);
	free(s);
	return NULL;
}

void
suppress_close(struct suppress_store *s)
{
	if (s == NULL)
		return;
	mdb_env_close(s->env);
	free(s);
}

/* --- reads ------------------------------------------------------------------ */

int
suppress_lookup(struct suppress_store *s, const char *addr,
    const char *sender_domain, int64_t now, struct suppress_entry *e)
{
	char kbuf[SUPPRESS_ADDR_MAX + SUPPRESS_SCOPE_MAX + 2];
	const char *scopes[2] = { sender_domain, "" };
	MDB_txn *txn;
	MDB_val k, v;
	int rc, found = 0;

	if (strlen(addr) > SUPPRESS_ADDR_MAX)
		return 0;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	for (int i = 0; i < 2 && !found; i++) {
		if (i == 0 && (scopes[0] == NULL || scopes[0][0] == '\0' ||
		    strlen(scopes[0]) > SUPPRESS_SCOPE_MAX))
			continue;
		k.mv_size = make_key(kbuf, addr, scopes[i]);
		k.mv_data = kbuf;
		rc = mdb_get(txn, s->dbi, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0) {
			mdb_txn_abort(txn);
			return -1;
		}
		found = decode(&k, &v, e) == 0 && suppress_active(e, now);
	}
	mdb_txn_abort(txn);
	return found;
}

static int
matches(const struct suppress_filter *f, const struct suppress_entry *e,
    int64_t now)
{
	const char *at = strrchr(e->address, '@');

	if (f == NULL)
		return suppress_active(e, now);
	return (f->expired || suppress_active(e, now)) &&
	    (f->address == NULL || strcmp(f->address, e->address) == 0) &&
	    (f->domain == NULL || (at != NULL && strcmp(f->domain, at + 1) ==
	    0)) && (f->scope == NULL || strcmp(f->scope, e->scope) == 0) &&
	    (f->source < 0 || f->source == (int)e->source);
}

int
suppress_list(struct suppress_store *s, const struct suppress_filter *f,
    int64_t now, size_t offset, size_t limit, suppress_each_fn fn, void *arg,
    size_t *total)
{
	char kbuf[SUPPRESS_ADDR_MAX + 1];
	struct suppress_entry e;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_cursor_op op = MDB_FIRST;
	size_t n = 0;
	int rc;

	*total = 0;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, s->dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	/* One address: its range only. */
	if (f != NULL && f->address != NULL) {
		k.mv_size = make_key(kbuf, f->address, "") - 1;
		k.mv_data = kbuf;
		op = MDB_SET_RANGE;
	}
	while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (decode(&k, &v, &e) != 0)
			continue;
		if (f != NULL && f->address != NULL &&
		    strcmp(e.address, f->address) != 0) {
			rc = MDB_NOTFOUND;	/* past its range */
			break;
		}
		if (!matches(f, &e, now))
			continue;
		if (n >= offset && n - offset < limit)
			fn(arg, &e);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	*total = n;
	return rc == MDB_NOTFOUND ? 0 : -1;
}

int
suppress_count(struct suppress_store *s, int64_t now, size_t *active,
    size_t *expired)
{
	struct suppress_filter f = { NULL, NULL, NULL, -1, 1 };
	size_t all;

	*active = *expired = 0;
	if (suppress_list(s, NULL, now, 0, 0, NULL, NULL, active) != 0 ||
	    suppress_list(s, &f, now, 0, 0, NULL, NULL, &all) != 0)
		return -1;
	*expired = all - *active;
	return 0;
}

/* --- writes ------------------------------------------------------------------- */

struct suppress_txn *
suppress_begin(struct suppress_store *s, char **err)
{
	struct suppress_txn *t = xcalloc(1, sizeof(*t));
	int rc;

	t->s = s;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &t->txn)) != 0) {
		*err = xasprintf("suppression list: %s", mdb_strerror(rc));
		free(t);
		return NULL;
	}
	return t;
}

static int
failed(struct suppress_txn *t, int rc, char **err)
{
	*err = xasprintf("suppression list: %s%s", mdb_strerror(rc),
	    rc == MDB_MAP_FULL ? " (raise suppression.ini map_size)" : "");
	mdb_txn_abort(t->txn);
	t->txn = NULL;
	return -1;
}

int
suppress_put(struct suppress_txn *t, const struct suppress_entry *e,
    int force, char **err)
{
	char kbuf[SUPPRESS_ADDR_MAX + SUPPRESS_SCOPE_MAX + 2];
	unsigned char vbuf[HEAD + SUPPRESS_REASON_MAX];
	struct suppress_entry old;
	size_t r = strnlen(e->reason, SUPPRESS_REASON_MAX);
	MDB_val k, v;
	int rc;

	if (t->txn == NULL) {
		*err = xstrdup("suppression list: transaction aborted");
		return -1;
	}
	k.mv_size = make_key(kbuf, e->address, e->scope);
	k.mv_data = kbuf;
	rc = mdb_get(t->txn, t->s->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return failed(t, rc, err);
	if (rc == 0 && !force && decode(&k, &v, &old) == 0 &&
	    suppress_active(&old, e->created) && (old.expires == 0 ||
	    (e->expires != 0 && old.expires >= e->expires)))
		return 0;
	vbuf[0] = VERSION;
	vbuf[1] = (unsigned char)e->source;
	put64(vbuf + 2, e->created);
	put64(vbuf + 10, e->expires);
	memcpy(vbuf + HEAD, e->reason, r);
	v.mv_size = HEAD + r;
	v.mv_data = vbuf;
	if ((rc = mdb_put(t->txn, t->s->dbi, &k, &v, 0)) != 0)
		return failed(t, rc, err);
	return 1;
}

long
suppress_del(struct suppress_txn *t, const char *addr, const char *scope,
    char **err)
{
	char kbuf[SUPPRESS_ADDR_MAX + SUPPRESS_SCOPE_MAX + 2];
	MDB_cursor *cur;
	MDB_val k, v;
	long n = 0;
	int rc;

	if (t->txn == NULL) {
		*err = xstrdup("suppression list: transaction aborted");
		return -1;
	}
	if (strlen(addr) > SUPPRESS_ADDR_MAX || (scope != NULL &&
	    strlen(scope) > SUPPRESS_SCOPE_MAX))
		return 0;
	if (scope != NULL) {
		k.mv_size = make_key(kbuf, addr, scope);
		k.mv_data = kbuf;
		rc = mdb_del(t->txn, t->s->dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			return 0;
		return rc == 0 ? 1 : failed(t, rc, err);
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi, &cur)) != 0)
		return failed(t, rc, err);
	k.mv_size = make_key(kbuf, addr, "");
	k.mv_data = kbuf;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size > strlen(addr) &&
	    memcmp(k.mv_data, addr, strlen(addr)) == 0 &&
	    ((const char *)k.mv_data)[strlen(addr)] == '\0') {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		n++;
		/* After a delete, MDB_NEXT gives the entry that moved
		 * under the cursor. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return failed(t, rc, err);
	return n;
}

long
suppress_purge(struct suppress_txn *t, int64_t now, char **err)
{
	struct suppress_entry e;
	MDB_cursor *cur;
	MDB_val k, v;
	long n = 0;
	int rc;

	if (t->txn == NULL) {
		*err = xstrdup("suppression list: transaction aborted");
		return -1;
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi, &cur)) != 0)
		return failed(t, rc, err);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (decode(&k, &v, &e) == 0 && !suppress_active(&e, now)) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			n++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return failed(t, rc, err);
	return n;
}

int
suppress_commit(struct suppress_txn *t, char **err)
{
	int rc;

	if (t->txn == NULL) {
		*err = xstrdup("suppression list: transaction aborted");
		free(t);
		return -1;
	}
	rc = mdb_txn_commit(t->txn);
	free(t);
	if (rc != 0) {
		*err = xasprintf("suppression list: commit: %s",
		    mdb_strerror(rc));
		return -1;
	}
	return 0;
}

void
suppress_abort(struct suppress_txn *t)
{
	if (t == NULL)
		return;
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	free(t);
}
