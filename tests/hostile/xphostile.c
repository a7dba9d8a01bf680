/*
 * xphostile: a scriptable raw s2s peer for the hostile-peer tests.
 *
 *   xphostile --connect ADDR [--port N] [--timeout SECS] [--deadline SECS]
 *             [--verbose] STEP...
 *
 * It opens one TCP connection to ADDR:PORT (default 5269) and plays the
 * STEPs in order, the way a lying or broken server would: it never checks
 * what it sends, so it can say things a real server would not.  Each step
 * that waits for an answer waits at most --timeout seconds (default 10);
 * the whole run is cut off after --deadline seconds (default 60).
 *
 * Steps (a "-" argument leaves the attribute or value out):
 *   header FROM TO         send a stream header; wait for the answer's
 *                          header.  Prints "stream: id=ID" or "stream: none".
 *   features               wait for <stream:features/>.  Prints "features:"
 *                          with "starttls" or "starttls-required",
 *                          "sasl:MECH,...", "dialback", "bidi", or "(none)";
 *                          "features: none" when none came.
 *   starttls CERT KEY      send <starttls/>; on <proceed/> do the TLS
 *                          handshake presenting CERT/KEY (PEM files) with the
 *                          last header's TO as SNI.  Prints "starttls:
 *                          proceed|failure|none", then "tls: ok" or
 *                          "tls: failed".
 *   auth-external AUTHZID  SASL EXTERNAL.  Prints "sasl: success",
 *                          "sasl: failure CONDITION" or "sasl: none".
 *   db-result FROM TO KEY  send <db:result/>; KEY "secret:S" is the key a
 *                          Prosody with dialback_secret S makes for this
 *                          stream.  Prints "db-result: FROM TYPE|none".
 *   db-verify FROM TO ID KEY  send <db:verify/>.  Prints
 *                          "db-verify: FROM TYPE|none".
 *   bidi                   send <bidi xmlns='urn:xmpp:bidi'/> (XEP-0288).
 *   msg FROM TO BODY       send a chat message.
 *   send TEXT              send TEXT as it is.
 *   repeat N TEXT          send TEXT N times (at most 16 MB in all).
 *   expect REGEX           wait for text matching the extended REGEX in what
 *                          came since the last matched step.  Prints
 *                          "expect: ok REGEX" or "expect: unmet REGEX".
 *   absent REGEX           check that nothing received so far (the whole
 *                          connection) matches REGEX.  Prints "absent: ok
 *                          REGEX" or "absent: seen REGEX" (unmet).
 *   wait SECS              keep reading for SECS seconds.
 *   wait-close SECS        wait until the server closes the connection.
 *                          Prints "wait-close: closed" or "wait-close: open".
 *   close                  send </stream:stream> and wait (bounded) for the
 *                          server to close.
 *
 * Whenever it happens, it prints "stream-error: CONDITION" (and
 * "stream-error-text: TEXT"), "stream-end" for </stream:stream> and
 * "closed: after N.N s" (since the connection was made) when it ends.  Steps
 * after the connection closed are skipped ("skipped: STEP").  Last line: "end:
 * open" or "end: closed".
 *
 * Exit status: 0 every step ran and every expect matched, 1 an expect was
 * not met, 2 usage or connection error, 3 the deadline cut the run off.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#define EXIT_OK       0
#define EXIT_UNMET    1
#define EXIT_USAGE    2
#define EXIT_DEADLINE 3

#define MAX_BUF     (8u * 1024 * 1024)
#define MAX_REPEAT  (16u * 1024 * 1024)
#define MAX_ATTR    1024
#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define STREAM_OPEN "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "

struct peer {
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;
	char *buf; /* everything received, NUL-terminated */
	size_t len, cap;
	size_t cur;  /* start of the text no step has consumed yet */
	size_t scan; /* stream errors are reported up to here */
	int closed;
	int stream_end;
	double timeout;
	int verbose;
	double t0; /* when the connection was made */
	char stream_id[MAX_ATTR];
	char last_to[MAX_ATTR];
};

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_deadline(int sig)
{
	static const char msg[] = "deadline: exceeded\nend: cut off\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
		_exit(EXIT_DEADLINE);
	_exit(EXIT_DEADLINE);
}

/* ---- received text ------------------------------------------------------- */

/* Copy the value of attribute name from the start tag [tag, tag + n). */
static int get_attr(const char *tag, size_t n, const char *name, char *val,
                    size_t valsz)
{
	size_t nl = strlen(name), i;

	for (i = 1; i + nl + 2 < n; i++) {
		const char *p = tag + i, *end;
		char q;

		if ((tag[i - 1] != ' ' && tag[i - 1] != '\t' &&
		     tag[i - 1] != '\n') ||
		    strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		q = p[nl + 1];
		if (q != '\'' && q != '"')
			continue;
		p += nl + 2;
		end = memchr(p, q, (size_t)(tag + n - p));
		if (end == NULL || (size_t)(end - p) >= valsz)
			return 0;
		memcpy(val, p, (size_t)(end - p));
		val[end - p] = '\0';
		return 1;
	}
	return 0;
}

/* The start tag of the first element named name at or after from:
 * returns its offset and sets *taglen, or -1. */
static long find_tag(const struct peer *p, size_t from, const char *name,
                     size_t *taglen)
{
	size_t nl = strlen(name);
	const char *s = p->buf + from;

	while ((s = strstr(s, name)) != NULL) {
		const char *gt;
		char c = s[nl];

		if (s > p->buf && s[-1] == '<' &&
		    (c == ' ' || c == '>' || c == '/' || c == '\t' ||
		     c == '\n')) {
			gt = strchr(s, '>');
			if (gt == NULL)
				return -1; /* incomplete */
			*taglen = (size_t)(gt + 1 - (s - 1));
			return (long)(s - 1 - p->buf);
		}
		s += nl;
	}
	return -1;
}

/* Report stream errors and the stream end found in new text. */
static void scan_events(struct peer *p)
{
	for (;;) {
		char *e = strstr(p->buf + p->scan, "<stream:error");
		char *end, *c, *t;
		size_t n;

		if (e == NULL)
			break;
		end = strstr(e, "</stream:error>");
		if (end == NULL)
			return; /* wait for the rest */
		c = strchr(e, '>');
		c = c ? strchr(c, '<') : NULL;
		if (c && c < end) {
			n = strcspn(c + 1, " />\t\n");
			out("stream-error: %.*s", (int)n, c + 1);
		} else {
			out("stream-error: (none)");
		}
		t = strstr(e, "<text");
		if (t && t < end && (t = strchr(t, '>')) != NULL && t < end &&
		    t[-1] != '/') {
			char *te = strstr(t, "</text>");

			if (te && te < end)
				out("stream-error-text: %.*s",
				    (int)(te - t - 1), t + 1);
		}
		p->scan = (size_t)(end - p->buf) + strlen("</stream:error>");
	}
	if (!p->stream_end && strstr(p->buf + p->scan, "</stream:stream>")) {
		p->stream_end = 1;
		out("stream-end");
	}
}

static void append(struct peer *p, const char *data, size_t n)
{
	size_t i;

	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 65536;
		char *nb;

		while (cap < p->len + n + 1)
			cap *= 2;
		nb = realloc(p->buf, cap);
		if (nb == NULL) {
			out("error: out of memory");
			exit(EXIT_USAGE);
		}
		p->buf = nb;
		p->cap = cap;
	}
	for (i = 0; i < n; i++) /* keep the buffer one C string */
		p->buf[p->len + i] = data[i] ? data[i] : '?';
	p->len += n;
	p->buf[p->len] = '\0';
	if (p->verbose && n > 0)
		fprintf(stderr, "<<< %.*s\n", (int)n, data);
}

static void mark_closed(struct peer *p)
{
	if (p->closed)
		return;
	p->closed = 1;
	scan_events(p);
	out("closed: after %.1f s", now() - p->t0);
}

/* ---- I/O
 * --------------------------------------------------------------------- */

/* Read what is there, waiting until deadline: 1 data, 0 timeout, -1 closed. */
static int read_more(struct peer *p, double deadline)
{
	char chunk[16384];

	if (p->closed)
		return -1;
	for (;;) {
		struct pollfd pfd = {p->fd, POLLIN, 0};
		double left = deadline - now();
		int r;

		if (!(p->ssl && SSL_pending(p->ssl) > 0)) {
			if (left <= 0)
				return 0;
			r = poll(&pfd, 1, (int)(left * 1000) + 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				return 0;
		}
		if (p->ssl) {
			int err;

			r = SSL_read(p->ssl, chunk, sizeof chunk);
			if (r <= 0) {
				err = SSL_get_error(p->ssl, r);
				if (err == SSL_ERROR_WANT_READ ||
				    err == SSL_ERROR_WANT_WRITE)
					continue;
				ERR_clear_error();
				mark_closed(p);
				return -1;
			}
		} else {
			r = (int)recv(p->fd, chunk, sizeof chunk, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				mark_closed(p);
				return -1;
			}
		}
		if (p->len + (size_t)r > MAX_BUF) {
			out("error: the server sent more than %u bytes",
			    MAX_BUF);
			mark_closed(p);
			return -1;
		}
		append(p, chunk, (size_t)r);
		scan_events(p);
		return 1;
	}
}

/* Send everything (reading meanwhile, so a server that talks back while we
 * push a large stanza cannot deadlock us): 0 sent, -1 closed or timed out. */
static int send_all(struct peer *p, const char *data, size_t n)
{
	size_t done = 0;
	double deadline = now() + p->timeout;

	if (p->verbose)
		fprintf(stderr, ">>> %.*s\n", (int)(n > 2000 ? 2000 : n), data);
	while (done < n) {
		struct pollfd pfd = {p->fd, POLLIN | POLLOUT, 0};
		double left = deadline - now();
		int r;

		if (p->closed)
			return -1;
		if (left <= 0) {
			out("error: could not send for %.0f s", p->timeout);
			return -1;
		}
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (read_more(p, now() + 0.01) < 0)
				return -1;
		}
		if (!(pfd.revents & POLLOUT))
			continue;
		if (p->ssl) {
			r = SSL_write(p->ssl, data + done, (int)(n - done));
			if (r <= 0) {
				int err = SSL_get_error(p->ssl, r);

				if (err == SSL_ERROR_WANT_READ ||
				    err == SSL_ERROR_WANT_WRITE)
					continue;
				ERR_clear_error();
				mark_closed(p);
				return -1;
			}
		} else {
			r = (int)send(p->fd, data + done, n - done,
			              MSG_NOSIGNAL);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r < 0) {
				mark_closed(p);
				return -1;
			}
		}
		done += (size_t)r;
	}
	return 0;
}

static int send_str(struct peer *p, const char *s)
{
	return send_all(p, s, strlen(s));
}

/* Wait until find() sees what it looks for (>= 0: its offset), the server
 * closes or timeout seconds pass (-1). */
typedef long (*finder)(struct peer *p, void *arg);

static long await(struct peer *p, finder find, void *arg, double timeout)
{
	double deadline = now() + timeout;
	long at;

	for (;;) {
		at = find(p, arg);
		if (at >= 0)
			return at;
		if (read_more(p, deadline) <= 0)
			return find(p, arg);
	}
}

/* ---- finders
 * ------------------------------------------------------------------ */

struct tag_query {
	const char *name; /* element name with prefix, e.g. "db:result" */
	const char *attr; /* optional: attribute that must equal value */
	const char *value;
	int need_end;          /* also wait for the end of the element */
	size_t taglen, endoff; /* results */
};

static long find_query(struct peer *p, void *arg)
{
	struct tag_query *q = arg;
	size_t from = p->cur;

	for (;;) {
		char val[MAX_ATTR];
		long at = find_tag(p, from, q->name, &q->taglen);

		if (at < 0)
			return -1;
		from = (size_t)at + q->taglen;
		if (q->attr && (!get_attr(p->buf + at, q->taglen, q->attr, val,
		                          sizeof val) ||
		                strcmp(val, q->value) != 0))
			continue;
		q->endoff = from;
		if (q->need_end && p->buf[from - 2] != '/') {
			char close[64];
			char *e;

			snprintf(close, sizeof close, "</%s>", q->name);
			e = strstr(p->buf + from, close);
			if (e == NULL)
				return -1;
			q->endoff = (size_t)(e - p->buf) + strlen(close);
		}
		return at;
	}
}

static long find_first_of(struct peer *p, void *arg)
{
	const char *const *names = arg;
	long best = -1;
	size_t i, tl;

	for (i = 0; names[i]; i++) {
		long at = find_tag(p, p->cur, names[i], &tl);

		if (at >= 0 && (best < 0 || at < best))
			best = at;
	}
	return best;
}

static long find_regex(struct peer *p, void *arg)
{
	regmatch_t m;

	if (regexec(arg, p->buf + p->cur, 1, &m, 0) != 0)
		return -1;
	return (long)(p->cur + (size_t)m.rm_eo);
}

/* ---- steps
 * ------------------------------------------------------------------- */

static const char *opt(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

/* Send printf-formatted text of any length: 0 sent, -1 not. */
static int send_fmt(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (text = malloc((size_t)n + 1)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = send_all(p, text, (size_t)n);
	free(text);
	return r;
}

static int step_header(struct peer *p, const char *from, const char *to)
{
	struct tag_query q = {"stream:stream", NULL, NULL, 0, 0, 0};
	long at;

	snprintf(p->last_to, sizeof p->last_to, "%s", opt(to) ? to : "");
	p->cur = p->len;
	p->stream_id[0] = '\0';
	if (send_fmt(p,
	             STREAM_OPEN
	             "xmlns:stream='http://etherx.jabber.org/streams' "
	             "xmlns:db='jabber:server:dialback' "
	             "version='1.0'%s%s%s%s%s%s>",
	             opt(from) ? " from='" : "", opt(from) ? from : "",
	             opt(from) ? "'" : "", opt(to) ? " to='" : "",
	             opt(to) ? to : "", opt(to) ? "'" : "") < 0)
		return 0;
	at = await(p, find_query, &q, p->timeout);
	if (at < 0) {
		out("stream: none");
		return 0;
	}
	if (!get_attr(p->buf + at, q.taglen, "id", p->stream_id,
	              sizeof p->stream_id))
		p->stream_id[0] = '\0';
	p->cur = (size_t)at + q.taglen;
	out("stream: id=%s", p->stream_id[0] ? p->stream_id : "(none)");
	return 0;
}

static int step_features(struct peer *p)
{
	struct tag_query q = {"stream:features", NULL, NULL, 1, 0, 0};
	char line[512] = "features:";
	char *f, *s, *e;
	long at = await(p, find_query, &q, p->timeout);

	if (at < 0) {
		out("features: none");
		return 0;
	}
	f = p->buf + at;
	e = p->buf + q.endoff;
	s = strstr(f, NS_TLS);
	if (s && s < e) {
		char *req = strstr(s, "<required");
		char *end = strstr(s, "</starttls>");

		strcat(line, req && req < e && (!end || req < end)
		                     ? " starttls-required"
		                     : " starttls");
	}
	s = strstr(f, "<mechanisms");
	if (s && s < e) {
		const char *sep = " sasl:";

		while ((s = strstr(s, "<mechanism>")) != NULL && s < e) {
			size_t n;

			s += strlen("<mechanism>");
			n = strcspn(s, "<");
			if (strlen(line) + n + 8 < sizeof line) {
				strcat(line, sep);
				strncat(line, s, n);
			}
			sep = ",";
		}
	}
	s = strstr(f, "urn:xmpp:features:dialback");
	if (s && s < e)
		strcat(line, " dialback");
	s = strstr(f, "urn:xmpp:features:bidi");
	if (s && s < e)
		strcat(line, " bidi");
	if (strcmp(line, "features:") == 0)
		strcat(line, " (none)");
	out("%s", line);
	p->cur = q.endoff;
	return 0;
}

static int tls_handshake(struct peer *p, const char *cert, const char *key)
{
	double deadline = now() + p->timeout;

	p->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (p->ssl_ctx == NULL)
		return -1;
	SSL_CTX_set_verify(p->ssl_ctx, SSL_VERIFY_NONE, NULL);
	if (opt(cert) &&
	    (SSL_CTX_use_certificate_chain_file(p->ssl_ctx, cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(p->ssl_ctx, opt(key) ? key : cert,
	                                 SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(p->ssl_ctx) != 1)) {
		out("error: cannot use certificate %s / key %s", cert, key);
		return -2;
	}
	p->ssl = SSL_new(p->ssl_ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1)
		return -1;
	SSL_set_mode(p->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                             SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (p->last_to[0])
		SSL_set_tlsext_host_name(p->ssl, p->last_to);
	for (;;) {
		struct pollfd pfd = {p->fd, 0, 0};
		int r = SSL_connect(p->ssl), err;
		double left = deadline - now();

		if (r == 1)
			return 0;
		err = SSL_get_error(p->ssl, r);
		if (err == SSL_ERROR_WANT_READ)
			pfd.events = POLLIN;
		else if (err == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else
			return -1;
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) == 0)
			return -1;
	}
}

static int step_starttls(struct peer *p, const char *cert, const char *key)
{
	static const char *const names[] = {"proceed", "failure", NULL};
	long at;
	int r;

	if (send_str(p, "<starttls xmlns='" NS_TLS "'/>") < 0)
		return 0;
	at = await(p, find_first_of, (void *)names, p->timeout);
	if (at < 0) {
		out("starttls: none");
		return 0;
	}
	if (strncmp(p->buf + at, "<failure", 8) == 0) {
		out("starttls: failure");
		p->cur = (size_t)at + 8;
		return 0;
	}
	out("starttls: proceed");
	p->cur = p->len;
	r = tls_handshake(p, cert, key);
	if (r == -2)
		return EXIT_USAGE;
	if (r < 0) {
		unsigned long e = ERR_get_error();

		out("tls: failed %s", e ? ERR_reason_error_string(e) : "");
		ERR_clear_error();
		if (p->ssl) {
			SSL_free(p->ssl);
			p->ssl = NULL;
		}
		mark_closed(p);
		return 0;
	}
	out("tls: ok");
	return 0;
}

static void base64(const char *in, char *outbuf, size_t outsz)
{
	size_t n = strlen(in);

	if (n == 0 || 4 * ((n + 2) / 3) + 1 > outsz) {
		snprintf(outbuf, outsz, "=");
		return;
	}
	EVP_EncodeBlock((unsigned char *)outbuf, (const unsigned char *)in,
	                (int)n);
}

static int step_auth_external(struct peer *p, const char *authzid)
{
	static const char *const names[] = {"success", "failure", NULL};
	char b64[2 * MAX_ATTR], msg[3 * MAX_ATTR];
	long at;

	base64(opt(authzid) ? authzid : "", b64, sizeof b64);
	snprintf(msg, sizeof msg,
	         "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%s</auth>",
	         b64);
	if (send_str(p, msg) < 0)
		return 0;
	at = await(p, find_first_of, (void *)names, p->timeout);
	if (at < 0) {
		out("sasl: none");
		return 0;
	}
	if (strncmp(p->buf + at, "<success", 8) == 0) {
		out("sasl: success");
	} else {
		char *c = strchr(p->buf + at, '>');
		size_t n = 0;

		if (c && c[-1] != '/' && c[1] == '<' && c[2] != '/')
			n = strcspn(c + 2, " />\t\n");
		out("sasl: failure %.*s", (int)n, n ? c + 2 : "(none)");
	}
	p->cur = (size_t)at + 8;
	return 0;
}

/* HMAC-SHA256 keyed with hex(SHA-256(secret)) over "TO FROM ID", in hex:
 * the key of Prosody's mod_dialback with dialback_secret = secret. */
static void dialback_key(const char *secret, const char *to, const char *from,
                         const char *id, char *hex, size_t hexsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char khex[2 * 32 + 1], msg[3 * MAX_ATTR + 4];

	EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && 2 * i + 2 < sizeof khex; i++)
		snprintf(khex + 2 * i, 3, "%02x", md[i]);
	snprintf(msg, sizeof msg, "%s %s %s", to, from, id);
	HMAC(EVP_sha256(), khex, (int)strlen(khex), (unsigned char *)msg,
	     strlen(msg), md, &mdlen);
	for (i = 0; i < mdlen && 2 * i + 2 < hexsz; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Wait for the server's <NAME from=TO to=FROM type=...> and print it as
 * "LABEL: FROM TYPE". */
static void await_verdict(struct peer *p, const char *name, const char *label,
                          const char *from)
{
	struct tag_query q = {name, "to", from, 0, 0, 0};
	char type[64];
	long at = await(p, find_query, &q, p->timeout);

	if (at < 0) {
		out("%s: %s none", label, from);
		return;
	}
	if (!get_attr(p->buf + at, q.taglen, "type", type, sizeof type))
		snprintf(type, sizeof type, "untyped");
	out("%s: %s %s", label, from, type);
	p->cur = q.endoff;
}

static int step_db_result(struct peer *p, const char *from, const char *to,
                          const char *key)
{
	char k[2 * EVP_MAX_MD_SIZE + 1] = "";

	if (strncmp(key, "secret:", 7) == 0)
		dialback_key(key + 7, to, from, p->stream_id, k, sizeof k);
	if (send_fmt(p, "<db:result from='%s' to='%s'>%s</db:result>", from, to,
	             strncmp(key, "secret:", 7) == 0 ? k : key) == 0)
		await_verdict(p, "db:result", "db-result", from);
	return 0;
}

static int step_db_verify(struct peer *p, const char *from, const char *to,
                          const char *id, const char *key)
{
	if (send_fmt(p, "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>",
	             from, to, id, key) == 0)
		await_verdict(p, "db:verify", "db-verify", from);
	return 0;
}

static int step_expect(struct peer *p, const char *re)
{
	regex_t rx;
	long at;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) != 0) {
		out("error: bad regex %s", re);
		return EXIT_USAGE;
	}
	at = await(p, find_regex, &rx, p->timeout);
	regfree(&rx);
	if (at < 0) {
		out("expect: unmet %s", re);
		return EXIT_UNMET;
	}
	p->cur = (size_t)at;
	out("expect: ok %s", re);
	return 0;
}

static int step_absent(struct peer *p, const char *re)
{
	regex_t rx;
	int seen;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB) != 0) {
		out("error: bad regex %s", re);
		return EXIT_USAGE;
	}
	seen = p->buf && regexec(&rx, p->buf, 0, NULL, 0) == 0;
	regfree(&rx);
	out("absent: %s %s", seen ? "seen" : "ok", re);
	return seen ? EXIT_UNMET : 0;
}

static long never(struct peer *p, void *arg)
{
	(void)p;
	(void)arg;
	return -1;
}

static int step_wait(struct peer *p, double secs)
{
	await(p, never, NULL, secs);
	return 0;
}

static int step_wait_close(struct peer *p, double secs)
{
	await(p, never, NULL, secs);
	out("wait-close: %s", p->closed ? "closed" : "open");
	return 0;
}

static int step_repeat(struct peer *p, const char *count, const char *text)
{
	char *endp;
	unsigned long n = strtoul(count, &endp, 10), i;
	size_t tl = strlen(text);
	char *all;

	if (*endp || tl == 0 || n == 0 || n > MAX_REPEAT / tl) {
		out("error: repeat %s: at most %u bytes in all", count,
		    MAX_REPEAT);
		return EXIT_USAGE;
	}
	all = malloc(n * tl);
	if (all == NULL)
		return EXIT_USAGE;
	for (i = 0; i < n; i++)
		memcpy(all + i * tl, text, tl);
	send_all(p, all, n * tl);
	free(all);
	return 0;
}

/* ---- the script
 * ---------------------------------------------------------------- */

struct step_def {
	const char *name;
	int nargs;
	int needs_stream; /* skipped once the connection is closed */
};

static const struct step_def steps[] = {
        {"header", 2, 1},        {"features", 0, 1},   {"starttls", 2, 1},
        {"auth-external", 1, 1}, {"db-result", 3, 1},  {"db-verify", 4, 1},
        {"bidi", 0, 1},          {"msg", 3, 1},        {"send", 1, 1},
        {"repeat", 2, 1},        {"expect", 1, 0},     {"absent", 1, 0},
        {"wait", 1, 0},          {"wait-close", 1, 0}, {"close", 0, 1},
};

static const struct step_def *lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (strcmp(steps[i].name, name) == 0)
			return &steps[i];
	return NULL;
}

static double seconds(const char *s)
{
	char *end;
	double d = strtod(s, &end);

	if (*end || !(d >= 0) || d > 600)
		return -1;
	return d;
}

static int run_step(struct peer *p, const char *name, char **a)
{
	if (strcmp(name, "header") == 0)
		return step_header(p, a[0], a[1]);
	if (strcmp(name, "features") == 0)
		return step_features(p);
	if (strcmp(name, "starttls") == 0)
		return step_starttls(p, a[0], a[1]);
	if (strcmp(name, "auth-external") == 0)
		return step_auth_external(p, a[0]);
	if (strcmp(name, "db-result") == 0)
		return step_db_result(p, a[0], a[1], a[2]);
	if (strcmp(name, "db-verify") == 0)
		return step_db_verify(p, a[0], a[1], a[2], a[3]);
	if (strcmp(name, "bidi") == 0)
		return send_str(p, "<bidi xmlns='urn:xmpp:bidi'/>"), 0;
	if (strcmp(name, "msg") == 0) {
		return send_fmt(p,
		                "<message from='%s' to='%s' type='chat' "
		                "id='xph%ld'><body>%s</body></message>",
		                a[0], a[1], (long)getpid(), a[2]),
		       0;
	}
	if (strcmp(name, "send") == 0)
		return send_str(p, a[0]), 0;
	if (strcmp(name, "repeat") == 0)
		return step_repeat(p, a[0], a[1]);
	if (strcmp(name, "expect") == 0)
		return step_expect(p, a[0]);
	if (strcmp(name, "absent") == 0)
		return step_absent(p, a[0]);
	if (strcmp(name, "wait") == 0 || strcmp(name, "wait-close") == 0) {
		double s = seconds(a[0]);

		if (s < 0) {
			out("error: %s: bad number of seconds '%s'", name,
			    a[0]);
			return EXIT_USAGE;
		}
		return name[4] ? step_wait_close(p, s) : step_wait(p, s);
	}
	/* close */
	if (send_str(p, "</stream:stream>") == 0)
		step_wait_close(p, p->timeout);
	return 0;
}

static int connect_to(const char *addr, int port, double timeout)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t elen = sizeof err;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		out("error: not an IPv4 address: %s", addr);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)(timeout * 1000)) != 1)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err != 0) {
			errno = err;
			goto fail;
		}
	}
	return fd;
fail:
	out("error: cannot connect to %s:%d: %s", addr, port,
	    errno ? strerror(errno) : "timed out");
	if (fd >= 0)
		close(fd);
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: xphostile --connect ADDR [--port N] [--timeout SECS] "
	        "[--deadline SECS] [--verbose] STEP...\n"
	        "steps: header FROM TO | features | starttls CERT KEY | "
	        "auth-external AUTHZID |\n"
	        "  db-result FROM TO KEY | db-verify FROM TO ID KEY | bidi | "
	        "msg FROM TO BODY |\n"
	        "  send TEXT | repeat N TEXT | expect REGEX | wait SECS | "
	        "absent REGEX |\n  wait-close SECS | close\n"
	        "(\"-\" leaves an attribute out; see the comment at the top "
	        "of xphostile.c)\n");
}

int main(int argc, char **argv)
{
	struct peer p;
	const char *addr = NULL;
	double deadline = 60;
	int port = 5269, i, rc = EXIT_OK, first;

	memset(&p, 0, sizeof p);
	p.fd = -1;
	p.timeout = 10;
	append(&p, "", 0); /* the buffer is always a C string */
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i];

		if (strcmp(o, "--verbose") == 0) {
			p.verbose = 1;
			continue;
		}
		if (strcmp(o, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return EXIT_USAGE;
		}
		if (strcmp(o, "--connect") == 0)
			addr = argv[++i];
		else if (strcmp(o, "--port") == 0)
			port = atoi(argv[++i]);
		else if (strcmp(o, "--timeout") == 0)
			p.timeout = seconds(argv[++i]);
		else if (strcmp(o, "--deadline") == 0)
			deadline = seconds(argv[++i]);
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (addr == NULL || port <= 0 || port > 65535 || p.timeout <= 0 ||
	    deadline <= 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* Check the whole script before connecting. */
	for (first = i; i < argc;) {
		const struct step_def *d = lookup(argv[i]);

		if (d == NULL ||
		    i + d->nargs >= argc + (d->nargs > 0 ? 0 : 1)) {
			fprintf(stderr,
			        "xphostile: bad or incomplete step '%s'\n",
			        argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
		i += 1 + d->nargs;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_deadline);
	alarm((unsigned)deadline + 1);

	p.fd = connect_to(addr, port, p.timeout);
	if (p.fd < 0)
		return EXIT_USAGE;
	p.t0 = now();
	out("connected: %s:%d", addr, port);
	for (i = first; i < argc && rc != EXIT_USAGE;) {
		const struct step_def *d = lookup(argv[i]);
		int r;

		if (p.closed && d->needs_stream) {
			out("skipped: %s", argv[i]);
		} else {
			r = run_step(&p, argv[i], argv + i + 1);
			if (r > rc)
				rc = r;
		}
		i += 1 + d->nargs;
	}
	/* Anything that was already on its way (e.g. a stream error). */
	if (!p.closed)
		read_more(&p, now() + 0.2);
	scan_events(&p);
	out("end: %s", p.closed ? "closed" : "open");
	if (p.ssl) {
		SSL_free(p.ssl);
	}
	SSL_CTX_free(p.ssl_ctx);
	close(p.fd);
	free(p.buf);
	return rc;
}
