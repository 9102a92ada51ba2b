/*
 * api_inject: POST /api/inject — a message submitted over HTTP, taken the
 * way SMTP reception takes one: {"from": "a@b" ("" or "<>": the null
 * sender), "to": ["x@y", ...], "content": "<RFC 5322 message>"} or, in
 * place of content, "headers" ({"Subject": "..."} or [["Subject", "..."],
 * ...]) and "body". The same limits (connection.ini max bytes, line
 * length, recipients), a trace header "with HTTP", the queue_outbound and
 * pre_send_trans_email hooks, the queue headers and the durable commit:
 * 200 {"id": ...} only once the message is as safe as after SMTP's 250.
 * The API's own authentication is the permission to relay.
 */
#ifndef OUTPOST_ADMIN_API_INJECT_H
#define OUTPOST_ADMIN_API_INJECT_H

struct admin;
struct mta;

void	*api_inject_register(struct admin *, struct mta *);

#endif
