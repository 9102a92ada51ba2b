/*
 * relay: Haraka's relay plugin, by client address. With relay.ini
 * [relay] acl=true (the default) a client whose address matches a CIDR
 * of config/relay_acl_allow may relay. Outpost is never an open relay:
 * `all=true` and a /0 network are refused at start-up.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/ini.h"
#include "lib/netmatch.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"

struct relay {
	struct netmatch	*acl;		/* addresses only; mapped kept as written */
};

static int
relay_check(const struct sockaddr *sa, void *data)
{
	const struct relay *r = data;

	return netmatch_sockaddr(r->acl, sa);
}

static void
relay_shutdown(void *data)
{
	struct relay *r = data;

	reception_set_relay(NULL, NULL);
	if (r != NULL)
		netmatch_free(r->acl);
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
	r->acl = netmatch_new(0);
	for (size_t i = 0; i < n; i++) {
		if (netmatch_add(r->acl, list[i], strlen(list[i])) != 0) {
			op_log(OP_LOG_CRIT, "relay", NULL, "config/relay_acl_allow:"
			    " '%s' is not an address or CIDR network", list[i]);
			goto done;
		}
		if (netmatch_prefix(r->acl, netmatch_count(r->acl) - 1) == 0) {
			op_log(OP_LOG_CRIT, "relay", NULL, "config/relay_acl_allow:"
			    " '%s' matches every address: an open relay; "
			    "Outpost refuses it", list[i]);
			goto done;
		}
	}
	if (acl)
		reception_set_relay(relay_check, r);
	op_log(OP_LOG_INFO, "relay", NULL, "acl=%s, %zu network%s allowed",
	    acl ? "true" : "false", netmatch_count(r->acl),
	    netmatch_count(r->acl) == 1 ? "" : "s");
	rc = 0;
done:
	flat_list_free(list);
	ini_free(ini);
	free(path);
	if (rc != 0) {
		netmatch_free(r->acl);
		free(r);
		*data = NULL;
	}
	return rc;
}

const struct op_plugin relay_plugin = {
	OUTPOST_PLUGIN_ABI, "relay", relay_init, relay_shutdown
};
