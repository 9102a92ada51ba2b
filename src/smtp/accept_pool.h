/*
 * smtp/accept_pool: the source-IP pool a received message asks for by
 * header (config/pools.ini's header=, core/vmta.h), read and removed
 * before the message is queued (smtp/accept_pool.c).
 */
#ifndef OUTPOST_SMTP_ACCEPT_POOL_H
#define OUTPOST_SMTP_ACCEPT_POOL_H

struct smtp_session;

/* Every occurrence of the pool header leaves the message; the first one
 * naming a known pool becomes the entries' note pool=NAME (an unknown
 * name is logged, and delivery picks the pool by the sender). */
void	 accept_pool_header(struct smtp_session *);

#endif
