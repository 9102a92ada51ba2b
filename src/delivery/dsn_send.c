/*
 * dsn_send: reads the bounce templates, has dsn.c build the report and
 * inject.c queue it to the sender; keeps nothing, answers through done.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "delivery/dsn_send.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

static char *
read_template(const char *config_dir, const char *name)
{
	char *path = xasprintf("%s/%s", config_dir, name);
	struct buf b = BUF_INIT;
	char chunk[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	free(path);
	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return buf_release(&b);
}

void
dsn_send(struct inject *inj, const char *config_dir, struct dsn_params *p,
    inject_done_fn done, void *arg)
{
	struct buf out = BUF_INIT;
	const char *to[1] = { p->mail_from };

	p->now = (int64_t)time(NULL);
	p->pid = (long)getpid();
	p->tmpl = read_template(config_dir, "outbound.bounce_message");
	p->tmpl_html = read_template(config_dir,
	    "outbound.bounce_message_html");
	p->tmpl_image = read_template(config_dir,
	    "outbound.bounce_message_image");
	dsn_build(p, &out);
	free((char *)p->tmpl);
	free((char *)p->tmpl_html);
	free((char *)p->tmpl_image);
	p->tmpl = p->tmpl_html = p->tmpl_image = NULL;
	inject_send(inj, "", to, 1, out.p, out.len, 0, NULL, done, arg);
	buf_free(&out);
}
