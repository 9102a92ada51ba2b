/*
 * smtp/commands: one command line of an inbound session, checked against
 * the command table and run (smtp/commands.c).
 */
#ifndef OUTPOST_SMTP_COMMANDS_H
#define OUTPOST_SMTP_COMMANDS_H

#include "lib/buf.h"

struct smtp_session;

/* Parses the line, checks what its command needs, and runs it. */
void	 commands_dispatch(struct smtp_session *, struct slice line);

#endif
