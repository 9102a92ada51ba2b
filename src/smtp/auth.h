/*
 * smtp/auth: AUTH (RFC 4954) in an inbound session — what is offered, the
 * AUTH command and the lines of the SASL exchange (smtp/auth.c).
 */
#ifndef OUTPOST_SMTP_AUTH_H
#define OUTPOST_SMTP_AUTH_H

#include "lib/buf.h"

struct smtp_session;

/* Whether any of the methods (AUTH_*) is offered now. */
int	 auth_offered(const struct smtp_session *, unsigned method);
void	 auth_command(struct smtp_session *, struct slice arg);
/* One client line during the SASL exchange. */
void	 auth_response(struct smtp_session *, struct slice line);
/* Leaves the exchange (back to S_IDLE). */
void	 auth_abort(struct smtp_session *);

#endif
