/*
 * smtp: outpost-sendmail's SMTP client: one blocking connection to the
 * local daemon, a command and its (multi-line) reply at a time, each
 * read and write bounded by a timeout. A command-line tool, so no event
 * loop: it waits for the daemon and nothing else.
 */
#ifndef OUTPOST_SENDMAIL_SMTP_H
#define OUTPOST_SENDMAIL_SMTP_H

#include <stddef.h>

#include "lib/buf.h"

struct smtp {
	int		 fd;
	int		 verbose;	/* -v: the dialogue on stderr */
	char		 in[4096];
	size_t		 inlen, inoff;
	struct buf	 text;		/* the last reply, lines joined by ' ' */
	struct buf	 ehlo;		/* the EHLO reply's lines, '\n' each */
};

/* Connects to host:port (numeric or a name in /etc/hosts), every
 * socket operation bounded by timeout seconds. 0, or -1 with *err. */
int	 smtp_connect(struct smtp *, const char *host, const char *port,
	    int timeout, char **err);
/* The next reply's code (text in s->text), or -1 when the connection
 * failed, timed out or the reply is not SMTP (s->text says why). */
int	 smtp_reply(struct smtp *);
/* Sends a command line (CRLF added) and returns its reply's code. */
int	 smtp_cmd(struct smtp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Sends bytes as they are; 0, or -1 (s->text says why). */
int	 smtp_send(struct smtp *, const char *, size_t);
/* 1 when the EHLO reply announced keyword (case-insensitive). */
int	 smtp_has(const struct smtp *, const char *keyword);
void	 smtp_close(struct smtp *);

#endif
