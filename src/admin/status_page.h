/*
 * status_page: GET / (the HTML status page) and GET /api/overview (its
 * data: status, queue gauges, destinations, per-minute series of the last
 * hour, the latest deferrals and bounces).
 */
#ifndef OUTPOST_STATUS_PAGE_H
#define OUTPOST_STATUS_PAGE_H

struct admin;
struct am;
struct event_base;
struct mta;
struct status_page;

struct status_page *status_page_new(struct admin *, struct event_base *,
		    struct mta *, struct am *);
void		 status_page_free(struct status_page *);

#endif
