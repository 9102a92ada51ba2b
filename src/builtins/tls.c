/*
 * tls: Haraka's tls plugin — STARTTLS for inbound sessions, with the key
 * and certificate of tls.ini [main] (tls.c builds the context). A missing
 * or unusable key or certificate stops start-up with the reason.
 */
#include <stdlib.h>

#include <openssl/ssl.h>

#include "outpost/plugin.h"
#include "builtins/builtin.h"
#include "smtp/policy.h"
#include "core/tls.h"

static void
tls_shutdown(void *data)
{
	reception_set_tls(NULL);
	SSL_CTX_free(data);
}

static int
tls_init(struct op_env *env, void **data)
{
	char *err = NULL;
	SSL_CTX *ctx = tls_server_ctx(op_config_dir(env), &err);

	if (ctx == NULL) {
		op_log(OP_LOG_CRIT, "tls", NULL, "%s", err);
		free(err);
		return -1;
	}
	reception_set_tls(ctx);
	*data = ctx;
	return 0;
}

const struct op_plugin tls_plugin = {
	OUTPOST_PLUGIN_ABI, "tls", tls_init, tls_shutdown
};
