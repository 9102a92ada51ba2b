/* builtin: the plugins compiled into Outpost (table in builtin.c). */
#ifndef OUTPOST_BUILTIN_H
#define OUTPOST_BUILTIN_H

#include "outpost/plugin.h"

extern const struct op_plugin relay_plugin;
extern const struct op_plugin auth_flat_file_plugin;
extern const struct op_plugin tls_plugin;
extern const struct op_plugin smtp_forward_plugin;
extern const struct op_plugin outbound_logger_plugin;
extern const struct op_plugin accounting_files_plugin;

#endif
