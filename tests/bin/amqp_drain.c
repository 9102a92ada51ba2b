/*
 * amqp_drain: the end-to-end tests' RabbitMQ consumer. Declares the
 * durable queue QUEUE (bound to EXCHANGE with BINDING when given), then
 * takes and acks every message now in it (basic.get until empty), one line
 * each on stdout: routing key, message_id, delivery mode, content type,
 * body (tab-separated; the body is JSON on one line).
 *
 * amqp_drain HOST PORT QUEUE [EXCHANGE BINDING]; exit 0, or 1 (stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

static void
die_on(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "%s: %s\n", what,
		    amqp_error_string2(r.library_error));
	else
		fprintf(stderr, "%s: server error (method 0x%08x)\n", what,
		    r.reply.id);
	exit(1);
}

static void
field(const amqp_bytes_t *b)
{
	fwrite(b->bytes, 1, b->len, stdout);
}

int
main(int argc, char **argv)
{
	amqp_connection_state_t c;
	amqp_socket_t *s;
	amqp_bytes_t q;

	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: amqp_drain HOST PORT QUEUE "
		    "[EXCHANGE BINDING]\n");
		return 1;
	}
	c = amqp_new_connection();
	s = amqp_tcp_socket_new(c);
	if (s == NULL || amqp_socket_open(s, argv[1], atoi(argv[2])) != 0) {
		fprintf(stderr, "connect %s:%s failed\n", argv[1], argv[2]);
		return 1;
	}
	die_on(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
	    "guest", "guest"), "login");
	amqp_channel_open(c, 1);
	die_on(amqp_get_rpc_reply(c), "channel.open");
	q = amqp_cstring_bytes(argv[3]);
	amqp_queue_declare(c, 1, q, 0, 1, 0, 0, amqp_empty_table);
	die_on(amqp_get_rpc_reply(c), "queue.declare");
	if (argc == 6) {
		amqp_exchange_declare(c, 1, amqp_cstring_bytes(argv[4]),
		    amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
		die_on(amqp_get_rpc_reply(c), "exchange.declare");
		amqp_queue_bind(c, 1, q, amqp_cstring_bytes(argv[4]),
		    amqp_cstring_bytes(argv[5]), amqp_empty_table);
		die_on(amqp_get_rpc_reply(c), "queue.bind");
	}
	for (;;) {
		amqp_rpc_reply_t r = amqp_basic_get(c, 1, q, 0);
		amqp_message_t m;
		amqp_basic_get_ok_t *ok;

		die_on(r, "basic.get");
		if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
			break;
		ok = r.reply.decoded;
		die_on(amqp_read_message(c, 1, &m, 0), "read message");
		field(&ok->routing_key);
		putchar('\t');
		if (m.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
			field(&m.properties.message_id);
		printf("\t%d\t", (m.properties._flags &
		    AMQP_BASIC_DELIVERY_MODE_FLAG) ?
		    m.properties.delivery_mode : 0);
		if (m.properties._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
			field(&m.properties.content_type);
		putchar('\t');
		field(&m.body);
		putchar('\n');
		amqp_basic_ack(c, 1, ok->delivery_tag, 0);
		amqp_destroy_message(&m);
	}
	fflush(stdout);
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return 0;
}
