/*
 * api_queue: the queue in the admin API — GET /api/queue (a summary by
 * destination), GET /api/queue/entries (filters, paging by id) and
 * POST /api/queue/{hold,release,retry,delete,bounce} with {"ids": [...]}
 * or {"filter": {...}} (and "reason" for bounce), answered once every
 * action is durable (delivery/mta_admin.h).
 */
#ifndef OUTPOST_ADMIN_API_QUEUE_H
#define OUTPOST_ADMIN_API_QUEUE_H

struct admin;
struct mta;

/* The routes; what it returns is freed with free() after admin_free. */
void	*api_queue_register(struct admin *, struct mta *);

#endif
