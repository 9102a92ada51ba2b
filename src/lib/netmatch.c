/*
 * netmatch: owns the parsing of address, CIDR and host-name entries into
 * an immutable list, and the matching of addresses and names against it.
 * No I/O: callers read their files and word their own errors.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/netmatch.h"
#include "lib/xmalloc.h"

#define NAME_MAX_LEN	253	/* a DNS name in text, no trailing dot */
#define LABEL_MAX_LEN	63

enum kind { ENT_V4, ENT_V6, ENT_NAME, ENT_SUFFIX };

struct entry {
	enum kind	 kind;
	unsigned	 bits;		/* ENT_V4, ENT_V6 */
	unsigned char	 addr[16];
	char		*name;		/* ENT_NAME; ENT_SUFFIX without "*." */
	size_t		 len;
};

struct netmatch {
	unsigned	 flags;
	struct entry	*v;
	size_t		 n;
};

static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0xff, 0xff };

struct netmatch *
netmatch_new(unsigned flags)
{
	struct netmatch *m = xcalloc(1, sizeof(*m));

	m->flags = flags;
	return m;
}

void
netmatch_free(struct netmatch *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].name);
	free(m->v);
	free(m);
}

const char *
netmatch_strerror(enum netmatch_error e)
{
	switch (e) {
	case NETMATCH_OK:
		return "no error";
	case NETMATCH_EEMPTY:
		return "empty entry";
	case NETMATCH_EADDR:
		return "not an address or CIDR network";
	case NETMATCH_EPREFIX:
		return "bad prefix length";
	case NETMATCH_ENAME:
		return "not a host name or *.domain pattern";
	}
	return "unknown error";
}

/* An address literal of len bytes: AF_INET, AF_INET6 or 0. */
static int
parse_addr(const char *s, size_t len, unsigned char addr[16], int fold)
{
	char text[INET6_ADDRSTRLEN];

	if (len >= sizeof(text))
		return 0;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, addr) != 1)
		return 0;
	if (fold && memcmp(addr, mapped_prefix, sizeof(mapped_prefix)) == 0) {
		memmove(addr, addr + 12, 4);
		return AF_INET;
	}
	return AF_INET6;
}

/*
 * The prefix length as strtoul(3) reads a decimal, at most max; -1
 * otherwise. Leading blanks and a sign pass, as they always did in
 * tls.ini and relay_acl_allow; a negative length other than -0 wraps
 * past max and is refused.
 */
static int
parse_prefix(const char *s, size_t len, unsigned max)
{
	char *text, *end;
	unsigned long v;
	int rv = -1;

	if (len == 0)
		return -1;
	text = xstrndup(s, len);
	v = strtoul(text, &end, 10);
	if (end != text && *end == '\0' && v <= max)
		rv = (int)v;
	free(text);
	return rv;
}

/* Labels of 1-63 letters, digits, '-' or '_', at most 253 in all. */
static int
dns_name_ok(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > LABEL_MAX_LEN)
				return 0;
		} else
			return 0;
	}
	return label > 0;
}

static enum netmatch_error
parse_name(const struct netmatch *m, const char *s, size_t len,
    struct entry *e)
{
	/* One trailing dot is not part of the name. */
	if (len > 1 && s[len - 1] == '.')
		len--;
	e->kind = ENT_NAME;
	if (m->flags & NETMATCH_DOMAINS) {
		if (len > 2 && s[0] == '*' && s[1] == '.') {
			e->kind = ENT_SUFFIX;
			s += 2;
			len -= 2;
		}
		if (!dns_name_ok(s, len))
			return NETMATCH_ENAME;
	}
	e->name = xstrndup(s, len);
	e->len = len;
	return NETMATCH_OK;
}

enum netmatch_error
netmatch_add(struct netmatch *m, const char *s, size_t len)
{
	struct entry e = { 0 };
	const char *slash;
	size_t alen;
	int family, bits;
	unsigned max;
	enum netmatch_error err;

	if (len == 0)
		return NETMATCH_EEMPTY;
	if (memchr(s, '\0', len) != NULL)
		return NETMATCH_EADDR;
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	family = parse_addr(s, alen, e.addr, m->flags & NETMATCH_FOLD_MAPPED);
	if (family != 0) {
		max = family == AF_INET ? 32 : 128;
		bits = (int)max;
		if (slash != NULL && (bits = parse_prefix(slash + 1,
		    len - alen - 1, max)) == -1)
			return NETMATCH_EPREFIX;
		e.kind = family == AF_INET ? ENT_V4 : ENT_V6;
		e.bits = (unsigned)bits;
	} else if (slash != NULL ||
	    !(m->flags & (NETMATCH_NAMES | NETMATCH_DOMAINS)))
		return NETMATCH_EADDR;
	else if ((err = parse_name(m, s, len, &e)) != NETMATCH_OK)
		return err;
	m->v = xreallocarray(m->v, m->n + 1, sizeof(*m->v));
	m->v[m->n++] = e;
	return NETMATCH_OK;
}

size_t
netmatch_count(const struct netmatch *m)
{
	return m->n;
}

int
netmatch_prefix(const struct netmatch *m, size_t i)
{
	if (i >= m->n || m->v[i].kind == ENT_NAME ||
	    m->v[i].kind == ENT_SUFFIX)
		return -1;
	return (int)m->v[i].bits;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* a: 4 bytes for AF_INET, 16 for AF_INET6. */
static int
match_addr(const struct netmatch *m, int family, const unsigned char *a)
{
	const unsigned char *v4 = NULL, *v6 = NULL;

	if (family == AF_INET)
		v4 = a;
	else {
		v6 = a;
		if (memcmp(a, mapped_prefix, sizeof(mapped_prefix)) == 0) {
			v4 = a + 12;
			if (m->flags & NETMATCH_FOLD_MAPPED)
				v6 = NULL;
		}
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct entry *e = &m->v[i];

		if (e->kind == ENT_V4 && v4 != NULL &&
		    prefix_eq(v4, e->addr, e->bits))
			return 1;
		if (e->kind == ENT_V6 && v6 != NULL &&
		    prefix_eq(v6, e->addr, e->bits))
			return 1;
	}
	return 0;
}

int
netmatch_sockaddr(const struct netmatch *m, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return match_addr(m, AF_INET, (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return match_addr(m, AF_INET6, (const unsigned char *)
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return 0;
}

int
netmatch_ip(const struct netmatch *m, const char *ip)
{
	unsigned char addr[16];

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, addr) == 1)
		return match_addr(m, AF_INET, addr);
	if (inet_pton(AF_INET6, ip, addr) == 1)
		return match_addr(m, AF_INET6, addr);
	return 0;
}

int
netmatch_name(const struct netmatch *m, const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < m->n; i++) {
		const struct entry *e = &m->v[i];

		if (e->kind == ENT_NAME && e->len == len &&
		    strncasecmp(e->name, name, len) == 0)
			return 1;
		if (e->kind == ENT_SUFFIX && len > e->len + 1 &&
		    name[len - e->len - 1] == '.' &&
		    strncasecmp(name + len - e->len, e->name, e->len) == 0)
			return 1;
	}
	return 0;
}
