/*
 * smtputf8: what a transaction needs of the server (RFC 6531). A message
 * queued with SMTPUTF8 asks for it on MAIL FROM when the server offers
 * it. To a server that does not, it goes with its envelope in ASCII when
 * that loses nothing: every local part ASCII, every domain convertible
 * to A-labels, and a header section scanned all ASCII at enqueue
 * (QE_ASCII_HEADERS). Otherwise it needs SMTPUTF8, and such a server gets
 * none of it (MTA_NO_SMTPUTF8: 550 5.6.7). A message queued without
 * SMTPUTF8 goes as it always did (8-bit headers there are legacy 8-bit
 * mail, not a claim to SMTPUTF8).
 */
#ifndef OUTPOST_SMTPUTF8_H
#define OUTPOST_SMTPUTF8_H

#include <stddef.h>

#include "delivery/mta_session.h"

/* The ASCII envelope; it owns its strings. */
struct smtputf8_env {
	char		*from;
	char		**rcpts;
	size_t		 n;
};

/*
 * Sets msg->smtputf8, msg->ascii_from and msg->ascii_rcpts from the
 * entry's flags (QE_*) and the transaction's envelope (msg->mail_from,
 * msg->rcpts, msg->nrcpts, set before). The ASCII forms live in env
 * until smtputf8_env_free (mta_session_send copies them). Returns 1 when
 * the message needs SMTPUTF8 (no ASCII form), else 0.
 */
int	 smtputf8_envelope(unsigned qflags, struct mta_msg *msg,
	    struct smtputf8_env *env);
void	 smtputf8_env_free(struct smtputf8_env *);

#endif
