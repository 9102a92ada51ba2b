/*
 * status_page: GET / — one self-contained HTML page (inline style and
 * script, no external asset; a Content-Security-Policy forbids any) that
 * polls GET /api/overview every 5 s and shows the queue by destination,
 * the last hour's received/delivered/deferred/bounced per minute as SVG
 * charts, and the latest deferrals and bounces with their category.
 * /api/overview's per-minute series come from counter totals sampled at
 * each minute (a ring of 60 minutes).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "admin/http.h"
#include "admin/metrics.h"
#include "admin/status_page.h"
#include "core/metrics.h"
#include "core/version.h"
#include "delivery/mta_admin.h"
#include "delivery/shaper.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/xmalloc.h"

#define MINUTES		60
#define NSERIES		4

static const char *series_name[NSERIES] = {
	"received", "delivered", "deferred", "bounced"
};

struct status_page {
	struct mta	*mta;
	struct am	*am;
	struct event	*tick;
	time_t		 started;
	/* Counter totals at the start of each of the last minutes, oldest
	 * first; n of them. */
	double		 at[MINUTES + 1][NSERIES];
	size_t		 n;
};

static void
totals(double out[NSERIES])
{
	out[0] = metric_total(m_received_messages);
	out[1] = metric_total(m_delivered);
	out[2] = metric_total(m_deferred);
	out[3] = metric_total(m_bounced);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct status_page *p = arg;

	(void)fd;
	(void)what;
	if (p->n == MINUTES + 1) {
		memmove(p->at[0], p->at[1], MINUTES * sizeof(p->at[0]));
		p->n--;
	}
	totals(p->at[p->n++]);
}

static const char PAGE[] =
"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<title>Outpost status</title>\n<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
"h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em}\n"
"table{border-collapse:collapse}td,th{padding:.2em .7em;border-bottom:1px solid #ddd;"
"text-align:left;vertical-align:top}\nth{background:#f4f4f4}td.n{text-align:right}\n"
".charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #ddd;padding:.4em}\n"
".mode-backoff{color:#b60}.mode-suspended{color:#c00;font-weight:bold}\n"
"#err{color:#c00}small{color:#666}\n</style></head><body>\n"
"<h1>Outpost</h1><small id=\"about\"></small> <span id=\"err\"></span>\n"
"<h2>Queue</h2><table id=\"queue\"><tbody></tbody></table>\n"
"<h2>Destinations</h2><table id=\"dests\"><thead><tr><th>destination</th>"
"<th>mode</th><th>queued</th><th>connections</th><th>limit</th>"
"<th>last reply</th></tr></thead><tbody></tbody></table>\n"
"<h2>The last hour, per minute</h2><div class=\"charts\" id=\"charts\"></div>\n"
"<h2>Latest deferrals and bounces</h2><table id=\"recent\"><thead><tr>"
"<th>time</th><th>event</th><th>recipient</th><th>category</th>"
"<th>reason</th></tr></thead><tbody></tbody></table>\n"
"<script>\n'use strict';\n"
"const SVG='http://www.w3.org/2000/svg';\n"
"function el(tag,text,cls){const e=document.createElement(tag);"
"if(text!==undefined)e.textContent=String(text);if(cls)e.className=cls;return e;}\n"
"function rows(id,list,cells){const tb=document.querySelector('#'+id+' tbody');"
"tb.replaceChildren();for(const x of list){const tr=document.createElement('tr');"
"for(const c of cells(x))tr.appendChild(c);tb.appendChild(tr);}}\n"
"function chart(name,color,values){const w=300,h=110,pad=22;"
"const max=Math.max(1,...values);const s=document.createElementNS(SVG,'svg');"
"s.setAttribute('width',w);s.setAttribute('height',h);s.setAttribute('role','img');"
"s.setAttribute('data-series',name);"
"const t=document.createElementNS(SVG,'text');t.setAttribute('x',4);t.setAttribute('y',14);"
"t.textContent=name+' (max '+max+'/min)';s.appendChild(t);"
"const n=values.length,dx=(w-8)/Math.max(1,n-1);"
"const pts=values.map((v,i)=>(4+i*dx).toFixed(1)+','+(h-4-(h-pad-4)*v/max).toFixed(1));"
"const p=document.createElementNS(SVG,'polyline');p.setAttribute('points',pts.join(' '));"
"p.setAttribute('fill','none');p.setAttribute('stroke',color);p.setAttribute('stroke-width','2');"
"s.appendChild(p);const d=document.createElement('div');d.className='chart';d.appendChild(s);"
"return d;}\n"
"function show(o){document.getElementById('about').textContent="
"'version '+o.status.version+', pid '+o.status.pid+', up '+o.status.uptime_s+' s';"
"const q=o.queue;rows('queue',[['entries due',q.due],['entries waiting',q.waiting],"
"['entries in flight',q.running],['recipients pending',q.recipients],"
"['oldest entry (s)',q.oldest_s]],x=>[el('th',x[0]),el('td',x[1],'n')]);"
"rows('dests',o.destinations,d=>[el('td',d.key),el('td',d.mode,'mode-'+d.mode),"
"el('td',d.queued,'n'),el('td',d.inflight,'n'),el('td',d.limit||'none','n'),"
"el('td',d.last)]);"
"const c=document.getElementById('charts');c.replaceChildren();"
"const colors={received:'#36c',delivered:'#393',deferred:'#c80',bounced:'#c33'};"
"for(const k of Object.keys(colors))c.appendChild(chart(k,colors[k],o.series[k]));"
"rows('recent',o.recent,r=>[el('td',new Date(r.time*1000).toISOString()),"
"el('td',r.type),el('td',r.recipient),el('td',r.category),el('td',r.reason)]);}\n"
"async function poll(){try{const r=await fetch('api/overview',"
"{credentials:'same-origin',cache:'no-store'});"
"if(!r.ok)throw new Error('HTTP '+r.status);show(await r.json());"
"document.getElementById('err').textContent='';}"
"catch(e){document.getElementById('err').textContent='update failed: '+e.message;}}\n"
"poll();setInterval(poll,5000);\n</script></body></html>\n";

static void
get_page(struct admin_req *r, void *arg)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(
	    admin_req_evhttp(r));
	const char *token = admin_req_query(r, "token");

	(void)arg;
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; "
	    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src data:; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'");
	if (token != NULL) {
		/* Passed the check (http.c): later fetches send the cookie. */
		char *c = xasprintf("outpost_token=%s; Path=/; HttpOnly; "
		    "SameSite=Strict", token);

		evhttp_add_header(h, "Set-Cookie", c);
		free(c);
	}
	admin_reply(r, 200, "text/html; charset=utf-8", PAGE,
	    sizeof(PAGE) - 1);
}

struct dest_list {
	struct buf	*out;
	int		 first;
};

/* One destination of the shaper, as a JSON object. */
static void
destination(void *arg, const struct shaper_stat *st, uint64_t now)
{
	struct dest_list *l = arg;

	(void)now;
	buf_adds(l->out, l->first ? "{\"key\":" : ",{\"key\":");
	l->first = 0;
	json_string(l->out, st->key);
	buf_printf(l->out, ",\"mode\":\"%s\",\"queued\":%u,\"inflight\":%u,"
	    "\"limit\":%u,\"waiting\":%u,\"last\":",
	    shaper_mode_name(st->mode), st->queued, st->inflight, st->limit,
	    st->waiting);
	json_string(l->out, st->last != NULL ? st->last : "");
	buf_adds(l->out, "}");
}

static void
destinations(struct status_page *p, struct buf *out)
{
	struct dest_list l = { out, 1 };

	buf_adds(out, "[");
	mta_admin_destinations(p->mta, destination, &l);
	buf_adds(out, "]");
}

static void
get_overview(struct admin_req *r, void *arg)
{
	struct status_page *p = arg;
	struct buf b = BUF_INIT;
	double now[NSERIES];

	metrics_collect();
	totals(now);
	buf_printf(&b, "{\"status\":{\"version\":\"%s\",\"pid\":%ld,"
	    "\"uptime_s\":%lld},\"queue\":{\"due\":%.0f,\"waiting\":%.0f,"
	    "\"running\":%.0f,\"recipients\":%.0f,\"oldest_s\":%.0f},"
	    "\"destinations\":", OUTPOST_VERSION, (long)getpid(),
	    (long long)(time(NULL) - p->started),
	    metric_value(m_queue_entries, (const char *[]){ "due" }),
	    metric_value(m_queue_entries, (const char *[]){ "waiting" }),
	    metric_value(m_queue_entries, (const char *[]){ "running" }),
	    metric_value(m_queue_recipients, NULL),
	    metric_value(m_queue_oldest, NULL));
	destinations(p, &b);
	/* Per minute: the completed minutes, then the current one so far. */
	buf_adds(&b, ",\"series\":{\"interval_s\":60");
	for (size_t k = 0; k < NSERIES; k++) {
		buf_printf(&b, ",\"%s\":[", series_name[k]);
		for (size_t i = 0; i < p->n; i++)
			buf_printf(&b, "%s%.0f", i ? "," : "",
			    (i + 1 < p->n ? p->at[i + 1][k] : now[k]) -
			    p->at[i][k]);
		buf_adds(&b, "]");
	}
	buf_adds(&b, "},\"recent\":");
	admin_metrics_recent(p->am, &b);
	buf_adds(&b, "}\n");
	admin_reply_json(r, 200, &b);
	buf_free(&b);
}

struct status_page *
status_page_new(struct admin *a, struct event_base *base, struct mta *mta,
    struct am *am)
{
	struct status_page *p = xcalloc(1, sizeof(*p));
	struct timeval minute = { 60, 0 };

	p->mta = mta;
	p->am = am;
	p->started = time(NULL);
	totals(p->at[p->n++]);
	p->tick = event_new(base, -1, EV_PERSIST, on_tick, p);
	event_add(p->tick, &minute);
	admin_route(a, "GET", "/", get_page, p);
	admin_route(a, "GET", "/api/overview", get_overview, p);
	return p;
}

void
status_page_free(struct status_page *p)
{
	if (p == NULL)
		return;
	event_free(p->tick);
	free(p);
}
