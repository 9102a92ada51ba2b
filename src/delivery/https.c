/*
 * https: libcurl's multi handle driven by libevent (contract in https.h):
 * curl_multi_socket_action from socket events and one timer, finished
 * transfers read off curl_multi_info_read. Owns its GETs until they
 * answer or are cancelled.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "delivery/https.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"

#define SRC		"outbound"
#define CONNECT_SECONDS	10L
#define TOTAL_SECONDS	30L		/* the whole GET */

struct https {
	struct event_base	*base;
	char			*ca;
	CURLM			*multi;
	struct event		*timer;
	struct https_get	*gets;
};

struct https_get {
	struct https_get	*next, *prev;
	struct https		*h;
	CURL			*easy;
	struct curl_slist	*resolve;
	struct buf		 body;
	size_t			 max;
	int			 too_big;
	https_fn		 fn;
	void			*arg;
};

static void
get_free(struct https_get *g)
{
	struct https *h = g->h;

	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		h->gets = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	curl_multi_remove_handle(h->multi, g->easy);
	curl_easy_cleanup(g->easy);
	curl_slist_free_all(g->resolve);
	buf_free(&g->body);
	free(g);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct https_get *g = arg;

	if (g->body.len + size * n > g->max) {
		g->too_big = 1;
		return 0;		/* curl stops: CURLE_WRITE_ERROR */
	}
	buf_add(&g->body, p, size * n);
	return size * n;
}

/* The configured CA bundle, added to the store curl set up. */
static CURLcode
on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
	struct https *h = arg;

	(void)easy;
	if (h->ca != NULL &&
	    SSL_CTX_load_verify_locations(ssl_ctx, h->ca, NULL) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

static void
get_done(struct https_get *g, CURLcode rc)
{
	struct https_result r;
	char *error = NULL;

	memset(&r, 0, sizeof(r));
	if (rc == CURLE_OK) {
		r.ok = 1;
		curl_easy_getinfo(g->easy, CURLINFO_RESPONSE_CODE, &r.status);
		buf_addc(&g->body, '\0');
		r.body = g->body.p;
		r.len = g->body.len - 1;
	} else {
		r.unverified = rc == CURLE_PEER_FAILED_VERIFICATION;
		if (g->too_big)
			error = xasprintf("larger than %zu bytes", g->max);
		r.error = error != NULL ? error : curl_easy_strerror(rc);
	}
	g->fn(g->arg, &r);
	free(error);
	get_free(g);
}

static void
multi_check(struct https *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct https_get *g = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &g);
		get_done(g, msg->data.result);
	}
}

static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct https *h = arg;
	int running;

	curl_multi_socket_action(h->multi, fd,
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0), &running);
	multi_check(h);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct https *h = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	multi_check(h);
}

/* curl names a socket to watch (socketp: its event), or to forget. */
static int
on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
	struct https *h = arg;
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (ev != NULL)
		event_free(ev);
	if (what == CURL_POLL_REMOVE) {
		curl_multi_assign(h->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	ev = event_new(h->base, s, kind, on_sock, h);
	curl_multi_assign(h->multi, s, ev);
	event_add(ev, NULL);
	return 0;
}

static int
on_timeout(CURLM *multi, long ms, void *arg)
{
	struct https *h = arg;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)multi;
	if (ms < 0)
		evtimer_del(h->timer);
	else
		evtimer_add(h->timer, &tv);
	return 0;
}

struct https_get *
https_start(struct https *h, const char *host, const char *path,
    const char *const *addrs, size_t naddrs, size_t max, https_fn fn,
    void *arg)
{
	struct https_get *g = xcalloc(1, sizeof(*g));
	struct buf r = BUF_INIT;
	char *url;
	CURL *c;

	/* host:443:addr[,addr]: curl connects there, never resolving. */
	buf_printf(&r, "%s:443:", host);
	for (size_t i = 0; i < naddrs; i++)
		buf_printf(&r, strchr(addrs[i], ':') ? "%s[%s]" : "%s%s",
		    i ? "," : "", addrs[i]);
	g->resolve = curl_slist_append(NULL, buf_cstr(&r));
	buf_free(&r);
	if ((c = g->easy = curl_easy_init()) == NULL || g->resolve == NULL) {
		log_crit(SRC, NULL, "curl: out of memory");
		abort();
	}
	g->h = h;
	g->max = max;
	g->fn = fn;
	g->arg = arg;
	url = xasprintf("https://%s%s", host, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_RESOLVE, g->resolve);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_SECONDS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, TOTAL_SECONDS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)max);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Outpost");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(c, CURLOPT_PRIVATE, g);
	g->next = h->gets;
	if (h->gets != NULL)
		h->gets->prev = g;
	h->gets = g;
	curl_multi_add_handle(h->multi, c);	/* the timer starts it */
	return g;
}

void
https_cancel(struct https_get *g)
{
	if (g != NULL)
		get_free(g);
}

struct https *
https_new(struct event_base *base, const char *ca)
{
	struct https *h = xcalloc(1, sizeof(*h));

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (h->multi = curl_multi_init()) == NULL) {
		log_crit(SRC, NULL, "curl: cannot initialise");
		abort();
	}
	h->base = base;
	h->ca = xstrdup_null(ca);
	h->timer = evtimer_new(base, on_timer, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
https_free(struct https *h)
{
	if (h == NULL)
		return;
	while (h->gets != NULL)
		get_free(h->gets);
	curl_multi_cleanup(h->multi);	/* its sockets' events freed */
	event_free(h->timer);
	curl_global_cleanup();
	free(h->ca);
	free(h);
}
