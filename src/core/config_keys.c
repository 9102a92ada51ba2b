/*
 * config_keys: the key tables of the Haraka files Outpost reads, and the
 * start-up pass that warns once per key it does not use. A row is
 * {section, key, use, why}: section "*" stands for any section not named
 * in the file's table (smtp_forward.ini's domain sections), key "*" for
 * any key of the section (tls.ini's host-list sections). Keys of the
 * files are Haraka's (its docs/CoreConfig.md, outbound/config.js,
 * plugins/queue/smtp_forward.js, tls_socket.js) plus Outpost's own.
 */
#include "core/config_keys.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "lib/ini.h"
#include "lib/xmalloc.h"

struct key_rule {
	const char	*sect, *key;
	enum key_use	 use;
	const char	*why;		/* KEY_IGNORED */
	int		 boolean;	/* KEY_USED: a Haraka boolean */
};

#define U(s, k)		{ s, k, KEY_USED, NULL, 0 }
#define B(s, k)		{ s, k, KEY_USED, NULL, 1 }
#define I(s, k, w)	{ s, k, KEY_IGNORED, w, 0 }

#define INBOUND		"it concerns inbound filtering, which Outpost does not do"
#define NO_SPOOL	"messages are kept in memory up to [max] bytes"

static const struct key_rule smtp_ini[] = {
	U("main", "listen"), U("main", "inactivity_timeout"),
	U("main", "inactivity_time"), U("main", "force_shutdown_timeout"),
	U("main", "user"), U("main", "group"), U("main", "pid_file"),
	U("main", "nodes"), U("main", "worker_timeout"),
	I("main", "listen_host", "use listen"),
	I("main", "port", "use listen"),
	I("main", "smtps_port", "Outpost has no implicit-TLS listener"),
	I("main", "public_ip", "local MX detection uses the host's addresses"),
	I("main", "ignore_bad_plugins", "a plugin that fails stops start-up"),
	I("main", "daemonize", "run outpost under a service manager"),
	I("main", "daemon_log_file", "outpost logs to standard output"),
	I("main", "daemon_pid_file", "run outpost under a service manager"),
	I("main", "graceful_shutdown", "in-flight work is always finished, "
	    "within force_shutdown_timeout"),
	I("main", "spool_dir", NO_SPOOL), I("main", "spool_after", NO_SPOOL),
	I("main", "strict_rfc1869", "envelope syntax is always RFC 5321's"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

static const struct key_rule connection_ini[] = {
	B("main", "smtputf8"),
	U("max", "bytes"), U("max", "line_length"),
	U("max", "data_line_length"), U("max", "recipients"),
	U("max", "unrecognized_commands"), U("max", "connections"),
	U("max", "connections_per_ip"), U("max", "auth_failures"),
	U("auth", "failure_delay"), U("auth", "max_failures_per_ip"),
	U("auth", "failure_window"), U("auth", "lockout"),
	I("main", "spool_dir", NO_SPOOL), I("main", "spool_after", NO_SPOOL),
	I("main", "strict_rfc1869", "envelope syntax is always RFC 5321's"),
	I("main", "postel", "envelope syntax is always RFC 5321's"),
	I("haproxy", "enabled", "Outpost does not speak the PROXY protocol"),
	I("haproxy", "hosts", "Outpost does not speak the PROXY protocol"),
	I("headers", "add_received", "the trace header is always added"),
	I("headers", "clean_auth_results", INBOUND),
	I("headers", "show_version", "replies do not name a version"),
	I("headers", "max_lines", INBOUND),
	I("headers", "max_received", INBOUND),
	I("max", "mime_parts", "Outpost does not parse MIME at reception"),
	I("message", "greeting", "the greeting is Outpost's"),
	I("message", "helo", "the EHLO reply is Outpost's"),
	I("message", "close", "the QUIT reply is Outpost's"),
	I("uuid", "banner_chars", "replies carry no connection id"),
	I("uuid", "deny_chars", "replies carry no connection id"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

static const struct key_rule outbound_ini[] = {
	B("main", "disabled"), U("main", "concurrency_max"),
	B("main", "enable_tls"), U("main", "maxTempFailures"),
	U("main", "temp_fail_intervals"), B("main", "always_split"),
	U("main", "received_header"), U("main", "connect_timeout"),
	B("main", "local_mx_ok"), U("main", "inet_prefer"),
	U("main", "timeout_greeting"), U("main", "timeout_ehlo"),
	U("main", "timeout_starttls"), U("main", "timeout_auth"),
	U("main", "timeout_rset"), U("main", "timeout_mail"),
	U("main", "timeout_rcpt"), U("main", "timeout_data"),
	U("main", "timeout_data_block"), U("main", "timeout_dot"),
	U("main", "timeout_quit"), U("main", "queue_min_free"),
	U("main", "queue_min_free_inodes"), U("main", "records_min_free"),
	U("main", "records_min_free_inodes"), U("main", "delivery_memory_max"),
	U("main", "records_backlog_max"),
	I("main", "load_pid_queue", "Haraka reads it nowhere either"),
	I("main", "flush_queue", "Haraka reads it nowhere either"),
	I("main", "pool_concurrency_max", "connections are pooled per "
	    "destination (shaping.ini limits them)"),
	I("main", "pool_timeout", "idle connections are kept 5 s"),
	I("main", "ipv6_enabled", "use inet_prefer"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

static const struct key_rule net_utils_ini[] = {
	U("dns", "timeout"), U("dns", "tries"), U("dns", "servers"),
	I("main", "public_ip", "local MX detection uses the host's addresses"),
	I("main", "stun_server", "local MX detection uses the host's "
	    "addresses"),
	I("main", "stun_port", "local MX detection uses the host's addresses"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

#define FWD(s) \
	U(s, "host"), U(s, "port"), U(s, "auth_user"), U(s, "auth_pass"), \
	U(s, "auth_type"), U(s, "bind"), U(s, "bind_helo"), \
	B(s, "using_lmtp"), B(s, "lmtp"), B(s, "enable_outbound"), \
	B(s, "enable_tls"), U(s, "max_connections"), U(s, "connect_timeout"), \
	B(s, "one_message_per_rcpt"),                                       \
	I(s, "idle_timeout", "pooled connections are kept 5 s"),           \
	I(s, "queue", "mail is queued by Outpost, then forwarded"),        \
	I(s, "forwarding_host_pool", "use host (one forward host)"),       \
	I(s, "check_sender", INBOUND), I(s, "check_recipient", INBOUND)

static const struct key_rule smtp_forward_ini[] = {
	FWD("main"), U("main", "domain_selector"),
	B("tls", "rejectUnauthorized"), U("tls", "no_tls_hosts"),
	I("tls", "*", "the forward host's TLS uses tls.ini [outbound]'s "
	    "key, cert, ca and ciphers"),
	FWD("*"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

#define TLS(s) \
	U(s, "key"), U(s, "cert"), U(s, "ciphers"), U(s, "minVersion"),    \
	B(s, "honorCipherOrder"), B(s, "rejectUnauthorized"), U(s, "ca"),  \
	U(s, "no_tls_hosts"), U(s, "force_tls_hosts"),                     \
	I(s, "dhparam", "OpenSSL's built-in groups are used"),             \
	I(s, "requestCert", "Outpost does not ask clients for a "           \
	    "certificate"),                                                 \
	I(s, "requestOCSP", "OCSP stapling is not done"),                  \
	I(s, "requireAuthorized", "Outpost does not ask clients for a "     \
	    "certificate"),                                                 \
	I(s, "mutual_tls", "use [outbound] key and cert"),                 \
	I(s, "no_starttls_ports", "STARTTLS is offered on every listener"), \
	I(s, "secureProtocol", "use minVersion"),                          \
	I(s, "servername", "the MX name is the server name")

static const struct key_rule tls_ini[] = {
	TLS("main"), TLS("outbound"),
	/* Outpost's own [outbound] policy keys. */
	B("outbound", "mta_sts"), B("outbound", "dane"),
	U("no_tls_hosts", "*"), U("force_tls_hosts", "*"),
	I("redis", "*", "TLS failures are remembered in memory, per host"),
	I("mutual_auth_hosts", "*", "use [outbound] key and cert"),
	I("mutual_auth_hosts_exclude", "*", "use [outbound] key and cert"),
	{ NULL, NULL, KEY_UNKNOWN, NULL, 0 }
};

static const struct file_keys {
	const char		*file;
	const struct key_rule	*rules;
} files[] = {
	{ "smtp.ini", smtp_ini }, { "connection.ini", connection_ini },
	{ "outbound.ini", outbound_ini }, { "net-utils.ini", net_utils_ini },
	{ "smtp_forward.ini", smtp_forward_ini }, { "tls.ini", tls_ini },
};

static int
sect_named(const struct key_rule *r, const char *sect)
{
	for (; r->sect != NULL; r++)
		if (strcmp(r->sect, sect) == 0)
			return 1;
	return 0;
}

static const struct key_rule *
find_rule(const char *file, const char *sect, const char *key, int *known)
{
	const struct key_rule *rules = NULL;
	size_t klen = strlen(key);
	int named;

	*known = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(files[i].file, file) == 0)
			rules = files[i].rules;
	if (rules == NULL)
		return NULL;	/* not a file of these tables */
	*known = 1;
	if (klen > 2 && strcmp(key + klen - 2, "[]") == 0)
		klen -= 2;
	named = sect_named(rules, sect);
	for (const struct key_rule *r = rules; r->sect != NULL; r++) {
		if (named ? strcmp(r->sect, sect) != 0 :
		    strcmp(r->sect, "*") != 0)
			continue;
		if (strcmp(r->key, "*") != 0 && (strlen(r->key) != klen ||
		    strncmp(r->key, key, klen) != 0))
			continue;
		return r;
	}
	return NULL;
}

enum key_use
config_key_use(const char *file, const char *sect, const char *key,
    const char **why)
{
	int known;
	const struct key_rule *r = find_rule(file, sect, key, &known);

	if (why != NULL)
		*why = r != NULL ? r->why : NULL;
	if (!known)
		return KEY_USED;
	return r != NULL ? r->use : KEY_UNKNOWN;
}

int
config_check_values(const char *config_dir, char **err)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *path = xasprintf("%s/%s", config_dir, files[i].file);
		int exists;
		struct ini *ini = ini_load(path, files[i].file, &exists,
		    NULL, NULL);

		free(path);
		if (ini == NULL)
			continue;	/* the file's reader reports it */
		for (size_t s = 0; s < ini_nsections(ini); s++) {
			const char *sect = ini_section_name(ini, s);

			for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
				const char *key = ini_key_name(ini, sect, k);
				const char *v = ini_get(ini, sect, key);
				int known;
				const struct key_rule *r = find_rule(
				    files[i].file, sect, key, &known);

				if (r == NULL || !r->boolean || v == NULL ||
				    ini_is_truth(v) || ini_is_falsity(v))
					continue;
				*err = xasprintf("config/%s:%u: [%s] %s: "
				    "expected a boolean (true/false, yes/no, "
				    "on/off, 1/0), got '%s'", files[i].file,
				    ini_line(ini, sect, key), sect, key, v);
				ini_free(ini);
				return -1;
			}
		}
		ini_free(ini);
	}
	return 0;
}

static void
ini_quiet(void *arg, const char *name, unsigned lineno, const char *msg)
{
	(void)arg;
	(void)name;
	(void)lineno;
	(void)msg;	/* config_load reports what the parser saw */
}

unsigned
config_warn_keys(const char *config_dir)
{
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *path = xasprintf("%s/%s", config_dir, files[i].file);
		int exists;
		struct ini *ini = ini_load(path, files[i].file, &exists,
		    ini_quiet, NULL);

		free(path);
		if (ini == NULL)
			continue;
		for (size_t s = 0; s < ini_nsections(ini); s++) {
			const char *sect = ini_section_name(ini, s);

			for (size_t k = 0; k < ini_nkeys(ini, sect); k++) {
				const char *key = ini_key_name(ini, sect, k);
				const char *why;
				enum key_use u = config_key_use(files[i].file,
				    sect, key, &why);

				if (u == KEY_USED)
					continue;
				n++;
				if (u == KEY_IGNORED)
					log_warn("core", NULL, "config/%s:%u: "
					    "[%s] %s: a Haraka setting Outpost "
					    "ignores: %s", files[i].file,
					    ini_line(ini, sect, key), sect, key,
					    why);
				else
					log_warn("core", NULL, "config/%s:%u: "
					    "[%s] %s: unknown key, ignored",
					    files[i].file, ini_line(ini, sect,
					    key), sect, key);
			}
		}
		ini_free(ini);
	}
	return n;
}
