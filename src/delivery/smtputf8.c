/*
 * smtputf8: the SMTPUTF8 need of a transaction and its ASCII envelope
 * (A-label domains) for servers that do not offer the extension.
 */
#include "delivery/smtputf8.h"

#include <stdlib.h>
#include <string.h>

#include "lib/idn.h"
#include "lib/xmalloc.h"
#include "queue/entry.h"

void
smtputf8_env_free(struct smtputf8_env *env)
{
	if (env->rcpts != NULL)
		for (size_t i = 0; i < env->n; i++)
			free(env->rcpts[i]);
	free(env->rcpts);
	free(env->from);
	memset(env, 0, sizeof(*env));
}

int
smtputf8_envelope(unsigned qflags, struct mta_msg *msg,
    struct smtputf8_env *env)
{
	memset(env, 0, sizeof(*env));
	msg->ascii_from = NULL;
	msg->ascii_rcpts = NULL;
	msg->smtputf8 = (qflags & QE_SMTPUTF8) != 0;
	if (!msg->smtputf8)
		return 0;
	if (!(qflags & QE_ASCII_HEADERS))
		return 1;		/* UTF-8 headers, or not scanned */
	if (idn_addr_ascii(msg->mail_from != NULL ? msg->mail_from : "",
	    &env->from) != 0)
		return 1;
	env->rcpts = xcalloc(msg->nrcpts ? msg->nrcpts : 1,
	    sizeof(*env->rcpts));
	for (env->n = 0; env->n < msg->nrcpts; env->n++)
		if (idn_addr_ascii(msg->rcpts[env->n],
		    &env->rcpts[env->n]) != 0) {
			smtputf8_env_free(env);
			return 1;
		}
	msg->ascii_from = env->from;
	msg->ascii_rcpts = (const char **)env->rcpts;
	return 0;
}
