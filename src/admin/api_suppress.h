/*
 * api_suppress: the suppression list's endpoints (README, "Suppression
 * list"), over the running list (core/suppress_writer.h):
 *   GET    /api/suppressions?address=&domain=&scope=&source=&expired=1
 *          &limit=&offset=   {"total","offset","limit","suppressions":[..]}
 *   POST   /api/suppressions {"address", "scope", "reason", "expires"}
 *          201 once the entry is on disk
 *   DELETE /api/suppressions/<address>[?scope=]  {"removed": n}, 404 none
 * 503 while the list is off; 400 on bad input. Changes are logged.
 */
#ifndef OUTPOST_ADMIN_API_SUPPRESS_H
#define OUTPOST_ADMIN_API_SUPPRESS_H

struct admin;
struct api_suppress;

struct api_suppress *api_suppress_register(struct admin *);
/* After admin_free(): writes still queued answer no request. */
void		 api_suppress_stop(struct api_suppress *);

#endif
