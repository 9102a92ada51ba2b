/*
 * smtp/accept_pool: the pool header of a received message (pools.ini
 * header=, X-Outpost-Pool by default) taken out of it before queueing,
 * its pool kept as the note pool=NAME that delivery reads. Uses the
 * session's generation of pools.ini (a reference it holds).
 */
#include "smtp/accept_pool.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/vmta.h"
#include "lib/buf.h"
#include "queue/submit.h"
#include "smtp/conn.h"

void
accept_pool_header(struct smtp_session *s)
{
	const char *hdr = vmta_header(s->vmta), *pool;
	struct buf v = BUF_INIT;

	if (hdr == NULL || !tx_take_header(s->tx, hdr, &v))
		return;
	while (tx_take_header(s->tx, hdr, NULL))
		;			/* none may reach the recipient */
	if ((pool = vmta_find(s->vmta, buf_cstr(&v))) != NULL) {
		tx_add_note(s->tx, "pool", pool);
		log_info("core", s->uuid, "%s: pool %s (%s header)",
		    tx_uuid(s->tx), pool, hdr);
	} else
		log_warn("core", s->uuid, "%s: %s names no pool ('%s'): "
		    "removed; the sender's pool applies", tx_uuid(s->tx), hdr,
		    buf_cstr(&v));
	buf_free(&v);
}
