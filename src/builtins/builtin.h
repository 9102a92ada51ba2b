/* builtin: the plugins compiled into Outpost (table in builtin.c). */
#ifndef OUTPOST_BUILTIN_H
#define OUTPOST_BUILTIN_H

#include "outpost/plugin.h"
#include "plugins/plugin.h"	/* struct builtin_plugin */
#include "records/record.h"	/* outbound_logger, accounting_files */

extern const struct op_plugin relay_plugin;
extern const struct op_plugin auth_flat_file_plugin;
extern const struct op_plugin tls_plugin;
extern const struct op_plugin smtp_forward_plugin;
extern const struct op_plugin mail_from_is_resolvable_plugin;
extern const struct op_plugin rcpt_to_in_host_list_plugin;
extern const struct op_plugin dkim_plugin;
extern const struct op_plugin amqp_events_plugin;
/* dkim.ini and config/dkim/ again (SIGHUP, a change): 0, or -1 (logged;
 * the running keys kept). Nothing when the plugin is not listed. */
int dkim_plugin_reload(void);
/* outpost -c ROOT --dkim-keygen DOMAIN SELECTOR (args, nargs) [--type
 * rsa|ed25519] [--bits N]: writes the key, prints the TXT record; the
 * exit status. */
int dkim_keygen_command(const char *root, char **args, int nargs,
    const char *type, const char *bits);

/* Every built-in, by config/plugins name: the table main hands to
 * plugins_load(). NULL-terminated. */
extern const struct builtin_plugin builtin_plugins[];

#endif
