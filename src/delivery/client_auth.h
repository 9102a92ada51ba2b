/*
 * client_auth: the client side of SASL PLAIN, LOGIN and CRAM-MD5 as pure
 * functions — which mechanisms an EHLO offers, which one to use, and the
 * lines to send. No I/O and no session: the caller sends and logs them.
 */
#ifndef OUTPOST_CLIENT_AUTH_H
#define OUTPOST_CLIENT_AUTH_H

struct buf;

/* Mechanisms, as bits; their order of preference is CRAM, PLAIN, LOGIN. */
#define CLIENT_AUTH_CRAM	0x01
#define CLIENT_AUTH_PLAIN	0x02
#define CLIENT_AUTH_LOGIN	0x04

/* The mechanisms we know among those an EHLO AUTH line lists. */
unsigned	 client_auth_offered(const char *list);

/* type (case-insensitive) when it is offered, else the first offered we
 * know; 0 when none. *missing is set when type is given but not offered. */
unsigned	 client_auth_pick(unsigned offered, const char *type,
		    int *missing);

/* The AUTH command that starts mech (PLAIN with its initial response) in
 * line; returns what the log shows instead (NULL: the line itself). */
const char	*client_auth_command(unsigned mech, const char *user,
		    const char *pass, struct buf *line);

/* The answer to the round-th 334 (from 1) of mech, whose text is the
 * base64 challenge, in line (logged as "****"); -1 when the exchange
 * cannot go on (bad challenge, too many rounds). */
int		 client_auth_answer(unsigned mech, int round,
		    const char *challenge, const char *user, const char *pass,
		    struct buf *line);

#endif
