/*
 * smtp_forward: Haraka's queue/smtp_forward, as the get_mx hook. A domain
 * with a section of its own (the recipient domain, or the sender's with
 * domain_selector=mail_from) goes to that section's host, as Haraka's
 * get_mx does; other mail goes to [main]'s host when it came from a
 * client that does not relay (the note inbound=1: Haraka's queue hook
 * forwards such mail) or when enable_outbound is true (Haraka 3.3's
 * default: false, so relayed mail goes by DNS). Keys: host, port,
 * auth_user/auth_pass/auth_type, bind, bind_helo, using_lmtp (LHLO, port
 * 24 by default; Outpost's older `lmtp` too). A mail's `next_hop` note
 * (an MX string) wins.
 *
 * What Haraka's queue_forward (smtp_client) does with the forwarded mail,
 * the route carries to delivery (delivery/route.h): enable_tls (STARTTLS
 * when offered; false by default, as Haraka's; a domain section's route
 * for relayed mail, Haraka's get_mx path, keeps outbound.ini's unless it
 * sets it, and so does a route with auth_user: no credentials in clear by
 * default), the certificate then verified against the host name (Node's
 * default, which Haraka leaves; [tls] rejectUnauthorized=false does not),
 * [tls] no_tls_hosts (hosts, IPs or CIDRs never sent STARTTLS),
 * connect_timeout (seconds), max_connections (connections to the host at
 * once: one shaping budget "forward:HOST:PORT") and one_message_per_rcpt
 * (a transaction per recipient).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "delivery/mx.h"
#include "delivery/route.h"
#include "lib/ini.h"
#include "lib/netmatch.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"

#define NAME	"queue/smtp_forward"

#define TIMEOUT_MAX	3600		/* connect_timeout, s */
#define CONN_MAX	100000		/* max_connections */

struct fwd {
	struct ini	*ini;
	int		 by_sender;	/* domain_selector=mail_from */
	struct netmatch	*no_tls;	/* [tls] no_tls_hosts, or NULL */
};

/* A key of the domain's section, else of [main]. */
static const char *
get(const struct fwd *f, const char *sect, const char *key)
{
	const char *v = sect != NULL ? ini_get(f->ini, sect, key) : NULL;

	return v != NULL ? v : ini_get(f->ini, "main", key);
}

static int
get_bool(const struct fwd *f, const char *sect, const char *key, int def)
{
	if (sect != NULL && ini_has(f->ini, sect, key))
		return ini_bool(f->ini, sect, key, def);
	return ini_bool(f->ini, "main", key, def);
}

/* using_lmtp (Haraka's), or Outpost's older `lmtp`: the section's own
 * setting of either wins over [main]'s. */
static int
using_lmtp(const struct fwd *f, const char *sect)
{
	const char *s[2] = { sect, "main" };

	for (size_t i = 0; i < 2; i++) {
		if (s[i] == NULL)
			continue;
		if (ini_has(f->ini, s[i], "using_lmtp"))
			return ini_bool(f->ini, s[i], "using_lmtp", 0);
		if (ini_has(f->ini, s[i], "lmtp"))
			return ini_bool(f->ini, s[i], "lmtp", 0);
	}
	return 0;
}

/* The section for a domain: its name matched case-insensitively. */
static const char *
section_for(const struct fwd *f, const char *domain)
{
	for (size_t i = 0; i < ini_nsections(f->ini); i++) {
		const char *s = ini_section_name(f->ini, i);

		if (strcmp(s, "main") != 0 && strcmp(s, "tls") != 0 &&
		    strcasecmp(s, domain) == 0)
			return s;
	}
	return NULL;
}

/* Haraka's is_outbound_enabled: the section's enable_outbound, else
 * [main]'s. */
static int
outbound_enabled(const struct fwd *f, const char *sect)
{
	return get_bool(f, sect, "enable_outbound", 0);
}

static unsigned
get_uint(const struct fwd *f, const char *sect, const char *key)
{
	const char *v = get(f, sect, key);

	return v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* The route's own settings; forwarded: mail Haraka's queue hook would
 * forward (TLS then as its smtp_client: enable_tls, verified). */
static void
own_settings(const struct fwd *f, const char *sect, const char *host,
    int forwarded, struct mx *own)
{
	int tls_set = (sect != NULL && ini_has(f->ini, sect, "enable_tls")) ||
	    ini_has(f->ini, "main", "enable_tls");
	int tls = get_bool(f, sect, "enable_tls", 0);

	memset(own, 0, sizeof(*own));
	/* Credentials never go out in clear by default: with auth_user and
	 * no enable_tls, outbound.ini's STARTTLS stays. */
	if (tls_set || (forwarded && get(f, sect, "auth_user") == NULL))
		own->tls = tls ? MX_TLS_ON : MX_TLS_OFF;
	if (own->tls == MX_TLS_ON && f->no_tls != NULL &&
	    (netmatch_ip(f->no_tls, host) || netmatch_name(f->no_tls, host)))
		own->tls = MX_TLS_OFF;
	if (ini_has(f->ini, "tls", "rejectUnauthorized"))
		own->tls_verify = ini_bool(f->ini, "tls", "rejectUnauthorized",
		    1) ? MX_TLS_ON : MX_TLS_OFF;
	else if (own->tls == MX_TLS_ON)
		own->tls_verify = MX_TLS_ON;
	own->connect_timeout = get_uint(f, sect, "connect_timeout");
	own->max_connections = get_uint(f, sect, "max_connections");
	own->one_per_rcpt = get_bool(f, sect, "one_message_per_rcpt", 0);
}

static void
fwd_get_mx(struct op_call *c, void *data)
{
	const struct fwd *f = data;
	const struct op_outbound *o = op_call_outbound(c);
	const char *domain = o->domain, *sect, *host, *port, *at;
	struct op_mx mx;
	struct mx own;
	int inbound = 0;

	if (o->size >= offsetof(struct op_outbound, notes) + sizeof(o->notes)
	    && o->notes != NULL)
		for (size_t i = 0; o->notes[i] && o->notes[i + 1]; i += 2) {
			if (strcmp(o->notes[i], "next_hop") == 0) {
				op_next(c, OP_OK, o->notes[i + 1]);
				return;
			}
			if (strcmp(o->notes[i], "inbound") == 0)
				inbound = 1;
		}
	if (f->by_sender && (at = strrchr(o->mail_from, '@')) != NULL)
		domain = at + 1;
	sect = section_for(f, domain);
	if ((sect == NULL && !inbound &&
	    !get_bool(f, NULL, "enable_outbound", 0)) ||
	    (host = get(f, sect, "host")) == NULL || *host == '\0') {
		op_next(c, OP_CONT, NULL);
		return;
	}
	memset(&mx, 0, sizeof(mx));
	mx.exchange = host;
	port = get(f, sect, "port");
	mx.port = port != NULL ? (unsigned)strtoul(port, NULL, 10) : 25;
	mx.bind = get(f, sect, "bind");
	mx.bind_helo = get(f, sect, "bind_helo");
	mx.using_lmtp = using_lmtp(f, sect);
	if (mx.using_lmtp && port == NULL)
		mx.port = 24;
	mx.auth_user = get(f, sect, "auth_user");
	mx.auth_pass = get(f, sect, "auth_pass");
	mx.auth_type = get(f, sect, "auth_type");
	mx.route = sect != NULL ? sect : "main";
	own_settings(f, sect, host, inbound || outbound_enabled(f, sect), &own);
	route_next_mx_own(c, &mx, 1, &own);
}

static void
fwd_shutdown(void *data)
{
	struct fwd *f = data;

	if (f != NULL) {
		ini_free(f->ini);
		netmatch_free(f->no_tls);
	}
	free(f);
}

/* A port: 1-65535. */
static int
valid_port(const char *v)
{
	char *end;
	unsigned long p;

	if (v == NULL)
		return 1;
	p = strtoul(v, &end, 10);
	return *v != '\0' && *end == '\0' && p >= 1 && p <= 65535;
}

/* A whole number from min to max (absent or empty: unset). */
static int
valid_uint(const char *v, unsigned long min, unsigned long max)
{
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return 1;
	if (*v < '0' || *v > '9')
		return 0;
	n = strtoul(v, &end, 10);
	return *end == '\0' && n >= min && n <= max;
}

/* [tls] no_tls_hosts: 0, or -1 (logged). */
static int
load_no_tls(struct fwd *f)
{
	const char *v = ini_get(f->ini, "tls", "no_tls_hosts");
	char *copy, *item, *save = NULL;
	enum netmatch_error e = NETMATCH_OK;

	if (v == NULL || *v == '\0')
		return 0;
	f->no_tls = netmatch_new(NETMATCH_NAMES);
	copy = xstrdup(v);
	for (item = strtok_r(copy, ", \t", &save); item != NULL &&
	    e == NETMATCH_OK; item = strtok_r(NULL, ", \t", &save))
		if ((e = netmatch_add(f->no_tls, item, strlen(item))) !=
		    NETMATCH_OK)
			op_log(OP_LOG_CRIT, NAME, NULL, "config/smtp_forward.ini:"
			    "%u: [tls] no_tls_hosts: '%s': %s",
			    ini_line(f->ini, "tls", "no_tls_hosts"), item,
			    netmatch_strerror(e));
	free(copy);
	return e == NETMATCH_OK ? 0 : -1;
}

/* connect_timeout, max_connections of section s: 0, or -1 (logged). */
static int
check_numbers(const struct fwd *f, const char *s)
{
	static const struct {
		const char	*key, *what;
		unsigned long	 max;
	} k[] = {
		{ "connect_timeout", "seconds", TIMEOUT_MAX },
		{ "max_connections", "connections", CONN_MAX },
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!valid_uint(ini_get(f->ini, s, k[i].key), 1, k[i].max)) {
			op_log(OP_LOG_CRIT, NAME, NULL, "config/smtp_forward.ini:"
			    "%u: [%s] %s: expected %s from 1 to %lu, got '%s'",
			    ini_line(f->ini, s, k[i].key), s, k[i].key,
			    k[i].what, k[i].max, ini_get(f->ini, s, k[i].key));
			return -1;
		}
	return 0;
}

/* Every section's numbers and port, and [tls]: 0, or -1 (logged). */
static int
check_ini(struct fwd *f)
{
	for (size_t i = 0; i < ini_nsections(f->ini); i++) {
		const char *s = ini_section_name(f->ini, i);

		if (check_numbers(f, s) != 0)
			return -1;
		if (!valid_port(ini_get(f->ini, s, "port"))) {
			op_log(OP_LOG_CRIT, NAME, NULL, "config/smtp_forward.ini:"
			    "%u: [%s] port: '%s' is not a port (1-65535)",
			    ini_line(f->ini, s, "port"), s,
			    ini_get(f->ini, s, "port"));
			return -1;
		}
		if ((ini_get(f->ini, s, "auth_user") != NULL) !=
		    (ini_get(f->ini, s, "auth_pass") != NULL) &&
		    strcmp(s, "main") != 0 && ini_get(f->ini, "main",
		    "auth_user") == NULL) {
			op_log(OP_LOG_WARN, NAME, NULL, "config/smtp_forward.ini:"
			    " [%s] has only one of auth_user and auth_pass; "
			    "AUTH needs both", s);
		}
	}
	return load_no_tls(f);
}

static int
fwd_init(struct op_env *env, void **data)
{
	char *path = xasprintf("%s/smtp_forward.ini", op_config_dir(env));
	struct fwd *f = xcalloc(1, sizeof(*f));
	const char *sel;
	int exists;

	*data = NULL;
	f->ini = ini_load(path, "smtp_forward.ini", &exists, NULL, NULL);
	free(path);
	if (f->ini == NULL)
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read "
		    "config/smtp_forward.ini");
	if (f->ini == NULL || check_ini(f) != 0) {
		fwd_shutdown(f);	/* not called for a failed init */
		return -1;
	}
	sel = ini_get(f->ini, "main", "domain_selector");
	f->by_sender = sel != NULL && strcmp(sel, "mail_from") == 0;
	if (op_register_hook(env, OP_HOOK_GET_MX, fwd_get_mx, 0) != 0) {
		fwd_shutdown(f);
		return -1;
	}
	*data = f;
	op_log(OP_LOG_INFO, NAME, NULL, "mail from clients that do not relay "
	    "%s %s; relayed mail %s", get(f, NULL, "host") ? "goes to" :
	    "goes by DNS:", get(f, NULL, "host") ? get(f, NULL, "host") :
	    "no [main] host", get_bool(f, NULL, "enable_outbound", 0) ?
	    "too (enable_outbound=true)" : "by DNS (enable_outbound=false)");
	return 0;
}

const struct op_plugin smtp_forward_plugin = {
	OUTPOST_PLUGIN_ABI, NAME, fwd_init, fwd_shutdown
};
