/*
 * haraka_names: the table of Haraka plugins that only filter inbound mail
 * (Haraka's plugins/ directory, its deprecated plugins and the
 * haraka-plugin-* packages its package.json names), by config/plugins
 * name. Not listed on purpose: the ones Outpost implements (relay, tls,
 * auth/flat_file, queue/smtp_forward, mail_from.is_resolvable,
 * rcpt_to.in_host_list, dkim), and those that change where mail goes or
 * who may relay (other auth/ and queue/ plugins, qmail-deliverable,
 * aliases, rcpt_to.routes): running without them would not be the same
 * relay, so they stay unknown.
 */
#include "plugins/haraka_names.h"

#include <stddef.h>
#include <string.h>

static const char *const inbound_only[] = {
	/* connect */
	"toobusy", "karma", "access", "geoip", "asn", "fcrdns", "dns-list",
	"dnsbl", "dnswl", "backscatterer", "connect.rdns_access",
	"lookup_rdns.strict", "rdns.regexp", "block_me", "tarpit",
	"delay_deny", "early_talker", "max_unrecognized_commands",
	/* helo, mail, rcpt */
	"helo.checks", "spf", "mail_from.access", "mail_from.blocklist",
	"mail_from.nobounces", "rcpt_to.access", "rcpt_to.blocklist",
	"rcpt_to.max_count", "greylist", "known-senders",
	"prevent_credential_leaks",
	/* data */
	"attachment", "bounce", "clamd", "headers", "limit", "rspamd",
	"spamassassin", "uribl", "data.uribl", "data.headers",
	"data.signatures", "data.nomsgid", "data.noreceived",
	"data.rfc5322_header_checks", "dcc", "messagesniffer", "avg",
	"esets", "dkim_verify",
	NULL
};

int
haraka_inbound_only(const char *name)
{
	for (size_t i = 0; inbound_only[i] != NULL; i++)
		if (strcmp(inbound_only[i], name) == 0)
			return 1;
	return 0;
}
