/*
 * libFuzzer target: netmatch entries and matching (lib/netmatch.c), as in
 * relay_acl_allow, tls.ini's host lists and the domain lists. Input:
 * [flags] then lines; a line starting with '?' is an address or name to
 * look up, any other an entry. Oracles, for every accepted entry alone in
 * a list: its own address matches, as text and as a sockaddr (and as
 * ::ffff:a.b.c.d for an IPv4 one); flipping a bit inside its prefix stops
 * the match, outside it does not; its own name matches, with a trailing
 * dot and in any ASCII case, and a *.domain matches a name below it but not
 * the domain itself. For every lookup, the whole list answers as the OR of
 * its entries alone, and text and sockaddr agree.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "lib/netmatch.h"

#define SINGLES_MAX	64

static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0xff, 0xff };

/* Whether the address a (4 or 16 bytes) matches, by sockaddr and by text. */
static int
lookup(const struct netmatch *m, int family, const unsigned char *a)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char text[INET6_ADDRSTRLEN];
	int by_sa;

	if (family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a, 4);
		by_sa = netmatch_sockaddr(m, (struct sockaddr *)&sin);
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, a, 16);
		by_sa = netmatch_sockaddr(m, (struct sockaddr *)&sin6);
	}
	check(inet_ntop(family, a, text, sizeof(text)) != NULL);
	check(netmatch_ip(m, text) == by_sa);
	return by_sa;
}

static void
flip(unsigned char *a, unsigned bit)
{
	a[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
}

/* An accepted address entry, alone in m. */
static void
address_entry(const struct netmatch *m, unsigned flags, const char *s,
    size_t len, int prefix, struct fuzz_rng *rng)
{
	unsigned char a[16], v6[16];
	char text[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	int family = AF_INET, max = 32;
	unsigned bit;

	check(alen < sizeof(text));
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (inet_pton(AF_INET, text, a) != 1) {
		check(inet_pton(AF_INET6, text, a) == 1);
		family = AF_INET6;
		max = 128;
		if ((flags & NETMATCH_FOLD_MAPPED) &&
		    memcmp(a, mapped, sizeof(mapped)) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
			max = 32;
		}
	}
	check(prefix >= 0 && prefix <= max);
	check(slash != NULL || prefix == max);
	check(lookup(m, family, a) == 1);
	if (family == AF_INET) {
		memcpy(v6, mapped, 12);
		memcpy(v6 + 12, a, 4);
		check(lookup(m, AF_INET6, v6) == 1);
	}
	if (prefix > 0) {	/* inside the prefix: out of the network */
		bit = fuzz_rng_next(rng) % (unsigned)prefix;
		flip(a, bit);
		check(lookup(m, family, a) == 0);
		flip(a, bit);
	}
	if (prefix < max) {	/* past it: still in */
		bit = (unsigned)prefix + fuzz_rng_next(rng) %
		    (unsigned)(max - prefix);
		flip(a, bit);
		/* Unless it became IPv4-mapped: folded, it is then its IPv4
		 * address, which no IPv6 entry holds (netmatch.h). */
		check(lookup(m, family, a) == !(family == AF_INET6 &&
		    (flags & NETMATCH_FOLD_MAPPED) &&
		    memcmp(a, mapped, sizeof(mapped)) == 0));
		flip(a, bit);
	}
}

/* An accepted name entry (s is NUL-terminated), alone in m. */
static void
name_entry(const struct netmatch *m, unsigned flags, const char *s,
    size_t len)
{
	char q[1024];

	check(netmatch_name(m, s) == 1);
	check(netmatch_ip(m, s) == 0);
	if (len + 3 > sizeof(q))
		return;
	for (size_t i = 0; i <= len; i++) {	/* case flipped */
		char c = s[i];

		q[i] = c >= 'a' && c <= 'z' ? c - 32 : c >= 'A' && c <= 'Z' ?
		    c + 32 : c;
	}
	check(netmatch_name(m, q) == 1);
	if (len > 0 && s[len - 1] != '.') {
		memcpy(q, s, len);
		memcpy(q + len, ".", 2);
		check(netmatch_name(m, q) == 1);
	}
	if ((flags & NETMATCH_DOMAINS) && len > 2 && s[0] == '*' &&
	    s[1] == '.') {
		/* A *.domain pattern: below it yes, itself no. */
		q[0] = 'a';
		memcpy(q + 1, s + 1, len);	/* "a.domain" */
		check(netmatch_name(m, q) == 1);
		check(netmatch_name(m, s + 2) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netmatch *all, *single[SINGLES_MAX];
	size_t nsingle = 0, off = 1;
	struct fuzz_rng rng;
	unsigned flags;

	if (size < 1)
		return 0;
	flags = data[0] & (NETMATCH_NAMES | NETMATCH_DOMAINS |
	    NETMATCH_FOLD_MAPPED);
	fuzz_rng_init(&rng, data[0]);
	all = netmatch_new(flags);
	while (off < size) {
		const char *s = (const char *)data + off;
		const char *nl = memchr(s, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - s) : size - off;
		char *line = strndup(s, len);

		off += len + 1;
		if (line == NULL)
			abort();
		if (len > 0 && s[0] == '?') {
			unsigned char a[16];
			int any_ip = 0, any_name = 0;

			for (size_t i = 0; i < nsingle; i++) {
				any_ip |= netmatch_ip(single[i], line + 1);
				any_name |= netmatch_name(single[i], line + 1);
			}
			check(netmatch_ip(all, line + 1) == any_ip);
			check(netmatch_name(all, line + 1) == any_name);
			if (inet_pton(AF_INET, line + 1, a) == 1)
				check(lookup(all, AF_INET, a) == any_ip);
			else if (inet_pton(AF_INET6, line + 1, a) == 1)
				check(lookup(all, AF_INET6, a) == any_ip);
			else
				check(any_ip == 0);
		} else if (nsingle < SINGLES_MAX) {
			struct netmatch *one = netmatch_new(flags);
			size_t before = netmatch_count(all);
			enum netmatch_error e = netmatch_add(all, s, len);

			check(netmatch_add(one, s, len) == e);
			check(netmatch_strerror(e) != NULL);
			if (e != NETMATCH_OK) {
				check(netmatch_count(all) == before &&
				    netmatch_count(one) == 0);
				netmatch_free(one);
			} else {
				int prefix = netmatch_prefix(one, 0);

				check(netmatch_count(all) == before + 1 &&
				    netmatch_count(one) == 1);
				check(netmatch_prefix(all, before) == prefix);
				check(strlen(line) == len);	/* no NUL */
				if (prefix >= 0)
					address_entry(one, flags, s, len,
					    prefix, &rng);
				else
					name_entry(one, flags, line, len);
				single[nsingle++] = one;
			}
		}
		free(line);
	}
	for (size_t i = 0; i < nsingle; i++)
		netmatch_free(single[i]);
	netmatch_free(all);
	return 0;
}
