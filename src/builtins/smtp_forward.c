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
 * (an MX string) wins. Written against the public plugin ABI only.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/ini.h"
#include "lib/xmalloc.h"
#include "outpost/plugin.h"
#include "builtins/builtin.h"

#define NAME	"queue/smtp_forward"

struct fwd {
	struct ini	*ini;
	int		 by_sender;	/* domain_selector=mail_from */
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

		if (strcmp(s, "main") != 0 && strcasecmp(s, domain) == 0)
			return s;
	}
	return NULL;
}

static void
fwd_get_mx(struct op_call *c, void *data)
{
	const struct fwd *f = data;
	const struct op_outbound *o = op_call_outbound(c);
	const char *domain = o->domain, *sect, *host, *port, *at;
	struct op_mx mx;
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
	op_next_mx(c, &mx, 1);
}

static void
fwd_shutdown(void *data)
{
	struct fwd *f = data;

	if (f != NULL)
		ini_free(f->ini);
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

static int
fwd_init(struct op_env *env, void **data)
{
	char *path = xasprintf("%s/smtp_forward.ini", op_config_dir(env));
	struct fwd *f = xcalloc(1, sizeof(*f));
	const char *sel;
	int exists;

	*data = f;
	f->ini = ini_load(path, "smtp_forward.ini", &exists, NULL, NULL);
	free(path);
	if (f->ini == NULL) {
		op_log(OP_LOG_CRIT, NAME, NULL, "cannot read "
		    "config/smtp_forward.ini");
		return -1;
	}
	for (size_t i = 0; i < ini_nsections(f->ini); i++) {
		const char *s = ini_section_name(f->ini, i);

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
	sel = ini_get(f->ini, "main", "domain_selector");
	f->by_sender = sel != NULL && strcmp(sel, "mail_from") == 0;
	if (op_register_hook(env, OP_HOOK_GET_MX, fwd_get_mx, 0) != 0)
		return -1;
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
