/*
 * log: Haraka's logger. Levels DATA(9)..EMERG(0); a record is emitted when
 * its level <= the current level. Three line shapes (default, logfmt,
 * json), optional ISO-8601 timestamps, ANSI colour on a TTY, and the `log`
 * hook: a sink (the plugin runner) sees every record first and may suppress
 * the built-in output. Records logged while the log is held (start-up,
 * before plugins are ready) are kept and replayed in order on release.
 * The logger is process-wide state owned by this module; settings change
 * only through the setters, on the event-loop thread.
 */
#ifndef OUTPOST_LOG_H
#define OUTPOST_LOG_H

#include <stddef.h>

#include "lib/buf.h"

enum log_level {
	LOG_EMERG = 0,
	LOG_ALERT,
	LOG_CRIT,
	LOG_ERROR,
	LOG_WARN,
	LOG_NOTICE,
	LOG_INFO,
	LOG_DEBUG,
	LOG_PROTOCOL,
	LOG_DATA
};

enum log_format {
	LOG_FMT_DEFAULT = 0,
	LOG_FMT_LOGFMT,
	LOG_FMT_JSON
};

enum log_ftype { LOG_F_STR, LOG_F_INT, LOG_F_DBL, LOG_F_BOOL, LOG_F_NULL };

/* A structured field merged into the record (logfmt/json) or appended as
 * key=value (default format). */
struct log_field {
	const char	*key;
	enum log_ftype	 type;
	union {
		const char	*s;
		long long	 i;
		double		 d;
		int		 b;
	} v;
};

#define LF_STR(k, x)	((struct log_field){ .key = (k), .type = LOG_F_STR, .v.s = (x) })
#define LF_INT(k, x)	((struct log_field){ .key = (k), .type = LOG_F_INT, .v.i = (x) })
#define LF_DBL(k, x)	((struct log_field){ .key = (k), .type = LOG_F_DBL, .v.d = (x) })
#define LF_BOOL(k, x)	((struct log_field){ .key = (k), .type = LOG_F_BOOL, .v.b = (x) })
#define LF_NULL(k)	((struct log_field){ .key = (k), .type = LOG_F_NULL })

struct log_record {
	int			 level;
	const char		*uuid;		/* "-" when none */
	const char		*origin;	/* "core" or a plugin name */
	const char		*message;
	const struct log_field	*fields;
	size_t			 nfields;
};

/* The sink returns nonzero to suppress the built-in output. */
typedef int (*log_sink_fn)(void *arg, const struct log_record *,
    const char *line);

const char	*log_level_name(int level);
/* Accepts names and LOG-prefixed names in any case, or digits 0-9.
 * Returns -1 when unknown. */
int		 log_level_parse(const char *);
/* default|logfmt|json in any case; -1 when unknown. */
int		 log_format_parse(const char *);
const char	*log_format_name(enum log_format);

void		 log_set_level(int);
int		 log_get_level(void);
int		 log_would(int level);
void		 log_set_format(enum log_format);
enum log_format	 log_get_format(void);
void		 log_set_timestamps(int);
int		 log_get_timestamps(void);
/* Colour: -1 = when stdout is a TTY (default), 0 = never, 1 = always. */
void		 log_set_color(int);
void		 log_set_fd(int fd);
void		 log_set_sink(log_sink_fn, void *arg);
/* A tap sees every emitted message (level, text) before it is held or
 * written; NULL removes it. The plugin loader uses one during init(). */
typedef void (*log_tap_fn)(int level, const char *msg);
void		 log_set_tap(log_tap_fn);
/* Hold records (1) or release and replay them through the sink (0). */
void		 log_hold(int);
/* Drops the sink and prints anything still held; for exit paths. */
void		 log_flush_exit(void);
/* A start-up failure: err logged (crit), the held records printed, err
 * told on stderr ("outpost: err") and freed; returns status. */
int		 log_start_failed(int status, char *err);

void		 log_emit(int level, const char *origin, const char *uuid,
		    const struct log_field *, size_t nfields,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void		 log_vemit(int level, const char *origin, const char *uuid,
		    const struct log_field *, size_t nfields,
		    const char *fmt, va_list) __attribute__((format(printf, 6, 0)));

/* Pure rendering, for tests: the record's line in a format, without
 * timestamp, colour or the final newline, CR/LF escaped. */
/* "2026-11-21T09:05:01.123Z": ISO 8601, UTC, milliseconds. */
void		 log_iso_time(char *out, size_t size, long long ts_ms);
void		 log_render(struct buf *, enum log_format,
		    const struct log_record *);
/* The full output line: timestamp (ms since the epoch, or -1 for none),
 * colour, record, newline. */
void		 log_render_line(struct buf *, enum log_format, long long ts_ms,
		    int color, const struct log_record *);

#define log_at(lvl, origin, uuid, ...) \
	do { if (log_would(lvl)) log_emit(lvl, origin, uuid, NULL, 0, __VA_ARGS__); } while (0)
#define log_emerg(o, u, ...)	log_at(LOG_EMERG, o, u, __VA_ARGS__)
#define log_alert(o, u, ...)	log_at(LOG_ALERT, o, u, __VA_ARGS__)
#define log_crit(o, u, ...)	log_at(LOG_CRIT, o, u, __VA_ARGS__)
#define log_error(o, u, ...)	log_at(LOG_ERROR, o, u, __VA_ARGS__)
#define log_warn(o, u, ...)	log_at(LOG_WARN, o, u, __VA_ARGS__)
#define log_notice(o, u, ...)	log_at(LOG_NOTICE, o, u, __VA_ARGS__)
#define log_info(o, u, ...)	log_at(LOG_INFO, o, u, __VA_ARGS__)
#define log_debug(o, u, ...)	log_at(LOG_DEBUG, o, u, __VA_ARGS__)
#define log_protocol(o, u, ...)	log_at(LOG_PROTOCOL, o, u, __VA_ARGS__)

#endif
