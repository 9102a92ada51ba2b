/*
 * smtp/accept: what an inbound session does once the DATA reader saw the
 * end of the message — refuse it, or take it through the hooks into the
 * queue and answer (smtp/accept.c).
 */
#ifndef OUTPOST_SMTP_ACCEPT_H
#define OUTPOST_SMTP_ACCEPT_H

struct smtp_session;

/* The end of DATA: the session waits until the message is answered. */
void	 accept_data_end(struct smtp_session *);

#endif
