/*
 * log_capture: a test plugin built as a shared object against
 * outpost/plugin.h. It appends every log record it sees to the file named
 * by log_capture.ini [main] file (a "%p" in it: the process id, one file
 * per worker process), as "LEVEL|source|message"; takes (answers
 * OK to) records whose message contains [main] take; and on the reopen
 * hook writes "REOPEN" and reopens its file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outpost/plugin.h"

struct capture {
	char	path[4096];
	char	take[4096];
	FILE	*f;
};

static void
read_config(struct capture *c, const char *dir)
{
	char path[4096], line[4000];
	FILE *f;

	snprintf(path, sizeof(path), "%s/log_capture.ini", dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "file=", 5) == 0) {
			char *pid = strstr(line + 5, "%p");

			if (pid == NULL)
				snprintf(c->path, sizeof(c->path), "%s",
				    line + 5);
			else
				snprintf(c->path, sizeof(c->path), "%.*s%ld%s",
				    (int)(pid - (line + 5)), line + 5,
				    (long)getpid(), pid + 2);
		}
		else if (strncmp(line, "take=", 5) == 0)
			snprintf(c->take, sizeof(c->take), "%s", line + 5);
	}
	fclose(f);
}

static void
on_log(struct op_call *call, void *data)
{
	struct capture *c = data;
	const struct op_log_record *r = op_call_log(call);

	if (c->f != NULL) {
		fprintf(c->f, "%s|%s|%s\n", r->level_name, r->source, r->message);
		fflush(c->f);
	}
	op_next(call, c->take[0] && strstr(r->message, c->take) ? OP_OK :
	    OP_CONT, NULL);
}

static void
on_reopen(struct op_call *call, void *data)
{
	struct capture *c = data;

	if (c->f != NULL) {
		fputs("REOPEN\n", c->f);
		fclose(c->f);
	}
	c->f = fopen(c->path, "a");
	op_next(call, OP_CONT, NULL);
}

static int
capture_init(struct op_env *env, void **data)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	read_config(c, op_config_dir(env));
	if (c->path[0] == '\0' || (c->f = fopen(c->path, "a")) == NULL) {
		op_log(OP_LOG_ERROR, op_plugin_name(env), NULL,
		    "log_capture.ini: no usable file=");
		free(c);
		return -1;
	}
	*data = c;
	op_register_hook(env, OP_HOOK_LOG, on_log, 0);
	op_register_hook(env, OP_HOOK_REOPEN, on_reopen, 0);
	op_log(OP_LOG_INFO, op_plugin_name(env), NULL, "capturing to %s",
	    c->path);
	return 0;
}

static void
capture_shutdown(void *data)
{
	struct capture *c = data;

	if (c->f != NULL)
		fclose(c->f);
	free(c);
}

const struct op_plugin outpost_plugin = {
	OUTPOST_PLUGIN_ABI, "log_capture", capture_init, capture_shutdown
};
