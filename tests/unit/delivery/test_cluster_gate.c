/* Unit tests: delivery/cluster_gate — the gate of smtp.ini nodes workers
 * without Redis (the table they share, lib/gate.h): an answer never comes
 * from within cluster_admit (its caller stores the request it returns,
 * and the answer may free the caller), not even a loan refused at once;
 * a grant comes from the loop. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "core/shaping.h"
#include "core/worker.h"
#include "delivery/cluster.h"
#include "delivery/cluster_lua.h"
#include "delivery/cluster_priv.h"
#include "lib/gate.h"
#include "lib/util.h"

struct answer {
	int		 calls;
	uint64_t	 wait;
};

static void
on_answer(void *arg, uint64_t wait)
{
	struct answer *a = arg;

	a->calls++;
	a->wait = wait;
}

static void
test_answers_come_from_the_loop(void **state)
{
	struct event_base *base = event_base_new();
	struct gate *g = gate_new(2, 16);
	struct gate_ask whole = { .conn = 1, .max_conn = 2 };
	struct gate_ask own = { .conn = 1, .max_conn = 2, .part = 1 };
	struct shaping_limits lim;
	struct cluster_lease *lease;
	struct cluster_req *req;
	struct cluster *cl;
	struct answer ans = { 0, 0 };
	char *dir = tmpdir_new(), *err = NULL;
	unsigned s0, s1, x;
	uint64_t now;

	(void)state;
	nodes_become(0, 2, -1, NULL, g, NULL);	/* worker 0 of 2 */
	cl = cluster_new(base, dir, &err);
	assert_null(err);
	assert_non_null(cl);
	assert_int_equal(cluster_parts(cl), 2);
	memset(&lim, 0, sizeof(lim));
	lim.max_connections = 2;
	cluster_route(cl, "d.test");

	/* A grant: from the loop. */
	lease = cluster_lease_new(cl, "d.test");
	req = cluster_admit(cl, "d.test", &lim, lease, on_answer, &ans);
	assert_non_null(req);
	assert_int_equal(ans.calls, 0);
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ans.calls, 1);
	assert_int_equal(ans.wait, 0);

	/* Worker 0 holds its part and borrowed worker 1's; worker 1 is
	 * refused one of its own, and wants it back; one is given back. */
	now = util_now_ms();
	assert_int_equal(gate_admit(g, 0, "d.test", &whole, now, &s0), 0);
	assert_true(gate_admit(g, 1, "d.test", &own, now, &s1) == GATE_FULL);
	gate_release(g, 0, s0);
	assert_false(cluster_may_lend(cl, "d.test", 2));
	/* A loan refused: the turn is given up, but from the loop too. */
	memset(&ans, 0, sizeof(ans));
	struct cluster_lease *more = cluster_lease_new(cl, "d.test");
	req = cluster_admit(cl, "d.test", &lim, more, on_answer, &ans);
	assert_non_null(req);
	assert_int_equal(ans.calls, 0);
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(ans.calls, 1);
	assert_int_equal(ans.wait, CLUSTER_FULL_POLL_MS);
	assert_int_equal(gate_admit(g, 1, "d.test", &own, now, &x), 0);

	cluster_lease_end(more);
	cluster_lease_end(lease);
	cluster_free(cl);
	nodes_become(-1, 1, -1, NULL, NULL, NULL);
	gate_free(g);
	event_base_free(base);
	tmpdir_rm(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_come_from_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
