/*
 * haraka_names: Haraka plugin names Outpost knows and does not run — the
 * ones that only filter inbound mail (DNS lists, SPF, content scanners,
 * rate limits on clients). An outbound relay has no use for them, so a
 * Haraka config/plugins naming one starts with a warning instead of
 * refusing to. Any other unknown name stays an error.
 */
#ifndef OUTPOST_PLUGINS_HARAKA_NAMES_H
#define OUTPOST_PLUGINS_HARAKA_NAMES_H

/* 1 when name is a Haraka plugin that only filters inbound mail. */
int	 haraka_inbound_only(const char *name);

#endif
