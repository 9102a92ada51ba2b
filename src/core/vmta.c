/*
 * vmta: loads config/pools.ini into a struct vmta and answers which pool
 * a sender has and which address of a pool comes next. Pools and domain
 * rules are small arrays searched in order; the pool's round-robin state
 * (each address's current weight) is the one mutable part.
 */
#include "core/vmta.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/ini.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define INI_NAME	"config/pools.ini"
#define POOL_PREFIX	"pool:"

struct vaddr {
	char		*addr;
	unsigned	 weight;
	long		 cur;		/* smooth weighted round-robin */
};

struct vpool {
	char		*name;
	char		*helo;		/* NULL: the caller's default */
	struct vaddr	*addrs;
	size_t		 naddrs;
	unsigned	 total;		/* of the weights */
};

struct vdomain {
	char		*domain;	/* lowercase */
	const char	*pool;		/* a vpool's name */
};

struct vmta {
	unsigned	 refs;
	struct vpool	*pools;
	size_t		 npools;
	struct vdomain	*domains;
	size_t		 ndomains;
	const char	*def;		/* a vpool's name, or NULL */
	char		*header;	/* NULL: none */
};

struct loader {
	char		*err;
};

/* The first problem of the files is the one told. */
#define fail(ld, ...)	err_first(&(ld)->err, __VA_ARGS__)

/* A pool's name: letters, digits, '-', '_', '.'. */
static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VMTA_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	return 1;
}

/* A header field name (RFC 5322 ftext, no ':'). */
static int
header_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 76)
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~' || *s == ':')
			return 0;
	return 1;
}

static int
domain_ok(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len > 253)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' ||
		    *s == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0;
}

static char *
trimmed(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return xstrndup(p, n);
}

/* "A, B*3": the pool's addresses. */
static void
parse_addresses(struct loader *ld, struct vpool *p, const char *v,
    unsigned line)
{
	const char *s = v;

	for (;;) {
		size_t n = strcspn(s, ",");
		char *item = trimmed(s, n), *star = strchr(item, '*');
		unsigned long w = 1;
		unsigned char bin[16];
		char *end;

		if (star != NULL) {
			*star = '\0';
			errno = 0;
			w = strtoul(star + 1, &end, 10);
			if (star[1] < '0' || star[1] > '9' || *end != '\0' ||
			    w < 1 || w > VMTA_WEIGHT_MAX) {
				fail(ld, "%s:%u: [pool:%s] addresses: bad weight "
				    "'%s' (expected 1 to %u)", INI_NAME, line,
				    p->name, star + 1, VMTA_WEIGHT_MAX);
				free(item);
				return;
			}
		}
		if (inet_pton(AF_INET, item, bin) != 1 &&
		    inet_pton(AF_INET6, item, bin) != 1) {
			fail(ld, "%s:%u: [pool:%s] addresses: '%s' is not an "
			    "IPv4 or IPv6 address", INI_NAME, line, p->name,
			    item);
			free(item);
			return;
		}
		p->addrs = xreallocarray(p->addrs, p->naddrs + 1,
		    sizeof(*p->addrs));
		p->addrs[p->naddrs++] = (struct vaddr){ item, (unsigned)w, 0 };
		p->total += (unsigned)w;
		if (s[n] == '\0')
			return;
		s += n + 1;
	}
}

static struct vpool *
pool_named(const struct vmta *v, const char *name)
{
	for (size_t i = 0; i < v->npools; i++)
		if (strcasecmp(v->pools[i].name, name) == 0)
			return &v->pools[i];
	return NULL;
}

static void
pool_section(struct loader *ld, const struct ini *ini, const char *sect,
    struct vmta *v)
{
	const char *name = sect + strlen(POOL_PREFIX);
	unsigned line = ini_section_line(ini, sect);
	size_t nk = ini_nkeys(ini, sect);
	struct vpool *p;

	if (!name_ok(name)) {
		fail(ld, "%s:%u: [%s]: a pool's name is letters, digits, '-', "
		    "'_' and '.'", INI_NAME, line, sect);
		return;
	}
	if (pool_named(v, name) != NULL) {
		fail(ld, "%s:%u: [%s]: a second pool of that name", INI_NAME,
		    line, sect);
		return;
	}
	v->pools = xreallocarray(v->pools, v->npools + 1, sizeof(*v->pools));
	p = &v->pools[v->npools++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	for (size_t i = 0; i < nk && ld->err == NULL; i++) {
		const char *k = ini_key_name(ini, sect, i);
		const char *val = ini_get(ini, sect, k);
		unsigned kl = ini_line(ini, sect, k);

		if (strcmp(k, "addresses") != 0 && strcmp(k, "helo") != 0)
			fail(ld, "%s:%u: unknown key '%s' in [%s]", INI_NAME,
			    kl, k, sect);
		else if (val == NULL)
			fail(ld, "%s:%u: %s: expected %s=<value>", INI_NAME, kl,
			    k, k);
		else if (strcmp(k, "helo") == 0) {
			if (*val != '\0' && !domain_ok(val))
				fail(ld, "%s:%u: [%s] helo: '%s' is not a host "
				    "name", INI_NAME, kl, sect, val);
			else if (*val != '\0')
				p->helo = xstrdup(val);
		} else
			parse_addresses(ld, p, val, kl);
	}
	if (ld->err == NULL && p->naddrs == 0)
		fail(ld, "%s:%u: [%s] has no addresses= (address[*weight], "
		    "...)", INI_NAME, line, sect);
}

static void
main_section(struct loader *ld, const struct ini *ini, struct vmta *v)
{
	size_t nk = ini_nkeys(ini, "main");

	for (size_t i = 0; i < nk && ld->err == NULL; i++) {
		const char *k = ini_key_name(ini, "main", i);
		const char *val = ini_get(ini, "main", k);
		unsigned kl = ini_line(ini, "main", k);
		const struct vpool *p;

		if (strcmp(k, "default") != 0 && strcmp(k, "header") != 0)
			fail(ld, "%s:%u: unknown key '%s' in [main]", INI_NAME,
			    kl, k);
		else if (val == NULL)
			fail(ld, "%s:%u: %s: expected %s=<value>", INI_NAME, kl,
			    k, k);
		else if (strcmp(k, "header") == 0) {
			free(v->header);
			v->header = NULL;
			if (*val != '\0' && !header_ok(val))
				fail(ld, "%s:%u: header: '%s' is not a header "
				    "name", INI_NAME, kl, val);
			else if (*val != '\0')
				v->header = xstrdup(val);
		} else if (*val == '\0')
			v->def = NULL;
		else if ((p = pool_named(v, val)) == NULL)
			fail(ld, "%s:%u: default: no [pool:%s]", INI_NAME, kl,
			    val);
		else
			v->def = p->name;
	}
}

static void
domains_section(struct loader *ld, const struct ini *ini, struct vmta *v)
{
	size_t nk = ini_nkeys(ini, "domains");

	for (size_t i = 0; i < nk && ld->err == NULL; i++) {
		const char *k = ini_key_name(ini, "domains", i);
		const char *val = ini_get(ini, "domains", k);
		unsigned kl = ini_line(ini, "domains", k);
		const struct vpool *p;
		struct vdomain *d;

		if (!domain_ok(k)) {
			fail(ld, "%s:%u: [domains]: '%s' is not a domain",
			    INI_NAME, kl, k);
			break;
		}
		if (val == NULL || (p = pool_named(v, val)) == NULL) {
			fail(ld, "%s:%u: [domains] %s: no [pool:%s]", INI_NAME,
			    kl, k, val != NULL ? val : "");
			break;
		}
		v->domains = xreallocarray(v->domains, v->ndomains + 1,
		    sizeof(*v->domains));
		d = &v->domains[v->ndomains++];
		d->domain = xstrdup(k);
		for (char *c = d->domain; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		d->pool = p->name;
	}
}

struct vmta *
vmta_parse(const char *text, char **err)
{
	struct vmta *v = xcalloc(1, sizeof(*v));
	struct loader ld = { NULL };
	struct ini *ini;
	size_t ns;

	*err = NULL;
	v->refs = 1;
	v->header = xstrdup(VMTA_DEFAULT_HEADER);
	if (text == NULL)
		return v;
	ini = ini_parse(INI_NAME, text, strlen(text), ini_warn_first, &ld.err);
	ns = ini_nsections(ini);
	/* Pools first: [main] and [domains] name them. */
	for (size_t i = 0; i < ns && ld.err == NULL; i++) {
		const char *s = ini_section_name(ini, i);

		if (strncmp(s, POOL_PREFIX, strlen(POOL_PREFIX)) == 0)
			pool_section(&ld, ini, s, v);
		else if (strcmp(s, "main") != 0 && strcmp(s, "domains") != 0)
			fail(&ld, "%s:%u: unknown section [%s] (expected "
			    "[main], [pool:NAME] or [domains])", INI_NAME,
			    ini_section_line(ini, s), s);
	}
	if (ld.err == NULL)
		main_section(&ld, ini, v);
	if (ld.err == NULL)
		domains_section(&ld, ini, v);
	ini_free(ini);
	if (ld.err != NULL) {
		*err = ld.err;
		vmta_unref(v);
		return NULL;
	}
	return v;
}

struct vmta *
vmta_load(const char *config_dir, char **err)
{
	char *path = xasprintf("%s/pools.ini", config_dir), *text = NULL;
	struct vmta *v = NULL;
	size_t len;

	*err = NULL;
	if (read_file(path, &text, &len) == -1) {
		if (errno == ENOENT)
			v = vmta_parse(NULL, err);
		else
			*err = xasprintf("%s: cannot read: %s", INI_NAME,
			    strerror(errno));
	} else if (strlen(text) != len)
		*err = xasprintf("%s: holds a NUL byte", INI_NAME);
	else
		v = vmta_parse(text, err);
	free(text);
	free(path);
	return v;
}

struct vmta *
vmta_ref(struct vmta *v)
{
	v->refs++;
	return v;
}

void
vmta_unref(struct vmta *v)
{
	if (v == NULL || --v->refs > 0)
		return;
	for (size_t i = 0; i < v->npools; i++) {
		for (size_t j = 0; j < v->pools[i].naddrs; j++)
			free(v->pools[i].addrs[j].addr);
		free(v->pools[i].addrs);
		free(v->pools[i].name);
		free(v->pools[i].helo);
	}
	for (size_t i = 0; i < v->ndomains; i++)
		free(v->domains[i].domain);
	free(v->pools);
	free(v->domains);
	free(v->header);
	free(v);
}

unsigned
vmta_count(const struct vmta *v)
{
	return v != NULL ? (unsigned)v->npools : 0;
}

const char *
vmta_header(const struct vmta *v)
{
	return v != NULL && v->npools > 0 ? v->header : NULL;
}

const char *
vmta_find(const struct vmta *v, const char *name)
{
	const struct vpool *p = v != NULL ? pool_named(v, name) : NULL;

	return p != NULL ? p->name : NULL;
}

const char *
vmta_for_sender(const struct vmta *v, const char *mail_from)
{
	const char *d = mail_from != NULL ? strrchr(mail_from, '@') : NULL;

	if (v == NULL)
		return NULL;
	for (d = d != NULL ? d + 1 : NULL; d != NULL && *d != '\0';) {
		for (size_t i = 0; i < v->ndomains; i++)
			if (strcasecmp(v->domains[i].domain, d) == 0)
				return v->domains[i].pool;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return v->def;
}

int
vmta_pick(struct vmta *v, const char *name, struct vmta_pick *out)
{
	struct vpool *p = v != NULL ? pool_named(v, name) : NULL;
	struct vaddr *best = NULL;

	if (p == NULL)
		return -1;
	/* nginx's smooth weighted round-robin: each address gains its
	 * weight, the highest is taken and loses the total. */
	for (size_t i = 0; i < p->naddrs; i++) {
		p->addrs[i].cur += p->addrs[i].weight;
		if (best == NULL || p->addrs[i].cur > best->cur)
			best = &p->addrs[i];
	}
	best->cur -= p->total;
	out->pool = p->name;
	out->addr = best->addr;
	out->helo = p->helo;
	return 0;
}
