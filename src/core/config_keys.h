/*
 * config_keys: which keys of the Haraka files Outpost reads (smtp.ini,
 * connection.ini, outbound.ini, net-utils.ini, smtp_forward.ini,
 * tls.ini) it honours, which Haraka keys it knows and ignores, and the
 * start-up warnings for the rest — one per key, naming file and key.
 */
#ifndef OUTPOST_CONFIG_KEYS_H
#define OUTPOST_CONFIG_KEYS_H

enum key_use {
	KEY_UNKNOWN = 0,	/* neither Haraka's nor Outpost's */
	KEY_USED,		/* honoured */
	KEY_IGNORED		/* a Haraka key Outpost does not use */
};

/* What Outpost does with [sect] key of file (a name like "tls.ini");
 * *why (may be NULL) gets the reason an ignored key is ignored. A
 * `key[]` array key is looked up as `key`. */
enum key_use	 config_key_use(const char *file, const char *sect,
		    const char *key, const char **why);

/* Logs one WARN per key of config_dir's files that Outpost does not
 * use; returns how many. */
unsigned	 config_warn_keys(const char *config_dir);

/* Refuses a bad value of a boolean key of those files (anything but
 * Haraka's spellings, ini_is_truth/ini_is_falsity): 0, or -1 with *err
 * (malloc'd) "config/<file>:<line>: [sect] key: expected a boolean ...".
 * A bare key (no '=') stays false, as in Haraka. */
int		 config_check_values(const char *config_dir, char **err);

#endif
