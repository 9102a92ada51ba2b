/*
 * builtin: the table of plugins compiled into Outpost, by config/plugins
 * name (and the alternative spelling Haraka users may have).
 */
#include <stddef.h>

#include "plugins/plugin.h"
#include "builtins/builtin.h"

const struct builtin_plugin builtin_plugins[] = {
	{ "relay", NULL, &relay_plugin },
	{ "auth/flat_file", "auth_flat_file", &auth_flat_file_plugin },
	{ "tls", NULL, &tls_plugin },
	{ "queue/smtp_forward", "smtp_forward", &smtp_forward_plugin },
	{ "mail_from.is_resolvable", NULL, &mail_from_is_resolvable_plugin },
	{ "rcpt_to.in_host_list", NULL, &rcpt_to_in_host_list_plugin },
	{ "outbound_logger", "outbound-logger", &outbound_logger_plugin },
	{ "accounting_files", "accounting-files", &accounting_files_plugin },
	{ "dkim", "dkim_sign", &dkim_plugin },
	{ "amqp_events", "amqp-events", &amqp_events_plugin },
	{ NULL, NULL, NULL }
};
