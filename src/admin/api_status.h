/*
 * api_status: GET /api/status -> {"name","version","pid","started",
 * "uptime_s"}. Returns its state, to be freed after admin_free().
 */
#ifndef OUTPOST_API_STATUS_H
#define OUTPOST_API_STATUS_H

#include <time.h>

struct admin;

void	*api_status_register(struct admin *, time_t started);

#endif
