/*
 * config_log: the logging part of a configuration generation — log.ini
 * ([main] level, timestamps, format), loglevel and log_timestamps with
 * Haraka's fallbacks (a bad level or format is logged and defaulted) —
 * and its application to the logger.
 */
#include <stdlib.h>

#include "core/config.h"
#include "lib/ini.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

/* Haraka's set_loglevel: names, LOG-prefixed names or numbers. */
static void
set_level(struct config_log *lg, const char *v)
{
	int level;

	if (v == NULL)
		return;
	level = log_level_parse(v);
	if (level < 0) {
		log_warn("core", NULL, "invalid loglevel: %s defaulting to "
		    "LOGWARN", v);
		level = LOG_WARN;
	}
	lg->level = level;
}

static void
apply_log_ini(const char *dir, struct config_log *lg, char **err)
{
	struct ini *ini = config_read_ini(dir, "log.ini", err);
	const char *v;
	int f;

	if (ini == NULL)
		return;
	set_level(lg, ini_get(ini, "main", "level"));
	/* Haraka declares +main.timestamps: on unless log.ini says so. */
	lg->timestamps = ini_bool(ini, "main", "timestamps", 1);
	v = ini_get(ini, "main", "format");
	if (v != NULL) {
		if ((f = log_format_parse(v)) < 0) {
			log_warn("core", NULL, "invalid log format: %s "
			    "defaulting to DEFAULT", v);
			f = LOG_FMT_DEFAULT;
		}
		lg->format = (enum log_format)f;
	} else
		lg->format = LOG_FMT_DEFAULT;
	ini_free(ini);
}

static void
apply_loglevel(const char *dir, struct config_log *lg, char **err)
{
	char *v = config_read_flat(dir, "loglevel", err);

	set_level(lg, v);
	free(v);
}

static void
apply_log_timestamps(const char *dir, struct config_log *lg, char **err)
{
	char *v = config_read_flat(dir, "log_timestamps", err);

	if (v != NULL && ini_is_truth(v))
		lg->timestamps = 1;
	free(v);
}

void
config_log_load(const char *config_dir, struct config_log *lg,
    unsigned changed, char **err)
{
	if (changed & CONFIG_LOG_INI)
		apply_log_ini(config_dir, lg, err);
	if (changed & CONFIG_LOGLEVEL)
		apply_loglevel(config_dir, lg, err);
	if (changed & CONFIG_LOG_TIMESTAMPS)
		apply_log_timestamps(config_dir, lg, err);
}

void
config_apply_log(const struct config *cfg, const struct config *prev)
{
	const struct config_log *lg = &cfg->log;
	int old = log_get_level();

	/* A level change is told if the old or the new level shows INFO. */
	if (prev == NULL || prev->log.level != lg->level) {
		log_set_level(old > lg->level ? old : lg->level);
		log_info("core", NULL, "loglevel: %s", log_level_name(lg->level));
	}
	log_set_level(lg->level);
	log_set_format(lg->format);
	log_set_timestamps(lg->timestamps);
	if (prev == NULL || prev->log.format != lg->format)
		log_info("core", NULL, "log format: %s",
		    log_format_name(lg->format));
}
