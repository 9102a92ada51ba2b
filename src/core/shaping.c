/*
 * shaping: loads config/shaping.ini and config/shaping_rules into a struct
 * shaping, and answers which limits and key a destination has. Domain
 * sections are kept sorted (binary search), [mx:...] sections in file
 * order, each with its netmatch. Nothing changes after loading; holders
 * share it through its reference count.
 */
#include "core/shaping.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/ini.h"
#include "lib/netmatch.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define INI_NAME	"config/shaping.ini"
#define RULES_NAME	"config/shaping_rules"

struct section {
	char			*name;	/* lowercase: the key */
	struct netmatch		*mx;	/* [mx:...] only */
	struct shaping_limits	 lim;
};

struct shaping {
	unsigned		 refs;
	struct shaping_limits	 main;
	struct section		*domains;	/* sorted by name */
	size_t			 ndomains;
	struct section		*mxs;		/* file order */
	size_t			 nmxs;
	struct shaping_rules	*rules;
};

enum kind { K_COUNT, K_SECONDS, K_RATE };

static const struct key {
	const char	*name;
	enum kind	 kind;
	size_t		 off;
	unsigned	 min, max;
} keys[] = {
#define L(f)	offsetof(struct shaping_limits, f)
	{ "max_connections", K_COUNT, L(max_connections), 0, 100000 },
	{ "max_messages_per_connection", K_COUNT,
	    L(max_messages_per_connection), 0, 1000000 },
	{ "max_recipients_per_message", K_COUNT,
	    L(max_recipients_per_message), 0, 100000 },
	{ "max_message_rate", K_RATE, L(max_message_rate), 0, 0 },
	{ "max_connection_rate", K_RATE, L(max_connection_rate), 0, 0 },
	{ "connect_timeout", K_SECONDS, L(connect_timeout), 0, 3600 },
	{ "idle_timeout", K_SECONDS, L(idle_timeout), 0, 3600 },
	{ "backoff_connections", K_COUNT, L(backoff_connections), 1, 100000 },
	{ "backoff_interval", K_SECONDS, L(backoff_interval), 0, 86400 },
	{ "backoff_recover", K_COUNT, L(backoff_recover), 1, 1000000 },
#undef L
};

struct loader {
	char		*err;
};

/* The first problem of the files is the one told. */
#define fail(ld, ...)	err_first(&(ld)->err, __VA_ARGS__)

/* --- values ----------------------------------------------------------------------- */

static int
count_parse(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long n = 0;
	const char *p = v;

	for (; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (unsigned long)(*p - '0')) > max)
			return -1;
	if (p == v || *p != '\0' || n < min)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static void
set_key(struct loader *ld, const struct ini *ini, const char *sect,
    const struct key *k, struct shaping_limits *lim)
{
	const char *v = ini_get(ini, sect, k->name), *why = NULL;
	unsigned line = ini_line(ini, sect, k->name);
	void *field = (char *)lim + k->off;
	long secs;

	if (v == NULL) {
		fail(ld, "%s:%u: %s: expected %s=<value>", INI_NAME, line,
		    k->name, k->name);
		return;
	}
	switch (k->kind) {
	case K_COUNT:
		if (count_parse(v, k->min, k->max, field) == -1)
			fail(ld, "%s:%u: %s: expected a whole number from %u "
			    "to %u, got '%s'", INI_NAME, line, k->name, k->min,
			    k->max, v);
		break;
	case K_SECONDS:
		if ((secs = shaping_duration(v, k->max)) < (long)k->min)
			fail(ld, "%s:%u: %s: expected seconds (90, 90s, 10m, "
			    "1h) from %u to %u, got '%s'", INI_NAME, line,
			    k->name, k->min, k->max, v);
		else
			*(unsigned *)field = (unsigned)secs;
		break;
	case K_RATE:
		if (rate_parse(v, field, &why) == -1)
			fail(ld, "%s:%u: %s: %s, got '%s'", INI_NAME, line,
			    k->name, why, v);
		break;
	}
}

/* The keys of one section over *lim (which holds what it inherits). */
static void
section_keys(struct loader *ld, const struct ini *ini, const char *sect,
    struct shaping_limits *lim)
{
	size_t n = ini_nkeys(ini, sect);

	for (size_t i = 0; i < n && ld->err == NULL; i++) {
		const char *name = ini_key_name(ini, sect, i);
		size_t j;

		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if (strcmp(name, keys[j].name) == 0)
				break;
		if (j == sizeof(keys) / sizeof(keys[0]))
			fail(ld, "%s:%u: unknown key '%s' in [%s]", INI_NAME,
			    ini_line(ini, sect, name), name, sect);
		else
			set_key(ld, ini, sect, &keys[j], lim);
	}
}

/* --- sections -------------------------------------------------------------------- */

/* A DNS name: labels of letters, digits, '-', '_'; at most 253. */
static int
domain_ok(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > 253)
		return 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
		    *p == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0 || len > 1;	/* one trailing dot allowed */
}

static char *
lower(const char *s)
{
	char *out = xstrdup(s);

	for (char *p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* [mx:a,b,...]: its patterns into sec->mx. */
static void
mx_section(struct loader *ld, const char *name, unsigned line,
    struct section *sec)
{
	const char *p = name + 3;

	sec->mx = netmatch_new(NETMATCH_DOMAINS);
	for (;;) {
		size_t n = strcspn(p, ","), b = strspn(p, " \t");
		size_t e = n;

		while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (netmatch_add(sec->mx, p + b, e - b) != NETMATCH_OK) {
			fail(ld, "%s:%u: [%s]: '%.*s' is not a host name or a "
			    "*.domain pattern", INI_NAME, line, name,
			    (int)(e - b), p + b);
			return;
		}
		if (p[n] == '\0')
			return;
		p += n + 1;
	}
}

static int
section_cmp(const void *a, const void *b)
{
	return strcmp(((const struct section *)a)->name,
	    ((const struct section *)b)->name);
}

static void
add_section(struct loader *ld, struct shaping *sh, const struct ini *ini,
    const char *name)
{
	unsigned line = ini_section_line(ini, name);
	struct section sec = { NULL, NULL, sh->main }, *dst;
	size_t len;

	if (strlen(name) >= SHAPING_KEY_MAX) {
		fail(ld, "%s:%u: [%.40s...]: name too long", INI_NAME, line,
		    name);
		return;
	}
	sec.name = lower(name);
	if (strncmp(sec.name, "mx:", 3) == 0) {
		mx_section(ld, name, line, &sec);
		sh->mxs = xreallocarray(sh->mxs, sh->nmxs + 1, sizeof(sec));
		dst = &sh->mxs[sh->nmxs++];
	} else {
		if (strchr(name, '*') != NULL)
			fail(ld, "%s:%u: [%s]: a domain section names one "
			    "domain; group domains by MX with [mx:%s]",
			    INI_NAME, line, name, name);
		else if (!domain_ok(name))
			fail(ld, "%s:%u: [%s]: not a domain name (nor main, "
			    "nor mx:<pattern>)", INI_NAME, line, name);
		if ((len = strlen(sec.name)) > 1 && sec.name[len - 1] == '.')
			sec.name[len - 1] = '\0';
		sh->domains = xreallocarray(sh->domains, sh->ndomains + 1,
		    sizeof(sec));
		dst = &sh->domains[sh->ndomains++];
	}
	*dst = sec;
	section_keys(ld, ini, name, &dst->lim);
}

/* No two domain sections for one domain ([Gmail.com], [gmail.com.]). */
static void
check_duplicates(struct loader *ld, struct shaping *sh)
{
	if (sh->ndomains > 1)
		qsort(sh->domains, sh->ndomains, sizeof(*sh->domains),
		    section_cmp);
	for (size_t i = 1; i < sh->ndomains; i++)
		if (strcmp(sh->domains[i - 1].name, sh->domains[i].name) == 0)
			fail(ld, "%s: [%s] appears twice (names are "
			    "case-insensitive)", INI_NAME, sh->domains[i].name);
}

static void
defaults(struct shaping_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_connections = SHAPING_DEFAULT_CONNECTIONS;
	rate_init(&lim->max_message_rate, 0, 1, 1);
	rate_init(&lim->max_connection_rate, 0, 1, 1);
	lim->backoff_connections = 1;
	lim->backoff_interval = SHAPING_DEFAULT_BACKOFF_INTERVAL;
	lim->backoff_recover = SHAPING_DEFAULT_BACKOFF_RECOVER;
}

static void
load_ini(struct loader *ld, struct shaping *sh, const char *text)
{
	struct ini *ini;

	defaults(&sh->main);
	if (text == NULL)
		return;
	ini = ini_parse(INI_NAME, text, strlen(text), ini_warn_first,
	    &ld->err);
	section_keys(ld, ini, "main", &sh->main);
	for (size_t i = 0; i < ini_nsections(ini) && ld->err == NULL; i++)
		if (strcmp(ini_section_name(ini, i), "main") != 0)
			add_section(ld, sh, ini, ini_section_name(ini, i));
	ini_free(ini);
	check_duplicates(ld, sh);
}

/* --- the struct ------------------------------------------------------------------- */

struct shaping *
shaping_parse(const char *ini_text, const char *rules_text, char **err)
{
	struct shaping *sh = xcalloc(1, sizeof(*sh));
	struct loader ld = { NULL };

	sh->refs = 1;
	load_ini(&ld, sh, ini_text);
	if (ld.err == NULL)
		sh->rules = rules_text == NULL ? shaping_rules_builtin() :
		    shaping_rules_parse(RULES_NAME, rules_text, &ld.err);
	if (ld.err != NULL) {
		*err = ld.err;
		shaping_unref(sh);
		return NULL;
	}
	*err = NULL;
	return sh;
}

/* A whole file as text: NULL and *text NULL when absent; -1 (with *err)
 * when unreadable or holding a NUL byte. */
static int
slurp(const char *dir, const char *name, char **text, char **err)
{
	char *path = xasprintf("%s/%s", dir, name);
	size_t len;
	int rc = 0;

	*text = NULL;
	if (read_file(path, text, &len) == -1) {
		if (errno != ENOENT) {
			*err = xasprintf("config/%s: cannot read: %s", name,
			    strerror(errno));
			rc = -1;
		}
	} else if (strlen(*text) != len) {
		*err = xasprintf("config/%s: holds a NUL byte", name);
		free(*text);
		*text = NULL;
		rc = -1;
	}
	free(path);
	return rc;
}

struct shaping *
shaping_load(const char *config_dir, char **err)
{
	char *ini = NULL, *rules = NULL;
	struct shaping *sh = NULL;

	*err = NULL;
	if (slurp(config_dir, "shaping.ini", &ini, err) == 0 &&
	    slurp(config_dir, "shaping_rules", &rules, err) == 0)
		sh = shaping_parse(ini, rules, err);
	free(ini);
	free(rules);
	return sh;
}

struct shaping *
shaping_ref(struct shaping *sh)
{
	sh->refs++;
	return sh;
}

static void
sections_free(struct section *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		netmatch_free(v[i].mx);
	}
	free(v);
}

void
shaping_unref(struct shaping *sh)
{
	if (sh == NULL || --sh->refs > 0)
		return;
	sections_free(sh->domains, sh->ndomains);
	sections_free(sh->mxs, sh->nmxs);
	shaping_rules_free(sh->rules);
	free(sh);
}

const struct shaping_limits *
shaping_defaults(const struct shaping *sh)
{
	return &sh->main;
}

const struct shaping_limits *
shaping_lookup(const struct shaping *sh, const char *domain,
    const char *const *mx, size_t nmx, char key[SHAPING_KEY_MAX])
{
	struct section want, *sec;
	size_t len;

	snprintf(key, SHAPING_KEY_MAX, "%s", domain);
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((len = strlen(key)) > 1 && key[len - 1] == '.')
		key[len - 1] = '\0';
	want.name = key;
	if (sh->ndomains > 0 && (sec = bsearch(&want, sh->domains,
	    sh->ndomains, sizeof(*sh->domains), section_cmp)) != NULL)
		return &sec->lim;
	for (size_t i = 0; i < sh->nmxs; i++)
		for (size_t j = 0; j < nmx; j++)
			if (netmatch_name(sh->mxs[i].mx, mx[j])) {
				snprintf(key, SHAPING_KEY_MAX, "%s",
				    sh->mxs[i].name);
				return &sh->mxs[i].lim;
			}
	return &sh->main;
}

struct shaping_hit
shaping_match(const struct shaping *sh, int code, const char *enhanced,
    const char *text, int at_greeting)
{
	return shaping_rules_match(sh->rules, code, enhanced, text,
	    at_greeting);
}

/* --- one limit at a time (the administrator's) ------------------------------------ */

int
shaping_limit_set(struct shaping_limits *lim, unsigned *mask, const char *key,
    const char *value, char **why)
{
	const char *rwhy = NULL;
	long secs;

	*why = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		void *field = (char *)lim + k->off;

		if (strcmp(k->name, key) != 0)
			continue;
		switch (k->kind) {
		case K_COUNT:
			if (count_parse(value, k->min, k->max, field) == -1)
				*why = xasprintf("%s: expected a whole number "
				    "from %u to %u, got '%s'", key, k->min,
				    k->max, value);
			break;
		case K_SECONDS:
			if ((secs = shaping_duration(value, k->max)) <
			    (long)k->min)
				*why = xasprintf("%s: expected seconds (90, "
				    "90s, 10m, 1h) from %u to %u, got '%s'",
				    key, k->min, k->max, value);
			else
				*(unsigned *)field = (unsigned)secs;
			break;
		case K_RATE:
			if (rate_parse(value, field, &rwhy) == -1)
				*why = xasprintf("%s: %s, got '%s'", key, rwhy,
				    value);
			break;
		}
		if (*why == NULL)
			*mask |= 1u << i;
		return *why == NULL ? 0 : -1;
	}
	*why = xasprintf("%s: not a limit of shaping.ini", key);
	return -1;
}

void
shaping_limits_over(struct shaping_limits *dst,
    const struct shaping_limits *src, unsigned mask)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (mask & (1u << i))
			memcpy((char *)dst + keys[i].off,
			    (const char *)src + keys[i].off,
			    keys[i].kind == K_RATE ? sizeof(struct rate) :
			    sizeof(unsigned));
}

const char *
shaping_limit_name(unsigned i)
{
	return i < sizeof(keys) / sizeof(keys[0]) ? keys[i].name : NULL;
}
