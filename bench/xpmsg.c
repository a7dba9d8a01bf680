/*
 * xpmsg: load client for the s2s benchmarks (libstrophe).
 *
 *   xpmsg --jid USER@DOMAIN --password PW [--host ADDR] [--cafile FILE]
 *         [--timeout SECONDS] MODE ...
 *
 * Modes:
 *   recv N              log in, send presence, print "ready", count N
 *                       chat messages, print the rate from the first to the
 *                       last one
 *   send TO N           send N chat messages to TO, then ping TO's domain
 *                       (an IQ travels the same s2s stream, so its answer
 *                       means the peer has taken every message); print the
 *                       rate from the first send to the answer
 *   subscribe FMT N     send presence, then one subscription request to each
 *                       of the N JIDs
 *                       FMT (printf, one %d, 1..N: "u%d@b.test"), then ping
 *                       the domain of the first; print the rate up to the
 *                       answer, and how many "subscribed" answers came back
 *
 * Every mode is bounded by --timeout (default 60 s, at most 600 s).  Exit
 * status: 0 done, 1 timeout or not everything arrived, 2 usage or login
 * failure, or the connection was lost.  Results are one line each,
 * "key=value" words, for the scripts in bench/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

#define NS_PING  "urn:xmpp:ping"
#define MAX_N    10000000L
#define POLL_MS  5
#define BATCH    200 /* stanzas queued per loop turn while sending */
#define MAX_WAIT 600.0

struct st {
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	int connected, lost, self_presence;
	long received, subscribed;
	double first, last;
	char ping_id[32];
	int ping_done;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *ud)
{
	struct st *s = ud;
	(void)conn;
	(void)error;
	(void)stream_error;
	if (status == XMPP_CONN_CONNECT)
		s->connected = 1;
	else if (status != XMPP_CONN_RAW_CONNECT)
		s->lost = 1;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
	struct st *s = ud;
	const char *type = xmpp_stanza_get_type(stanza);
	(void)conn;
	if (type && strcmp(type, "error") == 0)
		return 1;
	if (xmpp_stanza_get_child_by_name(stanza, "body") == NULL)
		return 1;
	if (s->received == 0)
		s->first = now_s();
	s->received++;
	s->last = now_s();
	return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
	struct st *s = ud;
	const char *type = xmpp_stanza_get_type(stanza);
	const char *from = xmpp_stanza_get_from(stanza);
	const char *me = xmpp_conn_get_bound_jid(conn);
	(void)conn;
	if (type && strcmp(type, "subscribed") == 0)
		s->subscribed++;
	else if (!type && from && me && strcmp(from, me) == 0)
		s->self_presence = 1;
	return 1;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
	struct st *s = ud;
	const char *id = xmpp_stanza_get_id(stanza);
	const char *type = xmpp_stanza_get_type(stanza);
	(void)conn;
	if (id && type && s->ping_id[0] && strcmp(id, s->ping_id) == 0 &&
	    (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
		s->ping_done = 1;
	return 1;
}

static void send_release(struct st *s, xmpp_stanza_t *x)
{
	xmpp_send(s->conn, x);
	xmpp_stanza_release(x);
}

static int send_ping(struct st *s, const char *to)
{
	xmpp_stanza_t *iq = xmpp_iq_new(s->ctx, "get", "xpmsg-ping");
	xmpp_stanza_t *ping = xmpp_stanza_new(s->ctx);
	if (!iq || !ping)
		return -1;
	snprintf(s->ping_id, sizeof(s->ping_id), "xpmsg-ping");
	xmpp_stanza_set_to(iq, to);
	xmpp_stanza_set_name(ping, "ping");
	xmpp_stanza_set_ns(ping, NS_PING);
	xmpp_stanza_add_child(iq, ping);
	xmpp_stanza_release(ping);
	send_release(s, iq);
	return 0;
}

/* Run the loop until *flag is set, the connection is lost or end passes. */
static int wait_for(struct st *s, const int *flag, double end)
{
	while (!*flag && !s->lost && now_s() < end)
		xmpp_run_once(s->ctx, POLL_MS);
	return *flag ? 0 : -1;
}

/* Queue stanzas in batches, letting the loop write them out in between, so
 * libstrophe's queue stays short and the server sees a steady stream. */
static int pace(struct st *s, long i, double end)
{
	if (i % BATCH != 0)
		return 0;
	while (!s->lost && now_s() < end &&
	       xmpp_conn_send_queue_len(s->conn) > BATCH)
		xmpp_run_once(s->ctx, POLL_MS);
	xmpp_run_once(s->ctx, 0);
	return s->lost || now_s() >= end ? -1 : 0;
}

static const char *domain_of(const char *jid, char *buf, size_t n)
{
	const char *at = strchr(jid, '@');
	const char *d = at ? at + 1 : jid;
	size_t len = strcspn(d, "/");
	if (len >= n)
		len = n - 1;
	memcpy(buf, d, len);
	buf[len] = '\0';
	return buf;
}

static int do_send(struct st *s, const char *to, long n, double end)
{
	char dom[256], id[32];
	double t0 = now_s(), t1;
	long i;

	for (i = 0; i < n; i++) {
		xmpp_stanza_t *m;
		snprintf(id, sizeof(id), "m%ld", i);
		m = xmpp_message_new(s->ctx, "chat", to, id);
		if (!m)
			return 2;
		xmpp_message_set_body(m, "benchmark message");
		send_release(s, m);
		if (pace(s, i + 1, end) != 0)
			break;
	}
	if (i < n || send_ping(s, domain_of(to, dom, sizeof(dom))) != 0 ||
	    wait_for(s, &s->ping_done, end) != 0) {
		printf("result=timeout sent=%ld\n", i);
		return 1;
	}
	t1 = now_s();
	printf("result=ok mode=send n=%ld seconds=%.3f rate=%.1f\n", n, t1 - t0,
	       (double)n / (t1 - t0));
	return 0;
}

static int do_subscribe(struct st *s, const char *fmt, long n, double end)
{
	char to[512], dom[256];
	double t0 = now_s(), t1;
	long i;

	for (i = 1; i <= n; i++) {
		xmpp_stanza_t *p = xmpp_presence_new(s->ctx);
		if (!p)
			return 2;
		snprintf(to, sizeof(to), fmt, (int)i);
		xmpp_stanza_set_to(p, to);
		xmpp_stanza_set_type(p, "subscribe");
		send_release(s, p);
		if (pace(s, i, end) != 0)
			break;
	}
	snprintf(to, sizeof(to), fmt, 1);
	if (i <= n || send_ping(s, domain_of(to, dom, sizeof(dom))) != 0 ||
	    wait_for(s, &s->ping_done, end) != 0) {
		printf("result=timeout sent=%ld\n", i - 1);
		return 1;
	}
	t1 = now_s();
	/* "subscribed" answers sent before the ping's answer have arrived:
	 * one s2s stream in each direction keeps the order. */
	printf("result=ok mode=subscribe n=%ld seconds=%.3f rate=%.1f "
	       "subscribed=%ld\n",
	       n, t1 - t0, (double)n / (t1 - t0), s->subscribed);
	return 0;
}

static int do_recv(struct st *s, long n, double end)
{
	while (s->received < n && !s->lost && now_s() < end)
		xmpp_run_once(s->ctx, POLL_MS);
	if (s->received < n) {
		printf("result=timeout received=%ld\n", s->received);
		return 1;
	}
	printf("result=ok mode=recv n=%ld seconds=%.3f rate=%.1f\n", n,
	       s->last - s->first,
	       s->last > s->first ? (double)(n - 1) / (s->last - s->first)
	                          : 0.0);
	return 0;
}

static long parse_n(const char *v)
{
	char *e;
	long n = strtol(v, &e, 10);
	return (*e || n < 1 || n > MAX_N) ? -1 : n;
}

static int usage(void)
{
	fprintf(stderr, "usage: xpmsg --jid JID --password PW [--host ADDR] "
	                "[--cafile FILE] [--timeout S]\n"
	                "             recv N | send TO N | subscribe FMT N\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *jid = NULL, *pw = NULL, *host = NULL, *cafile = NULL;
	double timeout = 60, end;
	struct st s;
	long n;
	int i, rc = 2;

	for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--jid") == 0)
			jid = argv[i + 1];
		else if (strcmp(argv[i], "--password") == 0)
			pw = argv[i + 1];
		else if (strcmp(argv[i], "--host") == 0)
			host = argv[i + 1];
		else if (strcmp(argv[i], "--cafile") == 0)
			cafile = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = atof(argv[i + 1]);
		else
			return usage();
	}
	if (!jid || !pw || i >= argc || timeout <= 0 || timeout > MAX_WAIT)
		return usage();
	if (strcmp(argv[i], "recv") == 0 && i + 2 == argc)
		n = parse_n(argv[i + 1]);
	else if ((strcmp(argv[i], "send") == 0 ||
	          strcmp(argv[i], "subscribe") == 0) &&
	         i + 3 == argc)
		n = parse_n(argv[i + 2]);
	else
		return usage();
	if (n < 0)
		return usage();
	if (strcmp(argv[i], "subscribe") == 0) {
		/* FMT: exactly one %d and no other conversion. */
		const char *p = strchr(argv[i + 1], '%');
		if (!p || p[1] != 'd' || strchr(p + 2, '%'))
			return usage();
	}

	memset(&s, 0, sizeof(s));
	setvbuf(stdout, NULL, _IOLBF, 0);
	xmpp_initialize();
	s.ctx = xmpp_ctx_new(NULL, NULL);
	s.conn = s.ctx ? xmpp_conn_new(s.ctx) : NULL;
	if (!s.conn)
		return 2;
	xmpp_conn_set_flags(s.conn, XMPP_CONN_FLAG_DISABLE_SM |
	                                    XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_jid(s.conn, jid);
	xmpp_conn_set_pass(s.conn, pw);
	if (cafile)
		xmpp_conn_set_cafile(s.conn, cafile);
	xmpp_handler_add(s.conn, on_message, NULL, "message", NULL, &s);
	xmpp_handler_add(s.conn, on_presence, NULL, "presence", NULL, &s);
	xmpp_handler_add(s.conn, on_iq, NULL, "iq", NULL, &s);
	end = now_s() + timeout;
	if (xmpp_connect_client(s.conn, host, 0, on_conn, &s) != XMPP_EOK ||
	    wait_for(&s, &s.connected, end) != 0) {
		fprintf(stderr, "xpmsg: login as %s failed\n", jid);
		goto out;
	}
	if (strcmp(argv[i], "send") != 0) {
		/* Available, so answers to subscriptions are delivered. */
		xmpp_stanza_t *p = xmpp_presence_new(s.ctx);
		send_release(&s, p);
		if (wait_for(&s, &s.self_presence, end) != 0) {
			fprintf(stderr, "xpmsg: presence not reflected\n");
			goto out;
		}
	}
	if (strcmp(argv[i], "recv") == 0) {
		printf("ready\n");
		rc = do_recv(&s, n, end);
	} else if (strcmp(argv[i], "send") == 0) {
		rc = do_send(&s, argv[i + 1], n, end);
	} else {
		rc = do_subscribe(&s, argv[i + 1], n, end);
	}
	if (s.lost && rc == 0)
		rc = 2;
out:
	if (!s.lost && s.connected) {
		double stop = now_s() + 2;
		xmpp_disconnect(s.conn);
		while (!xmpp_conn_is_disconnected(s.conn) && now_s() < stop)
			xmpp_run_once(s.ctx, POLL_MS);
	}
	xmpp_conn_release(s.conn);
	xmpp_ctx_free(s.ctx);
	xmpp_shutdown();
	return rc;
}
