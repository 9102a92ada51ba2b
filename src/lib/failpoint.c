/*
 * failpoint: the armed crash point (failpoint.h), read from the environment
 * once; the passes through it are counted atomically, as writer threads
 * pass points too. Owns nothing else.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/failpoint.h"

#define ENV_NAME	"OUTPOST_FAILPOINT"

static pthread_once_t	 once = PTHREAD_ONCE_INIT;
static char		 armed[64];
static unsigned long	 at_pass = 1;
static unsigned long	 passes;

static void
arm(void)
{
	const char *v = getenv(ENV_NAME), *colon;
	size_t n;

	if (v == NULL || *v == '\0')
		return;
	colon = strchr(v, ':');
	n = colon != NULL ? (size_t)(colon - v) : strlen(v);
	if (n >= sizeof(armed))
		return;
	memcpy(armed, v, n);
	armed[n] = '\0';
	if (colon != NULL && (at_pass = strtoul(colon + 1, NULL, 10)) == 0)
		at_pass = 1;
}

void
failpoint_hit(const char *name)
{
	char line[128];
	int n;

	pthread_once(&once, arm);
	if (armed[0] == '\0' || strcmp(armed, name) != 0 ||
	    __atomic_add_fetch(&passes, 1, __ATOMIC_SEQ_CST) != at_pass)
		return;
	/* One write(2), so the line is whole in the log before the kill. */
	n = snprintf(line, sizeof(line), "failpoint %s: pass %lu, killing "
	    "the process\n", name, at_pass);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		line[0] = '\0';
	raise(SIGKILL);
}
