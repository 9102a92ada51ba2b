/* Unit tests: netmatch entries (addresses, CIDR networks, names, *.domain
 * patterns), their errors, and matching with and without mapped folding. */
#include "unit.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "lib/netmatch.h"

/* relay_acl_allow: addresses only, entries as written. */
#define RELAY	0u
/* tls.ini host lists: names as written, mapped folded. */
#define TLS	(NETMATCH_NAMES | NETMATCH_FOLD_MAPPED)
#define FOLD	NETMATCH_FOLD_MAPPED
#define DOM	NETMATCH_DOMAINS

#define X10	"xxxxxxxxxx"
#define X60	X10 X10 X10 X10 X10 X10
#define LABEL63	X60 "xxx"
#define LABEL64	X60 "xxxx"
#define NAME253	LABEL63 "." LABEL63 "." LABEL63 "." X60 "x"
#define NAME254	LABEL63 "." LABEL63 "." LABEL63 "." X60 "xx"

static const struct {
	unsigned		 flags;
	const char		*entry;
	enum netmatch_error	 err;
	int			 prefix;	/* when err is NETMATCH_OK */
} parse_cases[] = {
	/* IPv4 */
	{ RELAY, "192.0.2.0/24", NETMATCH_OK, 24 },
	{ RELAY, "192.0.2.1", NETMATCH_OK, 32 },
	{ RELAY, "192.0.2.1/32", NETMATCH_OK, 32 },
	{ RELAY, "128.0.0.0/1", NETMATCH_OK, 1 },
	{ RELAY, "0.0.0.0/0", NETMATCH_OK, 0 },
	{ RELAY, "192.0.2.1/0", NETMATCH_OK, 0 },
	{ RELAY, "10.1.2.3/8", NETMATCH_OK, 8 },
	{ RELAY, "192.0.2.0/008", NETMATCH_OK, 8 },
	{ RELAY, "192.0.2.0/33", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/-1", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/-8", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/- 8", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/+-8", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/ ", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/+", NETMATCH_EPREFIX, 0 },
	/* strtoul's leniency, kept from both old parsers */
	{ RELAY, "192.0.2.0/-0", NETMATCH_OK, 0 },
	{ RELAY, "192.0.2.0/+8", NETMATCH_OK, 8 },
	{ RELAY, "192.0.2.0/ 8", NETMATCH_OK, 8 },
	{ RELAY, "192.0.2.0/\t 8", NETMATCH_OK, 8 },
	{ RELAY, "192.0.2.0/8 ", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/0x8", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/8/8", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/99999999999999999999999", NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/" X60, NETMATCH_EPREFIX, 0 },
	{ RELAY, "192.0.2.0/00000000000000000000000000000000024",
	    NETMATCH_OK, 24 },
	/* IPv6 */
	{ RELAY, "2001:db8::/32", NETMATCH_OK, 32 },
	{ RELAY, "2001:db8::1", NETMATCH_OK, 128 },
	{ RELAY, "::1/128", NETMATCH_OK, 128 },
	{ RELAY, "8000::/1", NETMATCH_OK, 1 },
	{ RELAY, "::/0", NETMATCH_OK, 0 },
	{ RELAY, "::1/129", NETMATCH_EPREFIX, 0 },
	{ RELAY, "2001:db8::/", NETMATCH_EPREFIX, 0 },
	/* IPv4-mapped: as written, or folded to IPv4 (prefix in IPv4 bits) */
	{ RELAY, "::ffff:192.0.2.1", NETMATCH_OK, 128 },
	{ RELAY, "::ffff:10.0.0.0/104", NETMATCH_OK, 104 },
	{ FOLD, "::ffff:192.0.2.1", NETMATCH_OK, 32 },
	{ FOLD, "::ffff:10.0.0.0/8", NETMATCH_OK, 8 },
	{ FOLD, "::ffff:10.0.0.0/104", NETMATCH_EPREFIX, 0 },
	{ FOLD, "::ffff:0:0/96", NETMATCH_EPREFIX, 0 },
	/* garbage and empty */
	{ RELAY, "", NETMATCH_EEMPTY, 0 },
	{ TLS, "", NETMATCH_EEMPTY, 0 },
	{ RELAY, "not-a-network", NETMATCH_EADDR, 0 },
	{ RELAY, " 192.0.2.1", NETMATCH_EADDR, 0 },
	{ RELAY, "192.0.2.1 ", NETMATCH_EADDR, 0 },
	{ RELAY, "192.0.2.1 /24", NETMATCH_EADDR, 0 },
	{ RELAY, "/24", NETMATCH_EADDR, 0 },
	{ RELAY, "1.2.3.4.5", NETMATCH_EADDR, 0 },
	{ RELAY, "256.0.0.1", NETMATCH_EADDR, 0 },
	{ RELAY, "2001:db8:::1", NETMATCH_EADDR, 0 },
	{ RELAY, "2001:db8::1::2/64", NETMATCH_EADDR, 0 },
	{ RELAY, "0000:0000:0000:0000:0000:0000:0000:0000:0000:0001",
	    NETMATCH_EADDR, 0 },
	{ RELAY, "::ffff:" X60 "/24", NETMATCH_EADDR, 0 },
	{ RELAY, "mx.example.com", NETMATCH_EADDR, 0 },
	/* names as written (tls.ini) */
	{ TLS, "mx.example.com", NETMATCH_OK, -1 },
	{ TLS, "MX.Example.COM.", NETMATCH_OK, -1 },
	{ TLS, "not-a-network", NETMATCH_OK, -1 },
	{ TLS, "*.example.com", NETMATCH_OK, -1 },
	{ TLS, ".", NETMATCH_OK, -1 },
	{ TLS, NAME254 "x", NETMATCH_OK, -1 },
	{ TLS, "mx.example.com/24", NETMATCH_EADDR, 0 },
	{ TLS, "mx/", NETMATCH_EADDR, 0 },
	{ TLS, "192.0.2.0/33", NETMATCH_EPREFIX, 0 },
	{ TLS, "0.0.0.0/0", NETMATCH_OK, 0 },
	/* DNS names and *.domain patterns */
	{ DOM, "example.com", NETMATCH_OK, -1 },
	{ DOM, "example.com.", NETMATCH_OK, -1 },
	{ DOM, "*.example.com", NETMATCH_OK, -1 },
	{ DOM, "*.example.com.", NETMATCH_OK, -1 },
	{ DOM, "*.com", NETMATCH_OK, -1 },
	{ DOM, "mx-1_a.Example.", NETMATCH_OK, -1 },
	{ DOM, "xn--bcher-kva.example", NETMATCH_OK, -1 },
	{ DOM, LABEL63 ".example", NETMATCH_OK, -1 },
	{ DOM, NAME253, NETMATCH_OK, -1 },
	{ DOM, NAME253 ".", NETMATCH_OK, -1 },
	{ DOM, "192.0.2.0/24", NETMATCH_OK, 24 },
	{ DOM, LABEL64 ".example", NETMATCH_ENAME, 0 },
	{ DOM, NAME254, NETMATCH_ENAME, 0 },
	{ DOM, "*", NETMATCH_ENAME, 0 },
	{ DOM, "*.", NETMATCH_ENAME, 0 },
	{ DOM, ".", NETMATCH_ENAME, 0 },
	{ DOM, ".example.com", NETMATCH_ENAME, 0 },
	{ DOM, "example..com", NETMATCH_ENAME, 0 },
	{ DOM, "example.com..", NETMATCH_ENAME, 0 },
	{ DOM, "a.*.example.com", NETMATCH_ENAME, 0 },
	{ DOM, "**.example.com", NETMATCH_ENAME, 0 },
	{ DOM, "*example.com", NETMATCH_ENAME, 0 },
	{ DOM, "ex ample.com", NETMATCH_ENAME, 0 },
	{ DOM, "ex\tample.com", NETMATCH_ENAME, 0 },
	{ DOM, "b\xc3\xbc" "cher.example", NETMATCH_ENAME, 0 },
	{ DOM, "mx.example.com/24", NETMATCH_EADDR, 0 },
};

static void
test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		struct netmatch *m = netmatch_new(parse_cases[i].flags);
		const char *s = parse_cases[i].entry;
		enum netmatch_error err = netmatch_add(m, s, strlen(s));

		if (err != parse_cases[i].err)
			fail_msg("'%s' (flags %u): got %s, want %s", s,
			    parse_cases[i].flags, netmatch_strerror(err),
			    netmatch_strerror(parse_cases[i].err));
		assert_int_equal(netmatch_count(m), err == NETMATCH_OK);
		if (err == NETMATCH_OK && netmatch_prefix(m, 0) !=
		    parse_cases[i].prefix)
			fail_msg("'%s': prefix %d, want %d", s,
			    netmatch_prefix(m, 0), parse_cases[i].prefix);
		netmatch_free(m);
	}
}

/* A length that covers a NUL is refused, as is an out-of-range index. */
static void
test_parse_edges(void **state)
{
	struct netmatch *m = netmatch_new(TLS);

	(void)state;
	assert_int_equal(netmatch_add(m, "192.0.2.1\0/8", 12), NETMATCH_EADDR);
	assert_int_equal(netmatch_add(m, "mx\0evil", 7), NETMATCH_EADDR);
	assert_int_equal(netmatch_add(m, "192.0.2.1/24junk", 12), NETMATCH_OK);
	assert_int_equal(netmatch_add(m, "mx.example.com, b", 14),
	    NETMATCH_OK);
	assert_int_equal(netmatch_add(m, "192.0.2.0/33", 12),
	    NETMATCH_EPREFIX);
	assert_int_equal(netmatch_count(m), 2);
	assert_int_equal(netmatch_prefix(m, 0), 24);
	assert_int_equal(netmatch_prefix(m, 1), -1);
	assert_int_equal(netmatch_prefix(m, 2), -1);
	assert_true(netmatch_name(m, "MX.example.com"));
	assert_true(netmatch_ip(m, "192.0.2.200"));
	netmatch_free(m);
	netmatch_free(NULL);
	for (int e = NETMATCH_OK; e <= NETMATCH_ENAME; e++)
		assert_true(strlen(netmatch_strerror(e)) > 0);
	assert_string_equal(netmatch_strerror(NETMATCH_EPREFIX),
	    "bad prefix length");
}

enum how { IP, NAME };

static const struct {
	unsigned	 flags;
	const char	*entries;	/* comma-separated */
	enum how	 how;
	const char	*what;
	int		 want;
} match_cases[] = {
	/* IPv4 edges */
	{ RELAY, "192.0.2.0/24", IP, "192.0.2.0", 1 },
	{ RELAY, "192.0.2.0/24", IP, "192.0.2.255", 1 },
	{ RELAY, "192.0.2.0/24", IP, "192.0.3.0", 0 },
	{ RELAY, "192.0.2.0/24", IP, "192.0.1.255", 0 },
	{ RELAY, "192.0.2.128/25", IP, "192.0.2.128", 1 },
	{ RELAY, "192.0.2.128/25", IP, "192.0.2.127", 0 },
	{ RELAY, "192.0.2.0/23", IP, "192.0.3.255", 1 },
	{ RELAY, "192.0.2.0/23", IP, "192.0.4.0", 0 },
	{ RELAY, "10.1.2.3/8", IP, "10.200.0.1", 1 },
	{ RELAY, "10.1.2.3/8", IP, "11.1.2.3", 0 },
	{ RELAY, "128.0.0.0/1", IP, "255.255.255.255", 1 },
	{ RELAY, "128.0.0.0/1", IP, "127.255.255.255", 0 },
	{ RELAY, "192.0.2.1/32", IP, "192.0.2.1", 1 },
	{ RELAY, "192.0.2.1/32", IP, "192.0.2.0", 0 },
	{ RELAY, "192.0.2.1", IP, "192.0.2.1", 1 },
	{ RELAY, "192.0.2.1", IP, "192.0.2.2", 0 },
	{ RELAY, "0.0.0.0/0", IP, "203.0.113.9", 1 },
	{ RELAY, "0.0.0.0/0", IP, "::1", 0 },
	{ TLS, "0.0.0.0/0", IP, "203.0.113.9", 1 },
	/* IPv6 edges */
	{ RELAY, "2001:db8::/32", IP, "2001:db8:ffff::1", 1 },
	{ RELAY, "2001:db8::/32", IP, "2001:db9::", 0 },
	{ RELAY, "2001:db8::/33", IP, "2001:db8:7fff::1", 1 },
	{ RELAY, "2001:db8::/33", IP, "2001:db8:8000::1", 0 },
	{ RELAY, "8000::/1", IP, "ffff::1", 1 },
	{ RELAY, "8000::/1", IP, "7fff::1", 0 },
	{ RELAY, "::1/128", IP, "::1", 1 },
	{ RELAY, "::1/128", IP, "::2", 0 },
	{ RELAY, "2001:db8::1:2:3/64", IP, "2001:db8::9", 1 },
	{ RELAY, "::/0", IP, "2001:db8::1", 1 },
	{ RELAY, "::/0", IP, "192.0.2.1", 0 },
	{ TLS, "::/0", IP, "2001:db8::1", 1 },
	/* IPv4-mapped addresses always match IPv4 networks */
	{ RELAY, "127.0.0.0/8", IP, "::ffff:127.0.0.1", 1 },
	{ TLS, "127.0.0.0/8", IP, "::ffff:127.0.0.1", 1 },
	{ RELAY, "127.0.0.0/8", IP, "::ffff:128.0.0.1", 0 },
	{ RELAY, "192.0.2.1", IP, "::ffff:192.0.2.1", 1 },
	{ RELAY, "192.0.2.1", IP, "::192.0.2.1", 0 },
	/* entries as written: a mapped entry is IPv6, IPv6 networks see the
	 * full mapped address (relay_acl_allow) */
	{ RELAY, "::ffff:192.0.2.1", IP, "::ffff:192.0.2.1", 1 },
	{ RELAY, "::ffff:192.0.2.1", IP, "192.0.2.1", 0 },
	{ RELAY, "::ffff:0:0/96", IP, "::ffff:192.0.2.1", 1 },
	{ RELAY, "::ffff:0:0/96", IP, "192.0.2.1", 0 },
	{ RELAY, "::/64", IP, "::ffff:192.0.2.1", 1 },
	/* folded: a mapped entry is IPv4, a mapped address only IPv4 (tls) */
	{ TLS, "::ffff:192.0.2.1", IP, "192.0.2.1", 1 },
	{ TLS, "::ffff:192.0.2.1", IP, "::ffff:192.0.2.1", 1 },
	{ TLS, "::ffff:10.0.0.0/8", IP, "10.9.9.9", 1 },
	{ TLS, "::ffff:10.0.0.0/8", IP, "::ffff:10.9.9.9", 1 },
	{ TLS, "::ffff:10.0.0.0/8", IP, "11.0.0.0", 0 },
	{ TLS, "::/64", IP, "::ffff:192.0.2.1", 0 },
	{ TLS, "::/64", IP, "::1", 1 },
	/* what is not an address literal never matches */
	{ RELAY, "192.0.2.0/24", IP, "not-an-ip", 0 },
	{ RELAY, "192.0.2.0/24", IP, "", 0 },
	{ RELAY, "192.0.2.0/24", IP, NULL, 0 },
	{ RELAY, "192.0.2.0/24", IP, " 192.0.2.1", 0 },
	{ TLS, "mx.example.com", IP, "mx.example.com", 0 },
	/* names: case-insensitive, one trailing dot ignored on both sides */
	{ TLS, "mx.example.com", NAME, "mx.example.com", 1 },
	{ TLS, "mx.example.com", NAME, "MX.Example.COM", 1 },
	{ TLS, "mx.example.com", NAME, "mx.example.com.", 1 },
	{ TLS, "MX.example.com.", NAME, "mx.EXAMPLE.com", 1 },
	{ TLS, "mx.example.com", NAME, "mx.example.com..", 0 },
	{ TLS, "mx.example.com", NAME, "a.mx.example.com", 0 },
	{ TLS, "mx.example.com", NAME, "example.com", 0 },
	{ TLS, "mx.example.com", NAME, "mx.example.co", 0 },
	{ TLS, "mx.example.com", NAME, "", 0 },
	{ TLS, "mx.example.com", NAME, NULL, 0 },
	{ TLS, ".", NAME, ".", 1 },
	{ TLS, "192.0.2.1", NAME, "192.0.2.1", 0 },
	/* as written, '*' is a plain character */
	{ TLS, "*.example.com", NAME, "a.example.com", 0 },
	{ TLS, "*.example.com", NAME, "*.EXAMPLE.com", 1 },
	/* *.domain patterns: strictly below the domain */
	{ DOM, "*.example.com", NAME, "a.example.com", 1 },
	{ DOM, "*.example.com", NAME, "A.B.EXAMPLE.COM.", 1 },
	{ DOM, "*.example.com", NAME, "example.com", 0 },
	{ DOM, "*.example.com", NAME, ".example.com", 0 },
	{ DOM, "*.example.com", NAME, "badexample.com", 0 },
	{ DOM, "*.example.com", NAME, "a.example.com.evil", 0 },
	{ DOM, "*.example.com", NAME, "a.example.co", 0 },
	{ DOM, "example.com", NAME, "Example.Com.", 1 },
	{ DOM, "example.com", NAME, "a.example.com", 0 },
	{ DOM, "example.com,*.example.com", NAME, "example.com", 1 },
	{ DOM, "example.com,*.example.com", NAME, "mx.example.com", 1 },
	/* mixed lists */
	{ DOM, "192.0.2.0/24,*.example.com", IP, "192.0.2.9", 1 },
	{ DOM, "192.0.2.0/24,*.example.com", NAME, "mx.example.com", 1 },
	{ TLS, "mx.test,2001:db8::/32,192.0.2.7", IP, "2001:db8::25", 1 },
	{ TLS, "mx.test,2001:db8::/32,192.0.2.7", IP, "192.0.2.7", 1 },
	{ TLS, "mx.test,2001:db8::/32,192.0.2.7", IP, "192.0.2.8", 0 },
	{ TLS, "mx.test,2001:db8::/32,192.0.2.7", NAME, "MX.TEST.", 1 },
	{ RELAY, "", IP, "192.0.2.1", 0 },
};

static struct netmatch *
list_of(unsigned flags, const char *entries)
{
	struct netmatch *m = netmatch_new(flags);
	const char *p = entries, *comma;
	size_t len;

	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (netmatch_add(m, p, len) != NETMATCH_OK)
			fail_msg("bad entry in '%s'", entries);
		p += len + (comma != NULL);
	}
	return m;
}

static void
test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	    i++) {
		struct netmatch *m = list_of(match_cases[i].flags,
		    match_cases[i].entries);
		const char *w = match_cases[i].what;
		int got = match_cases[i].how == IP ? netmatch_ip(m, w) :
		    netmatch_name(m, w);

		if (got != match_cases[i].want)
			fail_msg("%s in [%s] (flags %u): got %d, want %d",
			    w ? w : "NULL", match_cases[i].entries,
			    match_cases[i].flags, got, match_cases[i].want);
		netmatch_free(m);
	}
}

/* The relay ACL's path: a peer's socket address. */
static void
test_sockaddr(void **state)
{
	struct netmatch *relay = list_of(RELAY, "127.0.0.2/32,::1/128");
	struct netmatch *tls = list_of(TLS, "127.0.0.0/8");
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	(void)state;
	assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &in.sin_addr), 1);
	assert_true(netmatch_sockaddr(relay, (struct sockaddr *)&in));
	assert_true(netmatch_sockaddr(tls, (struct sockaddr *)&in));
	assert_int_equal(inet_pton(AF_INET, "127.0.0.3", &in.sin_addr), 1);
	assert_false(netmatch_sockaddr(relay, (struct sockaddr *)&in));

	assert_int_equal(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
	assert_true(netmatch_sockaddr(relay, (struct sockaddr *)&in6));
	assert_false(netmatch_sockaddr(tls, (struct sockaddr *)&in6));
	/* a v4 client on a dual-stack socket */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.2",
	    &in6.sin6_addr), 1);
	assert_true(netmatch_sockaddr(relay, (struct sockaddr *)&in6));
	assert_true(netmatch_sockaddr(tls, (struct sockaddr *)&in6));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.3",
	    &in6.sin6_addr), 1);
	assert_false(netmatch_sockaddr(relay, (struct sockaddr *)&in6));

	assert_false(netmatch_sockaddr(relay, (struct sockaddr *)&un));
	netmatch_free(relay);
	netmatch_free(tls);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_sockaddr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
