/*
 * correlate (private to feedback/): one spooled feedback mail, read, into
 * the OP_HOOK_FEEDBACK events it gives, or the reason to quarantine it.
 * Pure; runs on the worker thread.
 */
#ifndef OUTPOST_FEEDBACK_CORRELATE_H
#define OUTPOST_FEEDBACK_CORRELATE_H

#include <stddef.h>

#include <outpost/plugin.h>

struct fb_envelope;
struct fb_report;
struct bouncecat;

struct fb_keys {
	const char		*prefix;	/* VERP local-part prefix */
	const unsigned char	*key;
	size_t			 keylen;
	const struct bouncecat	*bc;
};

/* One event; the strings of pub are owned by strs. */
struct fb_event {
	struct op_feedback	 pub;
	char			*strs[16];
	size_t			 nstrs;
};

struct fb_outcome {
	struct fb_event		*ev;
	size_t			 nev;
	char			*quarantine;	/* why, when quarantined */
	char			*note;		/* why no record, else */
};

/* digest: a stable name of the spool file (its SHA-256, hex). */
void	 correlate(const struct fb_envelope *, const struct fb_report *,
	    const struct fb_keys *, const char *digest,
	    struct fb_outcome *out);
void	 fb_outcome_free(struct fb_outcome *);

#endif
