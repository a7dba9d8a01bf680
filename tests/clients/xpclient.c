/*
 * xpclient: a scriptable XMPP client for the integration tests.
 *
 *   xpclient --jid USER@DOMAIN --password PW [--host ADDR] [--port N]
 *            [--timeout SECONDS] [--cafile FILE | --insecure] [--plain]
 *            [--resource RES] [--no-roster] [--no-presence] [--verbose]
 *            COMMAND...
 *
 * It logs in, fetches its roster (so the server treats the session as
 * "interested" and sends roster pushes and subscription approvals to it),
 * sends initial presence (and waits until the server reflects it, so the
 * account is "available" before anything else happens), prints
 * "ready jid=<full JID>", then runs COMMANDs in order.  Every stanza it
 * receives is printed as one line on stdout ("message from=... body=...").
 * Received stanzas are queued, so an expectation also matches a stanza that
 * arrived before the expectation started; each stanza satisfies at most one
 * expectation.
 *
 * Exit status: 0 all commands done and all expectations met; 1 an
 * expectation was not met (or timed out); 2 usage error, connection, TLS or
 * authentication failure, or the connection was lost.
 *
 * To add a command: write a start function (and a poll function if it has
 * to wait for something) and add a row to the commands[] table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

#define EXIT_MET   0
#define EXIT_UNMET 1
#define EXIT_USAGE 2

#define DEFAULT_TIMEOUT 10.0
#define MAX_TIMEOUT     600.0
#define MAX_EVENTS      100000
#define POLL_MS         20

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_ROSTER  "jabber:iq:roster"
#define NS_PING    "urn:xmpp:ping"

/* ---- received stanzas ---------------------------------------------------- */

enum ev_kind { EV_MESSAGE, EV_PRESENCE, EV_ERROR, EV_IQ_RESULT };

struct event {
	enum ev_kind kind;
	char *from; /* as received ("" when absent) */
	/* message/presence type; presence without type: "available" */
	char *type;
	char *body;      /* message body or presence status ("" when absent) */
	char *condition; /* error condition */
	char *stanza_name; /* message / presence / iq */
	char *id;
	xmpp_stanza_t *stanza; /* a reference to the whole stanza */
	int used;
	struct event *next;
};

struct client {
	xmpp_ctx_t *ctx;
	xmpp_conn_t *conn;
	const char *jid;
	int connected;
	int disconnected;
	int conn_error;
	int self_presence_seen;
	struct event *head, *tail;
	size_t nevents;
	unsigned long next_id;
	double timeout;
	int verbose;
};

/* ---- commands
 * ---------------------------------------------------------------- */

enum step { STEP_DONE, STEP_PENDING, STEP_FAIL, STEP_LOST };

struct cmd;
typedef enum step (*cmd_fn)(struct client *c, struct cmd *cmd);

struct cmd_def {
	const char *name;
	int nargs;
	const char *args;
	const char *help;
	cmd_fn start; /* runs once; may return STEP_PENDING */
	cmd_fn poll;  /* called while pending */
	/* >= 0: argv index holding the duration in seconds; reaching it
	 * completes the command successfully */
	int duration_arg;
};

struct cmd {
	const struct cmd_def *def;
	char **argv;
	double deadline;
	char id[32];   /* id of an IQ this command waits for */
	char why[256]; /* reason of a failure */
	int stage;     /* adhoc: forms submitted so far */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *p = malloc(n);
	if (!p) {
		fprintf(stderr, "xpclient: out of memory\n");
		exit(EXIT_USAGE);
	}
	memcpy(p, s ? s : "", n);
	return p;
}

/* Print a value on one line: newlines and backslashes are escaped. */
static void put_value(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else if (*s == '\\')
			fputs("\\\\", stdout);
		else
			putchar(*s);
	}
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
set_why(struct cmd *cmd, const char *fmt, ...);

static void set_why(struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd->why, sizeof cmd->why, fmt, ap);
	va_end(ap);
}

/* ---- JIDs
 * ---------------------------------------------------------------------- */

/* Length of the bare part of a JID (up to '/'). */
static size_t bare_len(const char *jid)
{
	const char *slash = strchr(jid, '/');
	return slash ? (size_t)(slash - jid) : strlen(jid);
}

/* Domain part of a JID, as pointer + length. */
static const char *jid_domain(const char *jid, size_t *len)
{
	size_t bl = bare_len(jid);
	const char *at = memchr(jid, '@', bl);
	const char *d = at ? at + 1 : jid;
	*len = bl - (size_t)(d - jid);
	return d;
}

/*
 * Does a received 'from' match a pattern?  "*" matches anything, "*@DOMAIN"
 * any address at DOMAIN (including DOMAIN itself), otherwise the pattern must
 * equal the full or the bare 'from'.
 */
static int jid_match(const char *pattern, const char *from)
{
	if (strcmp(pattern, "*") == 0)
		return 1;
	if (strncmp(pattern, "*@", 2) == 0) {
		size_t dl;
		const char *d = jid_domain(from, &dl);
		return strlen(pattern + 2) == dl &&
		       strncmp(pattern + 2, d, dl) == 0;
	}
	if (strcmp(pattern, from) == 0)
		return 1;
	return strchr(pattern, '/') == NULL &&
	       strlen(pattern) == bare_len(from) &&
	       strncmp(pattern, from, bare_len(from)) == 0;
}

static int value_match(const char *pattern, const char *value)
{
	return strcmp(pattern, "*") == 0 ||
	       strcmp(pattern, value ? value : "") == 0;
}

/* ---- stanza helpers ------------------------------------------------------ */

static char *child_text(xmpp_stanza_t *st, const char *name)
{
	xmpp_stanza_t *ch = xmpp_stanza_get_child_by_name(st, name);
	char *t, *r;
	if (!ch)
		return xstrdup("");
	t = xmpp_stanza_get_text(ch);
	r = xstrdup(t);
	if (t)
		xmpp_free(xmpp_stanza_get_context(st), t);
	return r;
}

/* Condition and text of a stanza error (<error><COND xmlns=stanzas/>). */
static void error_info(xmpp_stanza_t *st, char **cond, char **text,
                       char **etype)
{
	xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(st, "error");
	xmpp_stanza_t *ch;
	*cond = NULL;
	*text = NULL;
	*etype = xstrdup(err ? xmpp_stanza_get_type(err) : "");
	if (err) {
		for (ch = xmpp_stanza_get_children(err); ch;
		     ch = xmpp_stanza_get_next(ch)) {
			const char *ns, *name;
			if (!xmpp_stanza_is_tag(ch))
				continue;
			ns = xmpp_stanza_get_ns(ch);
			name = xmpp_stanza_get_name(ch);
			if (!ns || strcmp(ns, NS_STANZAS) != 0 || !name)
				continue;
			if (strcmp(name, "text") == 0) {
				if (!*text) {
					char *t = xmpp_stanza_get_text(ch);
					*text = xstrdup(t);
					if (t)
						xmpp_free(
						        xmpp_stanza_get_context(
						                st),
						        t);
				}
			} else if (!*cond) {
				*cond = xstrdup(name);
			}
		}
	}
	if (!*cond)
		*cond = xstrdup("undefined-condition");
	if (!*text)
		*text = xstrdup("");
}

static void next_id(struct client *c, const char *prefix, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%lu", prefix, ++c->next_id);
}

static void send_and_release(struct client *c, xmpp_stanza_t *st)
{
	xmpp_send(c->conn, st);
	xmpp_stanza_release(st);
}

/* ---- the event queue
 * ------------------------------------------------------------ */

static struct event *push_event(struct client *c, enum ev_kind kind,
                                xmpp_stanza_t *st)
{
	struct event *e;
	const char *from = xmpp_stanza_get_from(st);
	const char *id = xmpp_stanza_get_id(st);
	const char *name = xmpp_stanza_get_name(st);
	if (c->nevents >= MAX_EVENTS) {
		fprintf(stderr,
		        "xpclient: more than %d stanzas received, giving up\n",
		        MAX_EVENTS);
		exit(EXIT_USAGE);
	}
	e = calloc(1, sizeof *e);
	if (!e) {
		fprintf(stderr, "xpclient: out of memory\n");
		exit(EXIT_USAGE);
	}
	e->kind = kind;
	e->from = xstrdup(from);
	e->id = xstrdup(id);
	e->stanza_name = xstrdup(name);
	e->stanza = xmpp_stanza_clone(st);
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->nevents++;
	return e;
}

static void free_events(struct client *c)
{
	struct event *e = c->head, *n;
	for (; e; e = n) {
		n = e->next;
		free(e->from);
		free(e->type);
		free(e->body);
		free(e->condition);
		free(e->stanza_name);
		free(e->id);
		if (e->stanza)
			xmpp_stanza_release(e->stanza);
		free(e);
	}
	c->head = c->tail = NULL;
}

/* First unused event of a kind whose 'from' matches, and that passes 'ok'. */
typedef int (*ev_filter)(const struct event *e, const struct cmd *cmd);

static struct event *find_event(struct client *c, enum ev_kind kind,
                                const char *from_pat, ev_filter ok,
                                const struct cmd *cmd)
{
	struct event *e;
	for (e = c->head; e; e = e->next) {
		if (e->used || e->kind != kind || !jid_match(from_pat, e->from))
			continue;
		if (ok && !ok(e, cmd))
			continue;
		return e;
	}
	return NULL;
}

static void print_error_event(const struct event *e, const char *text,
                              const char *etype)
{
	printf("error from=%s stanza=%s type=%s condition=%s id=%s text=",
	       e->from, e->stanza_name, etype, e->condition, e->id);
	put_value(text);
	putchar('\n');
}

static void record_error(struct client *c, xmpp_stanza_t *st)
{
	char *text, *etype, *cond;
	struct event *e = push_event(c, EV_ERROR, st);
	error_info(st, &cond, &text, &etype);
	e->condition = cond;
	e->type = xstrdup("error");
	e->body = xstrdup("");
	print_error_event(e, text, etype);
	free(text);
	free(etype);
}

/* ---- stanza handlers ----------------------------------------------------- */

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct client *c = ud;
	const char *type = xmpp_stanza_get_type(st);
	struct event *e;
	(void)conn;
	if (type && strcmp(type, "error") == 0) {
		record_error(c, st);
		return 1;
	}
	e = push_event(c, EV_MESSAGE, st);
	e->type = xstrdup(type ? type : "normal");
	e->body = child_text(st, "body");
	printf("message from=%s type=%s body=", e->from, e->type);
	put_value(e->body);
	putchar('\n');
	return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct client *c = ud;
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	const char *bound = xmpp_conn_get_bound_jid(conn);
	struct event *e;
	if (type && strcmp(type, "error") == 0) {
		record_error(c, st);
		return 1;
	}
	if (!type && from && bound && strcmp(from, bound) == 0)
		c->self_presence_seen = 1;
	e = push_event(c, EV_PRESENCE, st);
	e->type = xstrdup(type ? type : "available");
	e->body = child_text(st, "status");
	printf("presence from=%s type=%s status=", e->from, e->type);
	put_value(e->body);
	putchar('\n');
	return 1;
}

static void print_roster_items(xmpp_stanza_t *query, const char *prefix)
{
	xmpp_stanza_t *it;
	for (it = xmpp_stanza_get_children(query); it;
	     it = xmpp_stanza_get_next(it)) {
		const char *name = xmpp_stanza_is_tag(it)
		                           ? xmpp_stanza_get_name(it)
		                           : NULL;
		const char *ask;
		if (!name || strcmp(name, "item") != 0)
			continue;
		ask = xmpp_stanza_get_attribute(it, "ask");
		printf("%s jid=%s subscription=%s ask=%s\n", prefix,
		       xmpp_stanza_get_attribute(it, "jid")
		               ? xmpp_stanza_get_attribute(it, "jid")
		               : "",
		       xmpp_stanza_get_attribute(it, "subscription")
		               ? xmpp_stanza_get_attribute(it, "subscription")
		               : "none",
		       ask ? ask : "");
	}
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct client *c = ud;
	const char *type = xmpp_stanza_get_type(st);
	xmpp_stanza_t *query;
	(void)conn;
	if (!type)
		return 1;
	if (strcmp(type, "error") == 0) {
		record_error(c, st);
	} else if (strcmp(type, "result") == 0) {
		struct event *e;
		const char *id = xmpp_stanza_get_id(st);
		if (id && strncmp(id, "_xmpp_", 6) == 0)
			/* libstrophe's own (resource binding, session) */
			return 1;
		e = push_event(c, EV_IQ_RESULT, st);
		e->type = xstrdup(type);
		e->body = xstrdup("");
		printf("iq-result from=%s id=%s\n", e->from, e->id);
	} else if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0) {
		/* Answer requests so the server never waits on us.  (Built by
		   hand: libstrophe 0.12's xmpp_stanza_reply() returns NULL for
		   a stanza without 'from', such as a roster push.) */
		const char *from = xmpp_stanza_get_from(st);
		const char *id = xmpp_stanza_get_id(st);
		int ok = 0;
		xmpp_stanza_t *reply;
		query = xmpp_stanza_get_child_by_name_and_ns(st, "query",
		                                             NS_ROSTER);
		if (query && strcmp(type, "set") == 0) {
			print_roster_items(query, "roster-push");
			ok = 1;
		} else if (xmpp_stanza_get_child_by_name_and_ns(st, "ping",
		                                                NS_PING) &&
		           strcmp(type, "get") == 0) {
			ok = 1;
		}
		reply = xmpp_iq_new(c->ctx, ok ? "result" : "error",
		                    id ? id : "");
		if (!reply)
			return 1;
		if (from)
			xmpp_stanza_set_to(reply, from);
		if (!ok) {
			xmpp_stanza_t *err = xmpp_stanza_new(c->ctx);
			xmpp_stanza_t *cond = xmpp_stanza_new(c->ctx);
			xmpp_stanza_set_name(err, "error");
			xmpp_stanza_set_type(err, "cancel");
			xmpp_stanza_set_name(cond, "service-unavailable");
			xmpp_stanza_set_ns(cond, NS_STANZAS);
			xmpp_stanza_add_child(err, cond);
			xmpp_stanza_release(cond);
			xmpp_stanza_add_child(reply, err);
			xmpp_stanza_release(err);
		}
		send_and_release(c, reply);
	}
	return 1;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *ud)
{
	struct client *c = ud;
	(void)conn;
	if (status == XMPP_CONN_CONNECT) {
		c->connected = 1;
		return;
	}
	if (status == XMPP_CONN_RAW_CONNECT)
		return;
	if (!c->disconnected) {
		printf("disconnected error=%d stream-error=%d text=", error,
		       stream_error ? (int)stream_error->type : -1);
		put_value(stream_error && stream_error->text
		                  ? stream_error->text
		                  : "");
		putchar('\n');
	}
	c->disconnected = 1;
	c->conn_error = error;
}

static int on_certfail(const xmpp_tlscert_t *cert, const char *const errormsg)
{
	(void)cert;
	fprintf(stderr, "xpclient: server certificate not accepted: %s\n",
	        errormsg ? errormsg : "?");
	return 0;
}

/* ---- command implementations
 * ---------------------------------------------------- */

static enum step send_message(struct client *c, const char *type,
                              const char *to, const char *body)
{
	char id[32];
	xmpp_stanza_t *msg;
	next_id(c, "msg", id, sizeof id);
	msg = xmpp_message_new(c->ctx, type, to, id);
	if (!msg)
		return STEP_LOST;
	xmpp_message_set_body(msg, body);
	send_and_release(c, msg);
	return STEP_DONE;
}

static enum step cmd_send(struct client *c, struct cmd *cmd)
{
	return send_message(c, "chat", cmd->argv[0], cmd->argv[1]);
}

static enum step cmd_message(struct client *c, struct cmd *cmd)
{
	return send_message(c, cmd->argv[0], cmd->argv[1], cmd->argv[2]);
}

static enum step send_presence(struct client *c, const char *to,
                               const char *type, const char *status)
{
	xmpp_stanza_t *p = xmpp_presence_new(c->ctx);
	if (!p)
		return STEP_LOST;
	if (to)
		xmpp_stanza_set_to(p, to);
	if (type && strcmp(type, "available") != 0)
		xmpp_stanza_set_type(p, type);
	if (status && *status) {
		xmpp_stanza_t *s = xmpp_stanza_new(c->ctx);
		xmpp_stanza_t *t = xmpp_stanza_new(c->ctx);
		xmpp_stanza_set_name(s, "status");
		xmpp_stanza_set_text(t, status);
		xmpp_stanza_add_child(s, t);
		xmpp_stanza_release(t);
		xmpp_stanza_add_child(p, s);
		xmpp_stanza_release(s);
	}
	send_and_release(c, p);
	return STEP_DONE;
}

static enum step cmd_presence(struct client *c, struct cmd *cmd)
{
	return send_presence(c, NULL, NULL, cmd->argv[0]);
}

static enum step cmd_presence_to(struct client *c, struct cmd *cmd)
{
	return send_presence(c, cmd->argv[0], cmd->argv[1], NULL);
}

static enum step cmd_subscribe(struct client *c, struct cmd *cmd)
{
	return send_presence(c, cmd->argv[0], "subscribe", NULL);
}

static enum step cmd_approve(struct client *c, struct cmd *cmd)
{
	return send_presence(c, cmd->argv[0], "subscribed", NULL);
}

static enum step cmd_deny(struct client *c, struct cmd *cmd)
{
	return send_presence(c, cmd->argv[0], "unsubscribed", NULL);
}

static enum step cmd_unsubscribe(struct client *c, struct cmd *cmd)
{
	return send_presence(c, cmd->argv[0], "unsubscribe", NULL);
}

/* Send an IQ whose payload is <NAME xmlns=NS> (with an optional child), and
   remember its id in cmd->id. */
static enum step send_iq(struct client *c, struct cmd *cmd, const char *type,
                         const char *to, const char *name, const char *ns,
                         xmpp_stanza_t *child)
{
	xmpp_stanza_t *iq, *q;
	next_id(c, name, cmd->id, sizeof cmd->id);
	iq = xmpp_iq_new(c->ctx, type, cmd->id);
	q = xmpp_stanza_new(c->ctx);
	if (!iq || !q)
		return STEP_LOST;
	if (to)
		xmpp_stanza_set_to(iq, to);
	xmpp_stanza_set_name(q, name);
	xmpp_stanza_set_ns(q, ns);
	if (child)
		xmpp_stanza_add_child(q, child);
	xmpp_stanza_add_child(iq, q);
	xmpp_stanza_release(q);
	send_and_release(c, iq);
	return STEP_DONE;
}

static int ev_has_id(const struct event *e, const struct cmd *cmd)
{
	return strcmp(e->id, cmd->id) == 0;
}

/* Poll for the answer to the IQ in cmd->id; a result completes the command. */
static enum step poll_iq_answer(struct client *c, struct cmd *cmd)
{
	struct event *e = find_event(c, EV_IQ_RESULT, "*", ev_has_id, cmd);
	if (e) {
		e->used = 1;
		return STEP_DONE;
	}
	e = find_event(c, EV_ERROR, "*", ev_has_id, cmd);
	if (e) {
		e->used = 1;
		set_why(cmd, "the server answered with error %s", e->condition);
		return STEP_FAIL;
	}
	set_why(cmd, "no answer from the server");
	return STEP_PENDING;
}

static enum step roster_item_iq(struct client *c, struct cmd *cmd,
                                const char *jid, const char *subscription)
{
	xmpp_stanza_t *item = xmpp_stanza_new(c->ctx);
	enum step r;
	xmpp_stanza_set_name(item, "item");
	xmpp_stanza_set_attribute(item, "jid", jid);
	if (subscription)
		xmpp_stanza_set_attribute(item, "subscription", subscription);
	r = send_iq(c, cmd, "set", NULL, "query", NS_ROSTER, item);
	xmpp_stanza_release(item);
	return r == STEP_DONE ? STEP_PENDING : r;
}

static enum step cmd_roster_add(struct client *c, struct cmd *cmd)
{
	return roster_item_iq(c, cmd, cmd->argv[0], NULL);
}

static enum step cmd_roster_remove(struct client *c, struct cmd *cmd)
{
	return roster_item_iq(c, cmd, cmd->argv[0], "remove");
}

static enum step cmd_roster_get(struct client *c, struct cmd *cmd)
{
	enum step r = send_iq(c, cmd, "get", NULL, "query", NS_ROSTER, NULL);
	return r == STEP_DONE ? STEP_PENDING : r;
}

/* The roster result for cmd->id, or NULL (sets *r to the step). */
static xmpp_stanza_t *roster_result(struct client *c, struct cmd *cmd,
                                    enum step *r)
{
	struct event *e;
	*r = poll_iq_answer(c, cmd);
	if (*r != STEP_DONE)
		return NULL;
	for (e = c->head; e; e = e->next)
		if (e->kind == EV_IQ_RESULT && strcmp(e->id, cmd->id) == 0)
			return xmpp_stanza_get_child_by_name_and_ns(
			        e->stanza, "query", NS_ROSTER);
	return NULL;
}

static enum step poll_roster_get(struct client *c, struct cmd *cmd)
{
	enum step r;
	xmpp_stanza_t *q = roster_result(c, cmd, &r);
	if (q)
		print_roster_items(q, "roster");
	return r;
}

/* expect-roster JID STATE: STATE is none|to|from|both|absent, optionally
   followed by "+ask" (a subscription request is pending out). */
static enum step poll_expect_roster(struct client *c, struct cmd *cmd)
{
	enum step r;
	xmpp_stanza_t *q = roster_result(c, cmd, &r), *it;
	const char *want = cmd->argv[1];
	char have[64] = "absent";
	if (r != STEP_DONE)
		return r;
	if (q)
		print_roster_items(q, "roster");
	for (it = q ? xmpp_stanza_get_children(q) : NULL; it;
	     it = xmpp_stanza_get_next(it)) {
		const char *jid, *sub, *ask;
		if (!xmpp_stanza_is_tag(it) ||
		    strcmp(xmpp_stanza_get_name(it), "item") != 0)
			continue;
		jid = xmpp_stanza_get_attribute(it, "jid");
		if (!jid || strcmp(jid, cmd->argv[0]) != 0)
			continue;
		sub = xmpp_stanza_get_attribute(it, "subscription");
		ask = xmpp_stanza_get_attribute(it, "ask");
		snprintf(have, sizeof have, "%s%s", sub ? sub : "none",
		         ask && strcmp(ask, "subscribe") == 0 ? "+ask" : "");
		break;
	}
	if (strcmp(have, want) == 0)
		return STEP_DONE;
	set_why(cmd, "roster item %s is %s", cmd->argv[0], have);
	return STEP_FAIL;
}

static enum step cmd_ping(struct client *c, struct cmd *cmd)
{
	return send_iq(c, cmd, "get", cmd->argv[0], "ping", NS_PING, NULL);
}

static enum step cmd_raw(struct client *c, struct cmd *cmd)
{
	xmpp_send_raw(c->conn, cmd->argv[0], strlen(cmd->argv[0]));
	return STEP_DONE;
}

/* -- XEP-0050 ad-hoc commands -- */

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_DATA     "jabber:x:data"

/* Print a <command/> reply: status, notes, form fields. */
static void print_command(xmpp_stanza_t *command)
{
	xmpp_stanza_t *ch, *x, *f, *v;
	const char *status = xmpp_stanza_get_attribute(command, "status");
	printf("adhoc status=%s node=%s\n", status ? status : "",
	       xmpp_stanza_get_attribute(command, "node")
	               ? xmpp_stanza_get_attribute(command, "node")
	               : "");
	for (ch = xmpp_stanza_get_children(command); ch;
	     ch = xmpp_stanza_get_next(ch)) {
		const char *name = xmpp_stanza_get_name(ch);
		if (name && strcmp(name, "note") == 0) {
			char *t = xmpp_stanza_get_text(ch);
			const char *type =
			        xmpp_stanza_get_attribute(ch, "type");
			printf("adhoc-note type=%s text=",
			       type ? type : "info");
			put_value(t);
			putchar('\n');
			if (t)
				xmpp_free(xmpp_stanza_get_context(ch), t);
		}
	}
	x = xmpp_stanza_get_child_by_name_and_ns(command, "x", NS_DATA);
	for (f = x ? xmpp_stanza_get_children(x) : NULL; f;
	     f = xmpp_stanza_get_next(f)) {
		const char *name = xmpp_stanza_get_name(f), *var, *type;
		int first = 1;
		if (!name || strcmp(name, "field") != 0)
			continue;
		var = xmpp_stanza_get_attribute(f, "var");
		type = xmpp_stanza_get_attribute(f, "type");
		printf("adhoc-field var=%s type=%s value=", var ? var : "",
		       type ? type : "");
		for (v = xmpp_stanza_get_children(f); v;
		     v = xmpp_stanza_get_next(v)) {
			char *t;
			if (!xmpp_stanza_get_name(v) ||
			    strcmp(xmpp_stanza_get_name(v), "value") != 0)
				continue;
			t = xmpp_stanza_get_text(v);
			if (!first)
				putchar('|');
			put_value(t);
			first = 0;
			if (t)
				xmpp_free(xmpp_stanza_get_context(v), t);
		}
		printf(" options=");
		first = 1;
		for (v = xmpp_stanza_get_children(f); v;
		     v = xmpp_stanza_get_next(v)) {
			xmpp_stanza_t *ov;
			char *t;
			if (!xmpp_stanza_get_name(v) ||
			    strcmp(xmpp_stanza_get_name(v), "option") != 0)
				continue;
			ov = xmpp_stanza_get_child_by_name(v, "value");
			t = ov ? xmpp_stanza_get_text(ov) : NULL;
			if (!first)
				putchar('|');
			put_value(t);
			first = 0;
			if (t)
				xmpp_free(xmpp_stanza_get_context(v), t);
		}
		putchar('\n');
	}
}

static void add_text_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent,
                           const char *name, const char *text)
{
	xmpp_stanza_t *e = xmpp_stanza_new(ctx), *t = xmpp_stanza_new(ctx);
	xmpp_stanza_set_name(e, name);
	xmpp_stanza_set_text(t, text);
	xmpp_stanza_add_child(e, t);
	xmpp_stanza_release(t);
	xmpp_stanza_add_child(parent, e);
	xmpp_stanza_release(e);
}

/* The value given for VAR in the stage text "k=v;k=v1|v2" (malloc'd), or NULL.
 */
static char *stage_value(const char *stage, size_t len, const char *var)
{
	const char *p = stage, *end = stage + len;
	size_t vl = strlen(var);
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *item_end = semi ? semi : end;
		if ((size_t)(item_end - p) > vl && strncmp(p, var, vl) == 0 &&
		    p[vl] == '=') {
			size_t n = (size_t)(item_end - p - (ptrdiff_t)vl - 1);
			char *r = malloc(n + 1);
			if (!r)
				exit(EXIT_USAGE);
			memcpy(r, p + vl + 1, n);
			r[n] = '\0';
			return r;
		}
		p = item_end + 1;
	}
	return NULL;
}

/* Send <command node action [sessionid]/>, with a submitted form holding the
   fields of FORM (their current values) overridden by the stage text. */
static enum step adhoc_send(struct client *c, struct cmd *cmd,
                            const char *sessionid, xmpp_stanza_t *form,
                            const char *stage, size_t stage_len, int last)
{
	xmpp_stanza_t *iq, *command;
	next_id(c, "adhoc", cmd->id, sizeof cmd->id);
	iq = xmpp_iq_new(c->ctx, "set", cmd->id);
	command = xmpp_stanza_new(c->ctx);
	xmpp_stanza_set_to(iq, cmd->argv[0]);
	xmpp_stanza_set_name(command, "command");
	xmpp_stanza_set_ns(command, NS_COMMANDS);
	xmpp_stanza_set_attribute(command, "node", cmd->argv[1]);
	if (!sessionid) {
		xmpp_stanza_set_attribute(command, "action", "execute");
	} else {
		xmpp_stanza_t *x = xmpp_stanza_new(c->ctx), *f;
		xmpp_stanza_set_attribute(command, "sessionid", sessionid);
		xmpp_stanza_set_attribute(command, "action",
		                          last ? "complete" : "next");
		xmpp_stanza_set_name(x, "x");
		xmpp_stanza_set_ns(x, NS_DATA);
		xmpp_stanza_set_type(x, "submit");
		for (f = form ? xmpp_stanza_get_children(form) : NULL; f;
		     f = xmpp_stanza_get_next(f)) {
			const char *var, *ftype;
			xmpp_stanza_t *nf, *v;
			char *given;
			if (!xmpp_stanza_get_name(f) ||
			    strcmp(xmpp_stanza_get_name(f), "field") != 0)
				continue;
			var = xmpp_stanza_get_attribute(f, "var");
			ftype = xmpp_stanza_get_attribute(f, "type");
			if (!var || (ftype && strcmp(ftype, "fixed") == 0))
				continue;
			nf = xmpp_stanza_new(c->ctx);
			xmpp_stanza_set_name(nf, "field");
			xmpp_stanza_set_attribute(nf, "var", var);
			given = stage_value(stage, stage_len, var);
			if (given) {
				char *p = given, *bar;
				for (;;) {
					bar = strchr(p, '|');
					if (bar)
						*bar = '\0';
					if (*p || !bar)
						add_text_child(c->ctx, nf,
						               "value", p);
					if (!bar)
						break;
					p = bar + 1;
				}
				free(given);
			} else {
				for (v = xmpp_stanza_get_children(f); v;
				     v = xmpp_stanza_get_next(v)) {
					char *t;
					if (!xmpp_stanza_get_name(v) ||
					    strcmp(xmpp_stanza_get_name(v),
					           "value") != 0)
						continue;
					t = xmpp_stanza_get_text(v);
					add_text_child(c->ctx, nf, "value",
					               t ? t : "");
					if (t)
						xmpp_free(c->ctx, t);
				}
			}
			xmpp_stanza_add_child(x, nf);
			xmpp_stanza_release(nf);
		}
		xmpp_stanza_add_child(command, x);
		xmpp_stanza_release(x);
	}
	xmpp_stanza_add_child(iq, command);
	xmpp_stanza_release(command);
	send_and_release(c, iq);
	return STEP_PENDING;
}

/* adhoc JID NODE STAGES: execute command NODE at JID; while the reply is
   "executing" and a stage is left, submit its form with the fields of the
   stage ("var=value;var=v1|v2", stages separated by "//"; "-" submits
   nothing).  Every reply is printed (adhoc / adhoc-note / adhoc-field
   lines).  Met when the command completes without an error note. */
static enum step cmd_adhoc(struct client *c, struct cmd *cmd)
{
	cmd->stage = 0;
	return adhoc_send(c, cmd, NULL, NULL, NULL, 0, 0);
}

static enum step poll_adhoc(struct client *c, struct cmd *cmd)
{
	struct event *e = find_event(c, EV_IQ_RESULT, "*", ev_has_id, cmd);
	xmpp_stanza_t *command, *ch;
	const char *status, *stages = cmd->argv[2], *p, *next;
	int i, has_error = 0;
	if (!e) {
		e = find_event(c, EV_ERROR, "*", ev_has_id, cmd);
		if (e) {
			e->used = 1;
			printf("adhoc-error condition=%s\n", e->condition);
			set_why(cmd, "the server answered with error %s",
			        e->condition);
			return STEP_FAIL;
		}
		set_why(cmd, "no answer to the ad-hoc command");
		return STEP_PENDING;
	}
	e->used = 1;
	command = xmpp_stanza_get_child_by_name_and_ns(e->stanza, "command",
	                                               NS_COMMANDS);
	if (!command) {
		set_why(cmd, "the answer holds no <command/>");
		return STEP_FAIL;
	}
	print_command(command);
	status = xmpp_stanza_get_attribute(command, "status");
	for (ch = xmpp_stanza_get_children(command); ch;
	     ch = xmpp_stanza_get_next(ch))
		if (xmpp_stanza_get_name(ch) &&
		    strcmp(xmpp_stanza_get_name(ch), "note") == 0 &&
		    xmpp_stanza_get_attribute(ch, "type") &&
		    strcmp(xmpp_stanza_get_attribute(ch, "type"), "error") == 0)
			has_error = 1;
	if (status && strcmp(status, "executing") == 0) {
		/* find stage number cmd->stage */
		if (strcmp(stages, "-") == 0) {
			set_why(cmd, "the command wants a form and no stage "
			             "was given");
			return STEP_FAIL;
		}
		p = stages;
		for (i = 0; i < cmd->stage && p; i++) {
			p = strstr(p, "//");
			if (p)
				p += 2;
		}
		if (!p) {
			set_why(cmd,
			        "the command wants another form (stage %d) and "
			        "none was given",
			        cmd->stage + 1);
			return STEP_FAIL;
		}
		next = strstr(p, "//");
		cmd->stage++;
		return adhoc_send(
		        c, cmd, xmpp_stanza_get_attribute(command, "sessionid"),
		        xmpp_stanza_get_child_by_name_and_ns(command, "x",
		                                             NS_DATA),
		        p, next ? (size_t)(next - p) : strlen(p), next == NULL);
	}
	if (has_error) {
		set_why(cmd, "the command completed with an error note");
		return STEP_FAIL;
	}
	return STEP_DONE;
}

static enum step cmd_echo(struct client *c, struct cmd *cmd)
{
	(void)c;
	printf("echo ");
	put_value(cmd->argv[0]);
	putchar('\n');
	return STEP_DONE;
}

static enum step cmd_pending(struct client *c, struct cmd *cmd)
{
	(void)c;
	(void)cmd;
	return STEP_PENDING;
}

/* -- expectations -- */

static enum step take(struct event *e)
{
	if (!e)
		return STEP_PENDING;
	e->used = 1;
	return STEP_DONE;
}

static int ev_body_is(const struct event *e, const struct cmd *cmd)
{
	return value_match(cmd->argv[1], e->body);
}

static enum step poll_expect_message(struct client *c, struct cmd *cmd)
{
	set_why(cmd, "no message from %s with body '%s'", cmd->argv[0],
	        cmd->argv[1]);
	return take(find_event(c, EV_MESSAGE, cmd->argv[0], ev_body_is, cmd));
}

static int ev_condition_is(const struct event *e, const struct cmd *cmd)
{
	return value_match(cmd->argv[1], e->condition);
}

static enum step poll_expect_error(struct client *c, struct cmd *cmd)
{
	set_why(cmd, "no error %s from %s", cmd->argv[1], cmd->argv[0]);
	return take(
	        find_event(c, EV_ERROR, cmd->argv[0], ev_condition_is, cmd));
}

static int ev_type_is(const struct event *e, const struct cmd *cmd)
{
	return value_match(cmd->argv[1], e->type);
}

static enum step poll_expect_presence(struct client *c, struct cmd *cmd)
{
	set_why(cmd, "no presence of type %s from %s", cmd->argv[1],
	        cmd->argv[0]);
	return take(find_event(c, EV_PRESENCE, cmd->argv[0], ev_type_is, cmd));
}

static int ev_is_ping_result(const struct event *e, const struct cmd *cmd)
{
	(void)cmd;
	return strncmp(e->id, "ping-", 5) == 0;
}

static enum step poll_expect_pong(struct client *c, struct cmd *cmd)
{
	set_why(cmd, "no ping result from %s", cmd->argv[0]);
	return take(find_event(c, EV_IQ_RESULT, cmd->argv[0], ev_is_ping_result,
	                       cmd));
}

static int ev_is_subscription(const struct event *e, const struct cmd *cmd)
{
	(void)cmd;
	return strcmp(e->type, "available") != 0 &&
	       strcmp(e->type, "unavailable") != 0 &&
	       strcmp(e->type, "probe") != 0;
}

/* Fails as soon as a message, an error or a subscription presence from JID
   is in the queue (unused); succeeds when its duration has passed. */
static enum step poll_expect_silence(struct client *c, struct cmd *cmd)
{
	const char *pat = cmd->argv[0];
	struct event *e = find_event(c, EV_MESSAGE, pat, NULL, cmd);
	if (!e)
		e = find_event(c, EV_ERROR, pat, NULL, cmd);
	if (!e)
		e = find_event(c, EV_PRESENCE, pat, ev_is_subscription, cmd);
	if (e) {
		e->used = 1;
		set_why(cmd, "got a %s (type %s) from %s", e->stanza_name,
		        e->type, e->from);
		return STEP_FAIL;
	}
	return STEP_PENDING;
}

static const struct cmd_def commands[] = {
        {"send", 2, "TO BODY", "send a chat message", cmd_send, NULL, -1},
        {"message", 3, "TYPE TO BODY",
         "send a message of TYPE (chat, normal, headline, groupchat)",
         cmd_message, NULL, -1},
        {"presence", 1, "STATUS",
         "broadcast available presence with STATUS (may be \"\")", cmd_presence,
         NULL, -1},
        {"presence-to", 2, "JID TYPE",
         "send directed presence (available, unavailable, probe, ...)",
         cmd_presence_to, NULL, -1},
        {"subscribe", 1, "JID", "send presence type=subscribe", cmd_subscribe,
         NULL, -1},
        {"approve", 1, "JID", "send presence type=subscribed", cmd_approve,
         NULL, -1},
        {"deny", 1, "JID", "send presence type=unsubscribed", cmd_deny, NULL,
         -1},
        {"unsubscribe", 1, "JID", "send presence type=unsubscribe",
         cmd_unsubscribe, NULL, -1},
        {"roster-add", 1, "JID",
         "add JID to the roster (waits for the server's answer)",
         cmd_roster_add, poll_iq_answer, -1},
        {"roster-remove", 1, "JID",
         "remove JID from the roster (waits for the answer)", cmd_roster_remove,
         poll_iq_answer, -1},
        {"roster-get", 0, "", "fetch and print the roster", cmd_roster_get,
         poll_roster_get, -1},
        {"expect-roster", 2, "JID STATE",
         "fetch the roster; STATE is none|to|from|both|absent, +ask if a "
         "request is pending out",
         cmd_roster_get, poll_expect_roster, -1},
        {"ping", 1, "JID",
         "send an XEP-0199 ping (answers: expect-pong / expect-error-from)",
         cmd_ping, NULL, -1},
        {"expect-message", 2, "FROM BODY",
         "wait for a message from FROM with BODY (* = any)", cmd_pending,
         poll_expect_message, -1},
        {"expect-error-from", 2, "JID CONDITION",
         "wait for an error stanza from JID with CONDITION (* = any)",
         cmd_pending, poll_expect_error, -1},
        {"expect-presence", 2, "JID TYPE",
         "wait for presence from JID of TYPE (available, unavailable, "
         "subscribe, subscribed, ...)",
         cmd_pending, poll_expect_presence, -1},
        {"expect-pong", 1, "JID", "wait for the result of a ping to JID",
         cmd_pending, poll_expect_pong, -1},
        {"expect-silence", 2, "JID SECONDS",
         "fail if a message, error or subscription presence from JID arrives "
         "within SECONDS",
         cmd_pending, poll_expect_silence, 1},
        {"wait", 1, "SECONDS", "keep receiving for SECONDS", cmd_pending, NULL,
         0},
        {"raw", 1, "XML", "send XML as is", cmd_raw, NULL, -1},
        {"echo", 1, "TEXT", "print 'echo TEXT' (a marker in the output)",
         cmd_echo, NULL, -1},
        {"adhoc", 3, "JID NODE STAGES",
         "run XEP-0050 command NODE at JID; STAGES: forms to submit, "
         "\"var=v;var=v1|v2//...\" or \"-\"",
         cmd_adhoc, poll_adhoc, -1},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* JID patterns: "*" any, "*@domain" any address at domain, else full or bare.
 */
static void usage(FILE *f)
{
	size_t i;
	fprintf(f, "usage: xpclient --jid JID --password PW [--host ADDR] "
	           "[--port N]\n"
	           "                [--timeout SECONDS] [--cafile FILE | "
	           "--insecure] [--plain]\n"
	           "                [--resource RES] [--no-roster] "
	           "[--no-presence] [--verbose]\n"
	           "                COMMAND...\n"
	           "Commands (run in order after login; JID patterns in "
	           "expectations:\n"
	           "  * = anyone, *@DOMAIN = any address at DOMAIN, else full "
	           "or bare JID):\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-18s %-14s %s\n", commands[i].name,
		        commands[i].args, commands[i].help);
	fprintf(f, "Exit: 0 all expectations met, 1 unmet or timed out, 2 "
	           "usage/connection error.\n");
}

static const struct cmd_def *find_cmd(const char *name)
{
	size_t i;
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Parse SECONDS: a number in (0, max]. */
static int parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- main loop
 * ------------------------------------------------------------------- */

static void pump(struct client *c)
{
	xmpp_run_once(c->ctx, POLL_MS);
	fflush(stdout);
}

static void print_cmd(FILE *f, const struct cmd *cmd)
{
	int i;
	fputs(cmd->def->name, f);
	for (i = 0; i < cmd->def->nargs; i++)
		fprintf(f, " %s", cmd->argv[i]);
}

/* Run one command to completion; returns the exit code (0 on success). */
static int run_cmd(struct client *c, struct cmd *cmd)
{
	double limit = c->timeout;
	enum step r;
	if (cmd->def->duration_arg >= 0)
		parse_seconds(cmd->argv[cmd->def->duration_arg], MAX_TIMEOUT,
		              &limit);
	cmd->deadline = now_s() + limit;
	r = cmd->def->start(c, cmd);
	if (r == STEP_PENDING && cmd->def->poll)
		r = cmd->def->poll(c, cmd);
	for (;;) {
		if (r == STEP_DONE) {
			return EXIT_MET;
		}
		if (r == STEP_FAIL) {
			printf("unmet ");
			print_cmd(stdout, cmd);
			printf(": %s\n", cmd->why);
			return EXIT_UNMET;
		}
		if (r == STEP_LOST || c->disconnected) {
			printf("lost ");
			print_cmd(stdout, cmd);
			printf(": connection lost\n");
			return EXIT_USAGE;
		}
		if (now_s() >= cmd->deadline) {
			if (cmd->def->duration_arg >= 0)
				return EXIT_MET;
			printf("unmet ");
			print_cmd(stdout, cmd);
			printf(": timeout after %gs: %s\n", limit,
			       cmd->why[0] ? cmd->why : "");
			return EXIT_UNMET;
		}
		pump(c);
		r = cmd->def->poll ? cmd->def->poll(c, cmd) : STEP_PENDING;
	}
}

/* Wait (bounded) until the connection is closed. */
static void disconnect(struct client *c)
{
	double end = now_s() + 2.0;
	if (!c->disconnected &&
	    (c->connected || xmpp_conn_is_connecting(c->conn))) {
		/* do not print the expected disconnection */
		c->disconnected = 1;
		xmpp_disconnect(c->conn);
		while (!xmpp_conn_is_disconnected(c->conn) && now_s() < end)
			xmpp_run_once(c->ctx, POLL_MS);
	}
}

int main(int argc, char **argv)
{
	struct client c;
	const char *password = NULL, *host = NULL, *cafile = NULL,
	           *resource = NULL;
	char *full_jid = NULL;
	unsigned long port = 0;
	int insecure = 0, plain = 0, presence = 1, roster = 1, i, rc = EXIT_MET;
	struct cmd *cmds;
	int ncmds = 0;
	long flags;
	double end;
	xmpp_log_t *log = NULL;

	memset(&c, 0, sizeof c);
	c.timeout = DEFAULT_TIMEOUT;
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (strcmp(o, "--") == 0) {
			i++;
			break;
		} else if (strcmp(o, "--help") == 0) {
			usage(stdout);
			return EXIT_MET;
		} else if (strcmp(o, "--insecure") == 0) {
			insecure = 1;
			takes = 0;
		} else if (strcmp(o, "--plain") == 0) {
			plain = 1;
			takes = 0;
		} else if (strcmp(o, "--no-presence") == 0) {
			presence = 0;
			takes = 0;
		} else if (strcmp(o, "--no-roster") == 0) {
			roster = 0;
			takes = 0;
		} else if (strcmp(o, "--verbose") == 0) {
			c.verbose = 1;
			takes = 0;
		} else if (!v) {
			fprintf(stderr, "xpclient: %s needs a value\n", o);
			return EXIT_USAGE;
		} else if (strcmp(o, "--jid") == 0) {
			c.jid = v;
		} else if (strcmp(o, "--password") == 0) {
			password = v;
		} else if (strcmp(o, "--host") == 0) {
			host = v;
		} else if (strcmp(o, "--cafile") == 0) {
			cafile = v;
		} else if (strcmp(o, "--resource") == 0) {
			resource = v;
		} else if (strcmp(o, "--port") == 0) {
			char *e;
			port = strtoul(v, &e, 10);
			if (*e || port == 0 || port > 65535) {
				fprintf(stderr, "xpclient: bad port %s\n", v);
				return EXIT_USAGE;
			}
		} else if (strcmp(o, "--timeout") == 0) {
			if (parse_seconds(v, MAX_TIMEOUT, &c.timeout) ||
			    c.timeout <= 0) {
				fprintf(stderr,
				        "xpclient: --timeout must be in (0, "
				        "%g]\n",
				        MAX_TIMEOUT);
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "xpclient: unknown option %s\n", o);
			usage(stderr);
			return EXIT_USAGE;
		}
		i += takes;
	}
	if (!c.jid || !password || !strchr(c.jid, '@') || strchr(c.jid, '/')) {
		fprintf(stderr, "xpclient: --jid USER@DOMAIN and --password "
		                "are required\n");
		usage(stderr);
		return EXIT_USAGE;
	}

	/* Parse every command before connecting, so a typo fails fast. */
	cmds = calloc((size_t)argc, sizeof *cmds);
	if (!cmds)
		return EXIT_USAGE;
	while (i < argc) {
		const struct cmd_def *def = find_cmd(argv[i]);
		double secs;
		if (!def) {
			fprintf(stderr, "xpclient: unknown command '%s'\n",
			        argv[i]);
			usage(stderr);
			free(cmds);
			return EXIT_USAGE;
		}
		if (argc - i - 1 < def->nargs) {
			fprintf(stderr, "xpclient: %s needs %s\n", def->name,
			        def->args);
			free(cmds);
			return EXIT_USAGE;
		}
		if (def->duration_arg >= 0 &&
		    parse_seconds(argv[i + 1 + def->duration_arg], MAX_TIMEOUT,
		                  &secs)) {
			fprintf(stderr,
			        "xpclient: %s: SECONDS must be in [0, %g]\n",
			        def->name, MAX_TIMEOUT);
			free(cmds);
			return EXIT_USAGE;
		}
		cmds[ncmds].def = def;
		cmds[ncmds].argv = argv + i + 1;
		ncmds++;
		i += 1 + def->nargs;
	}

	xmpp_initialize();
	if (c.verbose)
		log = xmpp_get_default_logger(XMPP_LEVEL_DEBUG);
	c.ctx = xmpp_ctx_new(NULL, log);
	c.conn = c.ctx ? xmpp_conn_new(c.ctx) : NULL;
	if (!c.conn) {
		fprintf(stderr,
		        "xpclient: cannot create a libstrophe connection\n");
		free(cmds);
		return EXIT_USAGE;
	}
	flags = XMPP_CONN_FLAG_DISABLE_SM;
	flags |= plain ? XMPP_CONN_FLAG_DISABLE_TLS
	               : XMPP_CONN_FLAG_MANDATORY_TLS;
	if (insecure)
		flags |= XMPP_CONN_FLAG_TRUST_TLS;
	xmpp_conn_set_flags(c.conn, flags);
	if (resource) {
		size_t n = strlen(c.jid) + strlen(resource) + 2;
		full_jid = malloc(n);
		if (!full_jid)
			return EXIT_USAGE;
		snprintf(full_jid, n, "%s/%s", c.jid, resource);
	}
	xmpp_conn_set_jid(c.conn, full_jid ? full_jid : c.jid);
	xmpp_conn_set_pass(c.conn, password);
	if (cafile)
		xmpp_conn_set_cafile(c.conn, cafile);
	xmpp_conn_set_certfail_handler(c.conn, on_certfail);
	xmpp_handler_add(c.conn, on_message, NULL, "message", NULL, &c);
	xmpp_handler_add(c.conn, on_presence, NULL, "presence", NULL, &c);
	xmpp_handler_add(c.conn, on_iq, NULL, "iq", NULL, &c);

	if (xmpp_connect_client(c.conn, host, (unsigned short)port, on_conn,
	                        &c) != XMPP_EOK) {
		fprintf(stderr, "xpclient: cannot connect to %s\n",
		        host ? host : "the JID's domain");
		rc = EXIT_USAGE;
		goto out;
	}
	end = now_s() + c.timeout;
	while (!c.connected && !c.disconnected && now_s() < end)
		pump(&c);
	if (!c.connected) {
		fprintf(stderr, "xpclient: login as %s failed (%s)\n", c.jid,
		        c.disconnected ? "connection closed or refused, TLS or "
		                         "authentication failed"
		                       : "timeout");
		rc = EXIT_USAGE;
		goto out;
	}
	if (roster) {
		/* Like a real client: fetching the roster makes this session
		   "interested", so the server sends it roster pushes and the
		   subscription approvals of contacts. */
		struct cmd get;
		enum step r;
		memset(&get, 0, sizeof get);
		r = cmd_roster_get(&c, &get);
		while (r == STEP_PENDING && !c.disconnected && now_s() < end) {
			pump(&c);
			r = poll_roster_get(&c, &get);
		}
		if (r != STEP_DONE) {
			fprintf(stderr,
			        "xpclient: initial roster request failed: %s\n",
			        get.why[0] ? get.why : "timeout");
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (presence) {
		/* Initial presence; the server reflects it once it has
		 * processed it. */
		send_presence(&c, NULL, NULL, NULL);
		while (!c.self_presence_seen && !c.disconnected &&
		       now_s() < end)
			pump(&c);
		if (!c.self_presence_seen) {
			fprintf(stderr, "xpclient: initial presence was not "
			                "reflected in time\n");
			rc = EXIT_USAGE;
			goto out;
		}
	}
	printf("ready jid=%s\n", xmpp_conn_get_bound_jid(c.conn));

	for (i = 0; i < ncmds && rc == EXIT_MET; i++) {
		rc = run_cmd(&c, &cmds[i]);
		if (rc != EXIT_MET)
			fprintf(stderr, "xpclient: %s: command %d (%s) %s\n",
			        c.jid, i + 1, cmds[i].def->name,
			        rc == EXIT_UNMET ? "not met" : "failed");
	}
	/* Let the last stanzas leave before closing the stream. */
	end = now_s() + 1.0;
	while (!c.disconnected && xmpp_conn_send_queue_len(c.conn) > 0 &&
	       now_s() < end)
		pump(&c);
out:
	disconnect(&c);
	fflush(stdout);
	free_events(&c);
	xmpp_conn_release(c.conn);
	xmpp_ctx_free(c.ctx);
	xmpp_shutdown();
	free(full_jid);
	free(cmds);
	return rc;
}
