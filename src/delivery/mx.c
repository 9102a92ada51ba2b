/*
 * mx: delivery destinations. Parses Haraka's string forms into struct mx
 * (each struct owns its strings), orders lists (priority, then a uniform
 * shuffle among equals; inet_prefer) and tells local addresses apart.
 * The interface-address cache is process state for the loop thread.
 */
#include "delivery/mx.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "lib/xmalloc.h"

#define MAX_HOST	253

void
mx_clear(struct mx *mx)
{
	free(mx->exchange);
	free(mx->path);
	free(mx->from_dns);
	free(mx->bind);
	free(mx->bind_helo);
	free(mx->auth_user);
	free(mx->auth_pass);
	free(mx->auth_type);
	free(mx->route);
	memset(mx, 0, sizeof(*mx));
}

int
mx_tls_choice(int choice, int dflt)
{
	return choice == MX_TLS_DEFAULT ? dflt != 0 : choice == MX_TLS_ON;
}

/* dst is overwritten, not cleared first. */
void
mx_copy(struct mx *dst, const struct mx *src)
{
	*dst = *src;
	dst->exchange = xstrdup_null(src->exchange);
	dst->path = xstrdup_null(src->path);
	dst->from_dns = xstrdup_null(src->from_dns);
	dst->bind = xstrdup_null(src->bind);
	dst->bind_helo = xstrdup_null(src->bind_helo);
	dst->auth_user = xstrdup_null(src->auth_user);
	dst->auth_pass = xstrdup_null(src->auth_pass);
	dst->auth_type = xstrdup_null(src->auth_type);
	dst->route = xstrdup_null(src->route);
}

void
mx_list_free(struct mx *mxs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mx_clear(&mxs[i]);
	free(mxs);
}

/* --- parsing -------------------------------------------------------------- */

/* "1".."65535", digits only. */
static int
parse_port(const char *s, size_t len, unsigned *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* A host name (letters, digits, '-', '_', dots; one trailing dot allowed
 * and dropped) or an IP literal, lower-cased; NULL if neither. */
static char *
host_of(const char *s, size_t len)
{
	char *h;

	if (len > 0 && s[len - 1] == '.' && len > 1)
		len--;
	if (len == 0 || len > MAX_HOST + 1)
		return NULL;
	h = xstrndup(s, len);
	for (size_t i = 0; i < len; i++)
		h[i] = (char)tolower((unsigned char)h[i]);
	if (mx_ip_family(h) != 0)
		return h;
	if (len > MAX_HOST || h[0] == '.')
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.') ||
		    (c == '.' && h[i + 1] == '.'))
			goto bad;
	}
	return h;
bad:
	free(h);
	return NULL;
}

/* URL userinfo part, %XX-decoded; NULL on a bad escape or a NUL. */
static char *
pct_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || (hi = hex_value(s[i + 1])) < 0 ||
		    (lo = hex_value(s[i + 2])) < 0 || (hi | lo) == 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/*
 * host[:port], [host][:port] (inside a URL or not). With allow_bare_v6 a
 * string with two or more colons is a bare IPv6 literal.
 */
static int
parse_hostport(const char *s, size_t len, int allow_bare_v6, struct mx *out,
    const char **why)
{
	const char *colon, *hs = s, *ps = NULL;
	size_t hlen = len, plen = 0;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL) {
			*why = "missing ']'";
			return -1;
		}
		hs = s + 1;
		hlen = (size_t)(close - hs);
		if ((size_t)(close + 1 - s) < len) {
			if (close[1] != ':') {
				*why = "junk after ']'";
				return -1;
			}
			ps = close + 2;
			plen = len - (size_t)(ps - s);
		}
	} else if ((colon = memchr(s, ':', len)) != NULL) {
		if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
			char *h;

			if (!allow_bare_v6) {
				*why = "IPv6 address without brackets";
				return -1;
			}
			h = xstrndup(s, len);
			if (mx_ip_family(h) != 6) {
				free(h);
				*why = "not an IPv6 address";
				return -1;
			}
			for (char *p = h; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			out->exchange = h;
			return 0;
		}
		hlen = (size_t)(colon - s);
		ps = colon + 1;
		plen = len - hlen - 1;
	}
	if (ps != NULL && parse_port(ps, plen, &out->port) == -1) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	if (hlen == 0) {
		*why = "no host";
		return -1;
	}
	if ((out->exchange = host_of(hs, hlen)) == NULL) {
		*why = "not a host name or IP address";
		return -1;
	}
	return 0;
}

static int
parse_url(const char *s, struct mx *out, const char **why)
{
	const char *auth = s + strlen("smtp://"), *end, *at;
	size_t alen;

	out->using_lmtp = strncasecmp(s, "lmtp", 4) == 0;
	alen = strcspn(auth, "/?#");
	end = auth + alen;
	if (*end != '\0' && strcmp(end, "/") != 0) {
		*why = "a path, query or fragment after the host";
		return -1;
	}
	at = NULL;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		size_t ulen = colon ? (size_t)(colon - auth) :
		    (size_t)(at - auth);

		if (ulen > 0 &&
		    (out->auth_user = pct_decode(auth, ulen)) == NULL)
			goto badesc;
		if (colon != NULL && at > colon + 1 &&
		    (out->auth_pass = pct_decode(colon + 1,
		    (size_t)(at - colon - 1))) == NULL)
			goto badesc;
		auth = at + 1;
	}
	return parse_hostport(auth, (size_t)(end - auth), 0, out, why);
badesc:
	*why = "bad %-escape in user or password";
	return -1;
}

int
mx_parse(const char *s, struct mx *out, const char **why)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0') {
		*why = "empty destination";
		return -1;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*why = "whitespace or control character";
			return -1;
		}
	if (strncasecmp(s, "smtp://", 7) == 0 ||
	    strncasecmp(s, "lmtp://", 7) == 0)
		rc = parse_url(s, out, why);
	else if (strstr(s, "://") != NULL) {
		*why = "unknown scheme (smtp:// or lmtp://)";
		rc = -1;
	} else
		rc = parse_hostport(s, strlen(s), 1, out, why);
	if (rc == -1)
		mx_clear(out);
	return rc;
}

/* --- ordering --------------------------------------------------------------- */

/* A uniform integer in [0, n), n > 0 (Lemire's multiply; the bias is at
 * most n / 2^64). */
static size_t
uniform(size_t n)
{
	return (size_t)(((unsigned __int128)util_random() * n) >> 64);
}

void
mx_sort(struct mx *mxs, size_t n)
{
	struct mx *tmp;

	if (n < 2)
		return;
	/* Bottom-up merge sort: stable, O(n log n) for large DNS answers. */
	tmp = xreallocarray(NULL, n, sizeof(*tmp));
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n;
			size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				tmp[k++] = mxs[j].priority < mxs[i].priority ?
				    mxs[j++] : mxs[i++];
			while (i < mid)
				tmp[k++] = mxs[i++];
			while (j < hi)
				tmp[k++] = mxs[j++];
		}
		memcpy(mxs, tmp, n * sizeof(*mxs));
	}
	free(tmp);
	/* Fisher-Yates inside each run of equal priority (RFC 5321 5.1). */
	for (size_t start = 0, end; start < n; start = end) {
		for (end = start + 1; end < n &&
		    mxs[end].priority == mxs[start].priority; end++)
			;
		for (size_t i = end - 1; i > start; i--) {
			size_t j = start + uniform(i - start + 1);
			struct mx t = mxs[i];

			mxs[i] = mxs[j];
			mxs[j] = t;
		}
	}
}

int
mx_is_null(const struct mx *mxs, size_t n)
{
	return n == 1 && mxs[0].priority == 0 && mxs[0].path == NULL &&
	    mxs[0].exchange != NULL && mxs[0].exchange[0] == '\0';
}

void
mx_inet_prefer(struct mx *mxs, size_t n, enum inet_prefer prefer)
{
	int last;
	struct mx *tmp;
	size_t k = 0;

	if (prefer == INET_PREFER_DEFAULT || n < 2)
		return;
	last = prefer == INET_PREFER_V4 ? 6 : 4;
	tmp = xreallocarray(NULL, n, sizeof(*tmp));
	for (size_t i = 0; i < n; i++)
		if (mx_ip_family(mxs[i].exchange) != last)
			tmp[k++] = mxs[i];
	for (size_t i = 0; i < n; i++)
		if (mx_ip_family(mxs[i].exchange) == last)
			tmp[k++] = mxs[i];
	memcpy(mxs, tmp, n * sizeof(*mxs));
	free(tmp);
}

int
mx_ip_family(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (s == NULL)
		return 0;
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, a) == 1)
		return 6;
	return 0;
}

/* --- local addresses ------------------------------------------------------ */

static struct {
	int		 loaded;
	struct in_addr	*v4;
	size_t		 n4;
	struct in6_addr	*v6;
	size_t		 n6;
} ifcache;

void
mx_local_reset(void)
{
	free(ifcache.v4);
	free(ifcache.v6);
	memset(&ifcache, 0, sizeof(ifcache));
}

static void
ifcache_load(void)
{
	struct ifaddrs *ifa = NULL;

	ifcache.loaded = 1;
	if (getifaddrs(&ifa) == -1)
		return;			/* the fixed ranges still apply */
	for (struct ifaddrs *p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL)
			continue;
		if (p->ifa_addr->sa_family == AF_INET) {
			ifcache.v4 = xreallocarray(ifcache.v4, ifcache.n4 + 1,
			    sizeof(*ifcache.v4));
			ifcache.v4[ifcache.n4++] =
			    ((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr;
		} else if (p->ifa_addr->sa_family == AF_INET6) {
			ifcache.v6 = xreallocarray(ifcache.v6, ifcache.n6 + 1,
			    sizeof(*ifcache.v6));
			ifcache.v6[ifcache.n6++] =
			    ((struct sockaddr_in6 *)(void *)p->ifa_addr)->sin6_addr;
		}
	}
	freeifaddrs(ifa);
}

static int
v4_is_local(const unsigned char b[4])
{
	if ((b[0] | b[1] | b[2] | b[3]) == 0)		/* 0.0.0.0 */
		return 1;
	if (b[0] == 127 || (b[0] == 169 && b[1] == 254))
		return 1;
	if (!ifcache.loaded)
		ifcache_load();
	for (size_t i = 0; i < ifcache.n4; i++)
		if (memcmp(&ifcache.v4[i], b, 4) == 0)
			return 1;
	return 0;
}

int
mx_ip_is_local(const char *ip)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	unsigned char b[16];

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, b) == 1)
		return v4_is_local(b);
	if (inet_pton(AF_INET6, ip, b) != 1)
		return 0;
	if (memcmp(b, mapped, sizeof(mapped)) == 0)
		return v4_is_local(b + 12);
	{
		static const unsigned char zero[15];

		if (memcmp(b, zero, 15) == 0 && b[15] <= 1)	/* :: ::1 */
			return 1;
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)	/* fe80::/10 */
		return 1;
	if ((b[0] & 0xfe) == 0xfc)			/* fc00::/7 */
		return 1;
	if (!ifcache.loaded)
		ifcache_load();
	for (size_t i = 0; i < ifcache.n6; i++)
		if (memcmp(&ifcache.v6[i], b, 16) == 0)
			return 1;
	return 0;
}
