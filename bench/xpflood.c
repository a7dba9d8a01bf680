/*
 * xpflood: a flood of unauthorised incoming s2s connections (OpenSSL).
 *
 *   xpflood --addr IPV4 [--port N] --from DOMAIN --to DOMAIN -n N
 *           [-c CONCURRENCY] [--timeout SECONDS] [--conn-timeout SECONDS]
 *           [--pid SERVER_PID] [--after-tls close|dialback]
 *
 * Opens N connections to ADDR:PORT, at most CONCURRENCY at a time.  On each:
 * the stream header from DOMAIN to DOMAIN; if the features offer STARTTLS,
 * STARTTLS and a TLS handshake (no certificate checks, no client
 * certificate), a new stream header, then, when the features come, either
 * closes the stream itself (--after-tls close, the default: a peer that
 * cannot authenticate) or asks for dialback (--after-tls dialback: the
 * server then decides).  Then it waits until the server closes.
 *
 * A connection counts as "refused" when the server closed it (stream error,
 * </stream:stream> or EOF), split by whether that happened before TLS; as
 * "gave up" when the tool closed it after the features; as "failed" on a
 * connect or TLS error or a per-connection timeout.  With --pid, the
 * server's CPU time (utime + stime from /proc/PID/stat) before and after
 * gives the CPU per connection.  Everything is bounded: N, CONCURRENCY,
 * --timeout (whole run, default 60 s) and --conn-timeout (default 10 s).
 * Output: one line of key=value words.  Exit status 0 when every connection
 * ended (refused or gave up), 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_N    1000000L
#define MAX_CONC 1000
#define BUF      8192

enum state {
	S_FREE,
	S_CONNECT,    /* waiting for connect() */
	S_FEATURES,   /* plain stream sent, waiting for features */
	S_PROCEED,    /* <starttls/> sent */
	S_HANDSHAKE,  /* TLS handshake */
	S_TLS_FEAT,   /* stream over TLS sent, waiting for features */
	S_WAIT_CLOSE, /* waiting for the server to close */
};

struct conn {
	enum state st;
	int fd;
	SSL *ssl;
	double deadline;
	char buf[BUF];
	size_t len;
	int tls;
	int gave_up; /* we sent </stream:stream> ourselves */
};

static struct {
	const char *from, *to;
	int dialback;
	SSL_CTX *sslctx;
	long refused_plain, refused_tls, gave_up, failed, timeouts,
	        tls_handshakes;
} g;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of PID in clock ticks, or -1. */
static long long cpu_ticks(long pid)
{
	char path[64], line[2048], *p;
	unsigned long long ut, stt;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(line, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	p += 2;
	/* Fields after the name: state is field 3; utime 14, stime 15. */
	for (i = 3; i < 14 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu %llu", &ut, &stt) != 2)
		return -1;
	return (long long)(ut + stt);
}

static void finish(struct conn *c, long *counter)
{
	if (counter)
		(*counter)++;
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->st = S_FREE;
}

static void closed_by_server(struct conn *c)
{
	if (c->gave_up)
		finish(c, &g.gave_up);
	else
		finish(c, c->tls ? &g.refused_tls : &g.refused_plain);
}

/* Write all of s (small, so a short write is treated as an error). */
static int put(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	if (c->ssl) {
		int w = SSL_write(c->ssl, s, (int)n);
		return w == (int)n ? 0 : -1;
	}
	return send(c->fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int put_header(struct conn *c)
{
	char h[1024];
	snprintf(h, sizeof(h),
	         "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	         "xmlns:stream='http://etherx.jabber.org/streams' "
	         "xmlns:db='jabber:server:dialback' from='%s' to='%s' "
	         "version='1.0'>",
	         g.from, g.to);
	return put(c, h);
}

static int has(const struct conn *c, const char *s)
{
	return strstr(c->buf, s) != NULL;
}

/* The server ended the stream (an error or its closing tag). */
static int server_closed_stream(const struct conn *c)
{
	return has(c, "</stream:stream>") || has(c, "<stream:error") ||
	       has(c, "stream:error>");
}

/* Read what is there; returns 1 on EOF or error, 0 otherwise. */
static int pull(struct conn *c)
{
	for (;;) {
		size_t room = sizeof(c->buf) - 1 - c->len;
		long r;
		if (room == 0) { /* keep the tail: tags we look for are short */
			memmove(c->buf, c->buf + BUF / 2, BUF / 2);
			c->len -= BUF / 2;
			room = sizeof(c->buf) - 1 - c->len;
		}
		if (c->ssl) {
			int e;
			r = SSL_read(c->ssl, c->buf + c->len, (int)room);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, (int)r);
				if (e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE)
					return 0;
				return 1;
			}
		} else {
			r = recv(c->fd, c->buf + c->len, room, 0);
			if (r == 0)
				return 1;
			if (r < 0)
				return (errno == EAGAIN || errno == EWOULDBLOCK)
				               ? 0
				               : 1;
		}
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
	}
}

static void start_tls(struct conn *c)
{
	c->ssl = SSL_new(g.sslctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		finish(c, &g.failed);
		return;
	}
	SSL_set_tlsext_host_name(c->ssl, g.to);
	SSL_set_connect_state(c->ssl);
	c->st = S_HANDSHAKE;
	c->len = 0;
	c->buf[0] = '\0';
}

static void handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl), e;
	if (r == 1) {
		g.tls_handshakes++;
		c->tls = 1;
		c->st = S_TLS_FEAT;
		if (put_header(c) != 0)
			finish(c, &g.failed);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		finish(c, &g.failed);
}

/* Advance c after its socket became ready. */
static void step(struct conn *c)
{
	int eof;

	if (c->st == S_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 ||
		    err != 0 || put_header(c) != 0) {
			finish(c, &g.failed);
			return;
		}
		c->st = S_FEATURES;
		return;
	}
	if (c->st == S_HANDSHAKE) {
		handshake(c);
		return;
	}
	eof = pull(c);
	if (server_closed_stream(c)) {
		closed_by_server(c);
		return;
	}
	switch (c->st) {
	case S_FEATURES:
		if (has(c, "</stream:features>")) {
			if (has(c, "<starttls")) {
				c->st = S_PROCEED;
				c->len = 0;
				c->buf[0] = '\0';
				if (put(c, "<starttls xmlns='urn:ietf:params:"
				           "xml:ns:xmpp-tls'/>") != 0)
					finish(c, &g.failed);
				return;
			}
			c->st = S_TLS_FEAT; /* no TLS offered: same end */
		} else {
			break;
		}
		/* fall through */
	case S_TLS_FEAT:
		if (!has(c, "</stream:features>"))
			break;
		c->len = 0;
		c->buf[0] = '\0';
		c->st = S_WAIT_CLOSE;
		if (g.dialback) {
			char r[512];
			snprintf(r, sizeof(r),
			         "<db:result from='%s' to='%s'>"
			         "0123456789abcdef</db:result>",
			         g.from, g.to);
			if (put(c, r) != 0)
				finish(c, &g.failed);
		} else {
			c->gave_up = 1;
			if (put(c, "</stream:stream>") != 0)
				finish(c, &g.gave_up);
		}
		return;
	case S_PROCEED:
		if (has(c, "<proceed")) {
			start_tls(c);
			if (c->st == S_HANDSHAKE)
				handshake(c);
			return;
		}
		break;
	default:
		break;
	}
	if (eof && c->st != S_FREE)
		closed_by_server(c);
}

static int open_one(struct conn *c, const struct sockaddr_in *sa,
                    double conn_timeout)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		close(fd);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->deadline = now_s() + conn_timeout;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 &&
	    errno != EINPROGRESS) {
		finish(c, &g.failed);
		return 0;
	}
	c->st = S_CONNECT;
	return 0;
}

static short want_events(const struct conn *c)
{
	if (c->st == S_CONNECT)
		return POLLOUT;
	if (c->st == S_HANDSHAKE && c->ssl && SSL_want_write(c->ssl))
		return POLLOUT;
	return POLLIN;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: xpflood --addr IPV4 [--port N] --from DOMAIN --to "
	        "DOMAIN -n N [-c CONC]\n"
	        "               [--timeout S] [--conn-timeout S] [--pid PID] "
	        "[--after-tls close|dialback]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	long n = 0, conc = 50, pid = 0, started = 0, i, active;
	double timeout = 60, conn_timeout = 10, t0, t1, end;
	long long c0 = -1, c1 = -1;
	unsigned long port = 5269;
	struct sockaddr_in sa;
	struct conn *cs;
	struct pollfd *pf;
	long *idx;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (strcmp(o, "--addr") == 0)
			addr = v;
		else if (strcmp(o, "--port") == 0)
			port = strtoul(v, NULL, 10);
		else if (strcmp(o, "--from") == 0)
			g.from = v;
		else if (strcmp(o, "--to") == 0)
			g.to = v;
		else if (strcmp(o, "-n") == 0)
			n = strtol(v, NULL, 10);
		else if (strcmp(o, "-c") == 0)
			conc = strtol(v, NULL, 10);
		else if (strcmp(o, "--timeout") == 0)
			timeout = atof(v);
		else if (strcmp(o, "--conn-timeout") == 0)
			conn_timeout = atof(v);
		else if (strcmp(o, "--pid") == 0)
			pid = strtol(v, NULL, 10);
		else if (strcmp(o, "--after-tls") == 0)
			g.dialback = strcmp(v, "dialback") == 0;
		else
			return usage();
	}
	if (i != argc || !addr || !g.from || !g.to || n < 1 || n > MAX_N ||
	    conc < 1 || conc > MAX_CONC || port < 1 || port > 65535 ||
	    timeout <= 0 || timeout > 3600 || conn_timeout <= 0 ||
	    strchr(g.from, '\'') || strchr(g.to, '\''))
		return usage();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return usage();

	g.sslctx = SSL_CTX_new(TLS_client_method());
	cs = calloc((size_t)conc, sizeof(*cs));
	pf = calloc((size_t)conc, sizeof(*pf));
	idx = calloc((size_t)conc, sizeof(*idx));
	if (!g.sslctx || !cs || !pf || !idx)
		return 2;
	SSL_CTX_set_verify(g.sslctx, SSL_VERIFY_NONE, NULL);
	for (i = 0; i < conc; i++) {
		cs[i].st = S_FREE;
		cs[i].fd = -1;
	}

	if (pid > 0)
		c0 = cpu_ticks(pid);
	t0 = now_s();
	end = t0 + timeout;
	for (;;) {
		double now = now_s();
		int np = 0, r;
		active = 0;
		for (i = 0; i < conc; i++) {
			struct conn *c = &cs[i];
			if (c->st == S_FREE && started < n && now < end) {
				started++;
				if (open_one(c, &sa, conn_timeout) != 0) {
					g.failed++;
					continue;
				}
			}
			if (c->st == S_FREE)
				continue;
			if (now > c->deadline || now > end) {
				finish(c, &g.timeouts);
				continue;
			}
			pf[np].fd = c->fd;
			pf[np].events = want_events(c);
			pf[np].revents = 0;
			idx[np++] = i;
			active++;
		}
		if (active == 0 && (started >= n || now >= end))
			break;
		r = poll(pf, (nfds_t)np, 50);
		if (r < 0 && errno != EINTR)
			break;
		for (i = 0; r > 0 && i < np; i++)
			if (pf[i].revents)
				step(&cs[idx[i]]);
	}
	t1 = now_s();
	if (pid > 0)
		c1 = cpu_ticks(pid);

	printf("n=%ld seconds=%.3f rate=%.1f refused_before_tls=%ld "
	       "refused_after_tls=%ld gave_up=%ld failed=%ld timeouts=%ld "
	       "tls_handshakes=%ld",
	       started, t1 - t0, (double)started / (t1 - t0), g.refused_plain,
	       g.refused_tls, g.gave_up, g.failed, g.timeouts,
	       g.tls_handshakes);
	if (c0 >= 0 && c1 >= 0) {
		double tick = (double)sysconf(_SC_CLK_TCK);
		printf(" server_cpu_s=%.3f cpu_us_per_conn=%.1f",
		       (double)(c1 - c0) / tick,
		       (double)(c1 - c0) / tick * 1e6 / (double)started);
	}
	printf("\n");
	SSL_CTX_free(g.sslctx);
	free(cs);
	free(pf);
	free(idx);
	return (g.failed || g.timeouts || started < n) ? 1 : 0;
}
