/*
 * relay: Haraka's relay plugin, by client address. With relay.ini
 * [relay] acl=true (the default) a client whose address matches a CIDR
 * of config/relay_acl_allow may relay. Outpost is never an open relay:
 * `all=true` and a /0 network are refused at start-up.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"

struct net {
	int		 family;
	unsigned char	 addr[16];
	unsigned	 bits;
};

struct relay {
	struct net	*nets;
	size_t		 nnets;
};

/* "192.0.2.0/24", "2001:db8::/32", or a single address. */
static int
parse_net(const char *s, struct net *n)
{
	char *copy = xstrdup(s), *slash = strchr(copy, '/'), *end;
	long bits = -1;
	int rc = -1;

	if (slash != NULL) {
		*slash++ = '\0';
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0')
			goto done;
	}
	if (inet_pton(AF_INET, copy, n->addr) == 1) {
		n->family = AF_INET;
		if (bits == -1)
			bits = 32;
		rc = bits >= 0 && bits <= 32 ? 0 : -1;
	} else if (inet_pton(AF_INET6, copy, n->addr) == 1) {
		n->family = AF_INET6;
		if (bits == -1)
			bits = 128;
		rc = bits >= 0 && bits <= 128 ? 0 : -1;
	}
	n->bits = (unsigned)bits;
done:
	free(copy);
	return rc;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

static int
relay_check(const struct sockaddr *sa, void *data)
{
	const struct relay *r = data;
	unsigned char v4[4], v6[16];
	int v4ok = 0;

	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		v4ok = 1;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(v6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)v6)) {
			memcpy(v4, v6 + 12, 4);
			v4ok = 1;
		}
	} else
		return 0;
	for (size_t i = 0; i < r->nnets; i++) {
		const struct net *n = &r->nets[i];

		if (n->family == AF_INET && v4ok &&
		    prefix_match(v4, n->addr, n->bits))
			return 1;
		if (n->family == AF_INET6 && sa->sa_family == AF_INET6 &&
		    prefix_match(v6, n->addr, n->bits))
			return 1;
	}
	return 0;
}

static void
relay_shutdown(void *data)
{
	struct relay *r = data;

	reception_set_relay(NULL, NULL);
	if (r != NULL)
		free(r->nets);
	free(r);
}

static int
relay_init(struct op_env *env, void **data)
{
	const char *dir = op_config_dir(env);
	char *path = xasprintf("%s/relay.ini", dir), **list = NULL;
	struct relay *r = xcalloc(1, sizeof(*r));
	struct ini *ini;
	size_t n = 0;
	int exists, acl, rc = -1;

	*data = r;
	if ((ini = ini_load(path, "relay.ini", &exists, NULL, NULL)) == NULL) {
		op_log(OP_LOG_CRIT, "relay", NULL, "cannot read config/relay.ini");
		goto done;
	}
	if (ini_bool(ini, "relay", "all", 0)) {
		op_log(OP_LOG_CRIT, "relay", NULL, "config/relay.ini:%u: all: "
		    "relaying for every client makes an open relay; Outpost "
		    "refuses it", ini_line(ini, "relay", "all"));
		goto done;
	}
	acl = ini_bool(ini, "relay", "acl", 1);
	free(path);
	path = xasprintf("%s/relay_acl_allow", dir);
	if (acl && flat_list(path, &list, &n) == -1) {
		op_log(OP_LOG_CRIT, "relay", NULL, "cannot read "
		    "config/relay_acl_allow");
		goto done;
	}
	r->nets = xcalloc(n + 1, sizeof(*r->nets));
	for (size_t i = 0; i < n; i++) {
		if (parse_net(list[i], &r->nets[r->nnets]) != 0) {
			op_log(OP_LOG_CRIT, "relay", NULL, "config/relay_acl_allow:"
			    " '%s' is not an address or CIDR network", list[i]);
			goto done;
		}
		if (r->nets[r->nnets].bits == 0) {
			op_log(OP_LOG_CRIT, "relay", NULL, "config/relay_acl_allow:"
			    " '%s' matches every address: an open relay; "
			    "Outpost refuses it", list[i]);
			goto done;
		}
		r->nnets++;
	}
	if (acl)
		reception_set_relay(relay_check, r);
	op_log(OP_LOG_INFO, "relay", NULL, "acl=%s, %zu network%s allowed",
	    acl ? "true" : "false", r->nnets, r->nnets == 1 ? "" : "s");
	rc = 0;
done:
	flat_list_free(list);
	ini_free(ini);
	free(path);
	if (rc != 0) {
		free(r->nets);
		free(r);
		*data = NULL;
	}
	return rc;
}

const struct op_plugin relay_plugin = {
	OUTPOST_PLUGIN_ABI, "relay", relay_init, relay_shutdown
};
