/* tx_util.h: a submission (queue/submit.h) built by the unit tests. */
#ifndef OUTPOST_TX_UTIL_H
#define OUTPOST_TX_UTIL_H

#include <stdio.h>
#include <string.h>

#include "proto/smtp_parse.h"
#include "queue/submit.h"

/* A transaction from sender@client.test. */
static inline struct smtp_tx *
new_tx(void)
{
	struct smtp_addr from;

	memset(&from, 0, sizeof(from));
	strcpy(from.local, "sender");
	strcpy(from.domain, "client.test");
	return tx_new("CONN", 1, &from, 0);
}

static inline void
add_rcpt(struct smtp_tx *tx, const char *local, const char *domain)
{
	struct smtp_addr a;

	memset(&a, 0, sizeof(a));
	snprintf(a.local, sizeof(a.local), "%s", local);
	snprintf(a.domain, sizeof(a.domain), "%s", domain);
	tx_add_rcpt(tx, &a);
}

#endif
