/*
 * dkim_choose: a test plugin on pre_send_trans_email that picks the DKIM
 * key of a message: "X-Sign-As: <domain> [selector]" in the message sets
 * the notes dkim_domain (and dkim_selector) with op_txn_set_note.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "outpost/plugin.h"

static void
on_pre_send(struct op_call *call, void *data)
{
	const struct op_txn *t = op_call_txn(call);
	unsigned long len;
	const char *msg = op_txn_message(t, &len), *p = msg, *end = msg + len;
	char dom[256], sel[64];

	(void)data;
	while (p < end && *p != '\r') {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			break;
		if (strncasecmp(p, "X-Sign-As:", 10) == 0) {
			int n = sscanf(p + 10, " %255s %63s", dom, sel);

			if (n >= 1)
				op_txn_set_note(call, "dkim_domain", dom);
			if (n == 2 && strchr(sel, '\r') == NULL)
				op_txn_set_note(call, "dkim_selector", sel);
			break;
		}
		p = eol + 1;
	}
	op_next(call, OP_CONT, NULL);
}

static int
choose_init(struct op_env *env, void **data)
{
	*data = NULL;
	return op_register_hook(env, OP_HOOK_PRE_SEND_TRANS_EMAIL, on_pre_send,
	    0);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, "dkim_choose", choose_init, NULL
};
