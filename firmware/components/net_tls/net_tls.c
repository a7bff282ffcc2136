/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * net_tls.h: commands in (mutex-guarded list + an eventfd to wake select), one select() loop over
 * non-blocking sockets, mbedTLS per connection over our own send/recv callbacks, events out.
 *
 * A connection goes CONNECTING (non-blocking connect) -> HANDSHAKING -> OPEN. Failures post
 * PK_EV_CLOSED with CLOSE_CONNECT_FAILED (resolve or TCP), CLOSE_TLS_FAILED (handshake, certificate)
 * or CLOSE_IO_ERROR (after the handshake); a clean close by the server posts CLOSE_EOF. Data goes to
 * the wasm task in chunks of at most NET_CHUNK bytes (the ABI's io_buffer size).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <netinet/tcp.h>
#include <sys/select.h>
#include <sys/socket.h>

#ifdef ESP_PLATFORM
#include "esp_vfs_eventfd.h"
#include "sdkconfig.h"
#if CONFIG_MBEDTLS_CERTIFICATE_BUNDLE
#include "esp_crt_bundle.h"
#endif
#else
#include <sys/eventfd.h>
#endif

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/ssl.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#if defined(MBEDTLS_PSA_CRYPTO_C)
#include "psa/crypto.h"
#endif

#include "mbedtls/oid.h"

#include "kubelet_abi.h"
#include "net_tls.h"
#include "pk_os.h"

static const char *TAG = "net";

/* Largest chunk handed to the wasm task (ABI io_buffer size). */
#define NET_CHUNK KUBELET_ABI_IO_BUFFER_SIZE
/* Chunks read from one connection per loop turn, so one busy peer cannot starve the others. */
#define NET_READS_PER_TURN 8
/* Output one connection may have waiting for its socket. The core sends requests of a few KiB; this
 * bounds what a runaway core or a stalled peer can hold in (PSRAM) buffers. */
#define NET_MAX_QUEUED_OUT NET_TLS_SEND_BUDGET
/* select() timeout when nothing is pending, so deadlines are checked. */
#define NET_IDLE_WAIT_MS 500

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

typedef enum {
    CMD_CONNECT,
    CMD_SEND,
    CMD_CLOSE,
    CMD_CLOSE_ALL,
    CMD_DROP_ALL,
    CMD_LISTEN,
    CMD_IDENTITY,
} cmd_op_t;

typedef struct net_cmd {
    struct net_cmd *next;
    cmd_op_t op;
    uint32_t gen;
    int32_t conn;
    int32_t reason;
    uint16_t port;
    char *host;
    char *server_name;
    uint8_t *data;
    size_t len;
    /* CMD_IDENTITY: the slot (conn), its certificate chain (data) and private key (key_pem, wiped on free) */
    char *key_pem;
} net_cmd_t;

typedef struct out_chunk {
    struct out_chunk *next;
    size_t len;
    size_t off;
    uint8_t data[];
} out_chunk_t;

/*
 * One side's TLS settings: an mbedTLS configuration with the certificate and key it presents. A
 * connection keeps the profile it started with (mbedTLS reads the configuration for as long as the
 * connection lives), so a new identity (net_tls_set_identity) becomes a new profile for new connections
 * while the old one lives on until its last connection is gone. Network task only.
 */
typedef struct tls_profile {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    /* net_tls's current pointer plus one per connection using it */
    uint32_t refs;
} tls_profile_t;

typedef enum {
    /* Waiting for the resolver thread (name lookup and the start of the TCP connect). */
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKING,
    CONN_OPEN,
} conn_state_t;

typedef struct net_conn {
    struct net_conn *next;
    uint32_t gen;
    int32_t id;
    int fd;
    conn_state_t state;
    int64_t deadline;
    bool want_read;
    bool want_write;
    bool ssl_ready;
    /* In this turn's select() sets. A connection created after select() returned must not read that
     * call's readiness: its socket may reuse the number of one closed in the same turn. */
    bool selected;
    /* The resolver request this connection waits for (CONN_RESOLVING). */
    uint64_t resolve_seq;
    /* Accepted on the listener (server side of the handshake): its port and peer. */
    bool accepted;
    /* PROFILE_PUBLIC: verified against the public CAs, no client certificate presented */
    bool public_profile;
    uint16_t port;
    uint32_t peer_ipv4;
    /* what verify_client found wrong with the client's certificate chain (accepted connections) */
    uint32_t peer_flags;
    mbedtls_ssl_context ssl;
    /* the settings ssl was set up with (a reference), NULL before setup_tls */
    tls_profile_t *profile;
    out_chunk_t *out_head;
    out_chunk_t *out_tail;
    /* bytes in out_head..out_tail not yet written */
    size_t out_bytes;
    char server_name[254];
} net_conn_t;

/*
 * A name lookup plus the start of a non-blocking connect, done on the resolver thread: getaddrinfo
 * blocks for as long as DNS takes, and on the network task that would stall every open connection.
 */
typedef struct resolve_req {
    struct resolve_req *next;
    uint64_t seq;
    uint16_t port;
    /* result: a socket with the connect under way, or -1 with `err` (an errno value) */
    int fd;
    int err;
    char host[];
} resolve_req_t;

/* What a connection has been given but not yet written (flow control); under net_tls.lock. */
typedef struct {
    bool used;
    bool want_writable;
    uint32_t gen;
    int32_t conn;
    size_t queued;
} budget_t;

#define NET_MAX_BUDGETS 16

struct net_tls {
    net_tls_config_t cfg;
    budget_t budgets[NET_MAX_BUDGETS];
    /* the kubelet-port listener (network task only) */
    int listen_fd;
    uint16_t listen_port;
    uint32_t listen_gen;
    int32_t next_accepted;
    uint32_t accepted_count;
    /* TLS settings for new connections: the node's own (client side, always) and the kubelet port's
     * (server side; NULL without a serving certificate). Network task only after start. */
    tls_profile_t *client;
    tls_profile_t *server;
    /* PROFILE_PUBLIC connections (registries): NULL without public CAs (net_tls_config_t.public_ca_pem or,
     * on the board, .public_ca_bundle) */
    tls_profile_t *public_side;
    /* the public profile verifies against ESP-IDF's certificate bundle, not public_ca */
    bool public_bundle;
    /* resolver: requests (network task -> resolver) and results (back), both under `lock` */
    resolve_req_t *resolve_todo;
    resolve_req_t *resolve_done;
    pk_sem_t *resolve_sem;
    uint64_t resolve_seq;
    pk_mutex_t *lock;
    net_cmd_t *cmd_head;
    net_cmd_t *cmd_tail;
    int wake_fd;
    net_conn_t *conns;
    uint32_t open_count;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    /* the cluster CA (servers we connect to) and the client CA (clients of the kubelet port) */
    mbedtls_x509_crt ca;
    mbedtls_x509_crt client_ca;
    mbedtls_x509_crt public_ca;
    /* profile_new is making the PROFILE_PUBLIC profile (start-up only) */
    bool building_public;
    uint8_t *read_buf;
#ifndef ESP_PLATFORM
    /* tests (net_tls.h): hold the task at the top of a turn; connections the reuse guard kept from a
     * readiness that was their socket number's predecessor's */
    atomic_bool test_hold;
    atomic_bool test_parked;
    atomic_uint test_stale;
#endif
};

static void describe_mbedtls_error(int rc, char *out, size_t out_size)
{
#if defined(MBEDTLS_ERROR_C)
    char text[96];
    mbedtls_strerror(rc, text, sizeof(text));
    snprintf(out, out_size, "-0x%04X %s", (unsigned)-rc, text);
#else
    snprintf(out, out_size, "-0x%04X", (unsigned)-rc);
#endif
}

/* ---------------------------------------------------------------- commands (any task) */

static void wake(net_tls_t *n)
{
    uint64_t one = 1;
    if (write(n->wake_fd, &one, sizeof(one)) < 0) {
        /* The counter can only overflow after 2^64 wakes; nothing to do. */
    }
}

static void push_cmd(net_tls_t *n, net_cmd_t *c)
{
    pk_mutex_lock(n->lock);
    if (n->cmd_tail != NULL) {
        n->cmd_tail->next = c;
    } else {
        n->cmd_head = c;
    }
    n->cmd_tail = c;
    pk_mutex_unlock(n->lock);
    wake(n);
}

static net_cmd_t *new_cmd(cmd_op_t op, uint32_t gen, int32_t conn)
{
    net_cmd_t *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->op = op;
        c->gen = gen;
        c->conn = conn;
    }
    return c;
}

static void free_cmd(net_cmd_t *c)
{
    if (c->key_pem != NULL) {
        mbedtls_platform_zeroize(c->key_pem, strlen(c->key_pem));
        free(c->key_pem);
    }
    free(c->host);
    free(c->server_name);
    free(c->data);
    free(c);
}

static void post(net_tls_t *n, pk_event_kind_t kind, uint32_t gen, int32_t conn, int32_t arg, uint8_t *data,
                 uint32_t len)
{
    pk_event_t ev = {.kind = kind, .gen = gen, .conn = conn, .arg = arg, .data = data, .len = len};
    /* Waiting here is the back-pressure on a fast peer; the wasm task never waits on this task. */
    if (!pk_evq_post(n->cfg.queue, &ev, PK_WAIT_FOREVER)) {
        free(data);
    }
}

/* ---------------------------------------------------------------- flow control (either task, under lock) */

static budget_t *budget_find(net_tls_t *n, uint32_t gen, int32_t conn)
{
    for (int i = 0; i < NET_MAX_BUDGETS; i++) {
        if (n->budgets[i].used && n->budgets[i].gen == gen && n->budgets[i].conn == conn) {
            return &n->budgets[i];
        }
    }
    return NULL;
}

/* A budget for a new connection; false when every slot is taken. */
static bool budget_open(net_tls_t *n, uint32_t gen, int32_t conn)
{
    pk_mutex_lock(n->lock);
    bool ok = budget_find(n, gen, conn) != NULL;
    for (int i = 0; !ok && i < NET_MAX_BUDGETS; i++) {
        if (!n->budgets[i].used) {
            n->budgets[i] = (budget_t){.used = true, .gen = gen, .conn = conn};
            ok = true;
        }
    }
    pk_mutex_unlock(n->lock);
    return ok;
}

static void budget_close(net_tls_t *n, uint32_t gen, int32_t conn)
{
    pk_mutex_lock(n->lock);
    budget_t *b = budget_find(n, gen, conn);
    if (b != NULL) {
        b->used = false;
    }
    pk_mutex_unlock(n->lock);
}

/* `len` bytes of (gen, conn) were written: post PK_EV_WRITABLE once half the budget is free again. */
static void budget_written(net_tls_t *n, uint32_t gen, int32_t conn, size_t len);

int32_t net_tls_connect(net_tls_t *n, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                        const char *server_name)
{
    return net_tls_connect_profile(n, gen, conn, host, port, server_name, KUBELET_PROFILE_CLUSTER);
}

int32_t net_tls_connect_profile(net_tls_t *n, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                                const char *server_name, int32_t profile)
{
    if (profile == KUBELET_PROFILE_PUBLIC && n->public_side == NULL) {
        PK_LOGW(TAG, "connection %" PRId32 ": PROFILE_PUBLIC, but this host was given no public CAs", conn);
        return KUBELET_CLOSE_TLS_FAILED;
    }
    if (!budget_open(n, gen, conn)) {
        PK_LOGE(TAG, "connection %" PRId32 ": too many connections", conn);
        return KUBELET_CLOSE_CONNECT_FAILED;
    }
    net_cmd_t *c = new_cmd(CMD_CONNECT, gen, conn);
    if (c == NULL || (c->host = strdup(host)) == NULL || (c->server_name = strdup(server_name)) == NULL) {
        PK_LOGE(TAG, "out of memory for connect %" PRId32, conn);
        if (c != NULL) {
            free_cmd(c);
        }
        budget_close(n, gen, conn);
        /* Not posted from here: the caller is the wasm task, the queue's reader (net_tls.h). */
        return KUBELET_CLOSE_CONNECT_FAILED;
    }
    c->port = port;
    c->reason = profile; /* CMD_CONNECT: the profile */
    push_cmd(n, c);
    return 0;
}

int32_t net_tls_send(net_tls_t *n, uint32_t gen, int32_t conn, const uint8_t *data, size_t len)
{
    pk_mutex_lock(n->lock);
    budget_t *b = budget_find(n, gen, conn);
    if (b == NULL) {
        pk_mutex_unlock(n->lock);
        return -1;
    }
    size_t room = b->queued < NET_TLS_SEND_BUDGET ? NET_TLS_SEND_BUDGET - b->queued : 0;
    size_t take = len < room ? len : room;
    if (take < len) {
        b->want_writable = true;
    }
    b->queued += take;
    pk_mutex_unlock(n->lock);
    if (take == 0) {
        return 0;
    }
    net_cmd_t *c = new_cmd(CMD_SEND, gen, conn);
    if (c == NULL || (c->data = malloc(take)) == NULL) {
        PK_LOGE(TAG, "out of memory for %zu bytes to send on %" PRId32 "; closing it", take, conn);
        free(c);
        c = new_cmd(CMD_CLOSE, gen, conn);
        if (c != NULL) {
            c->reason = KUBELET_CLOSE_IO_ERROR;
            push_cmd(n, c);
        }
        /* Taken and lost: the connection ends with an error, which is what the core is told. */
        return (int32_t)take;
    }
    memcpy(c->data, data, take);
    c->len = take;
    push_cmd(n, c);
    return (int32_t)take;
}

int32_t net_tls_listen(net_tls_t *n, uint32_t gen, int32_t req, uint16_t port)
{
    net_cmd_t *c = new_cmd(CMD_LISTEN, gen, req);
    if (c == NULL) {
        return -KUBELET_ERR_HOST_CALL_FAILED;
    }
    c->port = port;
    push_cmd(n, c);
    return 0;
}

void net_tls_close(net_tls_t *n, uint32_t gen, int32_t conn)
{
    /* At once, so a send after the close is refused (-1) rather than queued for a connection going away. */
    budget_close(n, gen, conn);
    net_cmd_t *c = new_cmd(CMD_CLOSE, gen, conn);
    if (c != NULL) {
        c->reason = -1;
        push_cmd(n, c);
    }
}

void net_tls_close_all(net_tls_t *n, uint32_t gen)
{
    net_cmd_t *c = new_cmd(CMD_CLOSE_ALL, gen, 0);
    if (c != NULL) {
        push_cmd(n, c);
    }
}

void net_tls_drop_all(net_tls_t *n, int32_t reason)
{
    net_cmd_t *c = new_cmd(CMD_DROP_ALL, 0, 0);
    if (c != NULL) {
        c->reason = reason;
        push_cmd(n, c);
    }
}

uint32_t net_tls_open_count(net_tls_t *n)
{
    pk_mutex_lock(n->lock);
    uint32_t count = n->open_count;
    pk_mutex_unlock(n->lock);
    return count;
}

/* ---------------------------------------------------------------- connections (network task only) */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    net_conn_t *c = ctx;
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            return (int)n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        }
        return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    net_conn_t *c = ctx;
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0) {
            return (int)n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return MBEDTLS_ERR_SSL_WANT_READ;
        }
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

static void budget_written(net_tls_t *n, uint32_t gen, int32_t conn, size_t len)
{
    pk_mutex_lock(n->lock);
    budget_t *b = budget_find(n, gen, conn);
    bool signal = false;
    if (b != NULL) {
        b->queued = len < b->queued ? b->queued - len : 0;
        if (b->want_writable && b->queued <= NET_TLS_SEND_BUDGET / 2) {
            b->want_writable = false;
            signal = true;
        }
    }
    pk_mutex_unlock(n->lock);
    if (signal) {
        post(n, PK_EV_WRITABLE, gen, conn, 0, NULL, 0);
    }
}

static void profile_release(tls_profile_t *p)
{
    if (p == NULL || --p->refs > 0) {
        return;
    }
    mbedtls_ssl_config_free(&p->conf);
    mbedtls_x509_crt_free(&p->cert);
    mbedtls_pk_free(&p->key);
    free(p);
}

static void free_conn(net_tls_t *n, net_conn_t *c)
{
    budget_close(n, c->gen, c->id);
    if (c->ssl_ready) {
        mbedtls_ssl_free(&c->ssl);
    }
    profile_release(c->profile);
    if (c->fd >= 0) {
        close(c->fd);
    }
    for (out_chunk_t *o = c->out_head; o != NULL;) {
        out_chunk_t *next = o->next;
        free(o);
        o = next;
    }
    pk_mutex_lock(n->lock);
    if (c->accepted) {
        n->accepted_count--;
    } else {
        n->open_count--;
    }
    pk_mutex_unlock(n->lock);
    free(c);
}

/* Removes `c` from the list, posting PK_EV_CLOSED with `reason` unless reason < 0. */
static void end_conn(net_tls_t *n, net_conn_t *c, int32_t reason)
{
    for (net_conn_t **p = &n->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->state == CONN_OPEN && c->ssl_ready && reason != KUBELET_CLOSE_IO_ERROR) {
        mbedtls_ssl_close_notify(&c->ssl); /* best effort; the socket is non-blocking */
    }
    uint32_t gen = c->gen;
    int32_t id = c->id;
    /* An accepted connection the core never heard of (its handshake failed or timed out) ends quietly. */
    if (c->accepted && c->state != CONN_OPEN) {
        reason = -1;
    }
    free_conn(n, c);
    if (reason >= 0) {
        post(n, PK_EV_CLOSED, gen, id, reason, NULL, 0);
    }
}

static net_conn_t *find_conn(net_tls_t *n, uint32_t gen, int32_t id)
{
    for (net_conn_t *c = n->conns; c != NULL; c = c->next) {
        if (c->gen == gen && c->id == id) {
            return c;
        }
    }
    return NULL;
}

/* Resolves and starts a non-blocking connect; -1 (errno set) when that already failed. */
static int start_connect(const char *host, uint16_t port)
{
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) {
        hints.ai_family = AF_UNSPEC;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0 || res == NULL) {
        PK_LOGW(TAG, "cannot resolve %s (getaddrinfo %d)", host, rc);
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static void do_connect(net_tls_t *n, net_cmd_t *cmd)
{
    if (find_conn(n, cmd->gen, cmd->conn) != NULL) {
        PK_LOGE(TAG, "connection %" PRId32 " is already open; refusing a second connect", cmd->conn);
        post(n, PK_EV_CLOSED, cmd->gen, cmd->conn, KUBELET_CLOSE_CONNECT_FAILED, NULL, 0);
        return;
    }
    if (net_tls_open_count(n) >= n->cfg.max_connections) {
        PK_LOGW(TAG, "connection %" PRId32 ": already %" PRIu32 " open", cmd->conn, n->cfg.max_connections);
        budget_close(n, cmd->gen, cmd->conn);
        post(n, PK_EV_CLOSED, cmd->gen, cmd->conn, KUBELET_CLOSE_CONNECT_FAILED, NULL, 0);
        return;
    }
    net_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        budget_close(n, cmd->gen, cmd->conn);
        post(n, PK_EV_CLOSED, cmd->gen, cmd->conn, KUBELET_CLOSE_CONNECT_FAILED, NULL, 0);
        return;
    }
    c->gen = cmd->gen;
    c->id = cmd->conn;
    c->public_profile = cmd->reason == KUBELET_PROFILE_PUBLIC;
    c->fd = -1;
    snprintf(c->server_name, sizeof(c->server_name), "%s", cmd->server_name);
    c->deadline = pk_now_ms() + n->cfg.connect_timeout_ms;
    pk_mutex_lock(n->lock);
    n->open_count++;
    pk_mutex_unlock(n->lock);
    c->next = n->conns;
    n->conns = c;
    size_t host_len = strlen(cmd->host);
    resolve_req_t *r = calloc(1, sizeof(*r) + host_len + 1);
    if (r == NULL) {
        PK_LOGE(TAG, "connection %" PRId32 ": out of memory", c->id);
        end_conn(n, c, KUBELET_CLOSE_CONNECT_FAILED);
        return;
    }
    memcpy(r->host, cmd->host, host_len + 1);
    r->port = cmd->port;
    r->fd = -1;
    r->seq = ++n->resolve_seq;
    c->resolve_seq = r->seq;
    c->state = CONN_RESOLVING;
    pk_mutex_lock(n->lock);
    resolve_req_t **tail = &n->resolve_todo;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = r;
    pk_mutex_unlock(n->lock);
    pk_sem_give(n->resolve_sem);
    PK_LOGD(TAG, "connection %" PRId32 ": resolving %s:%u (server name %s)", c->id, cmd->host, (unsigned)cmd->port,
            cmd->server_name);
}

#ifndef ESP_PLATFORM
static atomic_bool s_hold_resolver;

void net_tls_test_hold_resolver(bool hold)
{
    atomic_store(&s_hold_resolver, hold);
}

void net_tls_test_hold(net_tls_t *n, bool hold)
{
    atomic_store(&n->test_hold, hold);
    if (hold) {
        wake(n);
    }
}

bool net_tls_test_parked(net_tls_t *n)
{
    return atomic_load(&n->test_parked);
}

int net_tls_test_socket(net_tls_t *n, uint32_t gen, int32_t conn)
{
    net_conn_t *c = atomic_load(&n->test_parked) ? find_conn(n, gen, conn) : NULL;
    return c != NULL ? c->fd : -1;
}

int net_tls_test_listen_socket(net_tls_t *n)
{
    return atomic_load(&n->test_parked) ? n->listen_fd : -1;
}

uint32_t net_tls_test_stale_readiness(net_tls_t *n)
{
    return atomic_load(&n->test_stale);
}
#endif

/* The resolver thread: one lookup at a time, in order; never touches a connection. */
static void resolver_task(void *arg)
{
    net_tls_t *n = arg;
    for (;;) {
        pk_sem_take(n->resolve_sem, PK_WAIT_FOREVER);
#ifndef ESP_PLATFORM
        while (atomic_load(&s_hold_resolver)) {
            pk_sleep_ms(2); /* a test stands in for a DNS server that takes its time */
        }
#endif
        pk_mutex_lock(n->lock);
        resolve_req_t *r = n->resolve_todo;
        if (r != NULL) {
            n->resolve_todo = r->next;
        }
        pk_mutex_unlock(n->lock);
        if (r == NULL) {
            continue;
        }
        r->fd = start_connect(r->host, r->port);
        r->err = r->fd < 0 ? errno : 0;
        pk_mutex_lock(n->lock);
        r->next = n->resolve_done;
        n->resolve_done = r;
        pk_mutex_unlock(n->lock);
        wake(n);
    }
}

/* Hands finished lookups to their connections (those closed meanwhile just lose the socket). */
static void take_resolved(net_tls_t *n)
{
    pk_mutex_lock(n->lock);
    resolve_req_t *list = n->resolve_done;
    n->resolve_done = NULL;
    pk_mutex_unlock(n->lock);
    while (list != NULL) {
        resolve_req_t *r = list;
        list = list->next;
        net_conn_t *c = n->conns;
        while (c != NULL && !(c->state == CONN_RESOLVING && c->resolve_seq == r->seq)) {
            c = c->next;
        }
        if (c == NULL) {
            if (r->fd >= 0) {
                close(r->fd);
            }
        } else if (r->fd < 0) {
            PK_LOGW(TAG, "connection %" PRId32 " to %s:%u failed: %s", c->id, r->host, (unsigned)r->port,
                    strerror(r->err));
            end_conn(n, c, KUBELET_CLOSE_CONNECT_FAILED);
        } else {
            c->fd = r->fd;
            c->state = CONN_CONNECTING;
            c->want_write = true;
            c->selected = false; /* not in this turn's select() sets */
            PK_LOGD(TAG, "connection %" PRId32 ": connecting to %s:%u", c->id, r->host, (unsigned)r->port);
        }
        free(r);
    }
}

/* Appends bytes to the connection's output; false when out of memory or over NET_MAX_QUEUED_OUT (the
 * caller must end it: a stream with a hole in it is worse than no stream). */
static bool queue_out(net_conn_t *c, const uint8_t *data, size_t len)
{
    if (len > NET_MAX_QUEUED_OUT - c->out_bytes) {
        return false;
    }
    out_chunk_t *o = pk_buffer_alloc(sizeof(*o) + len);
    if (o == NULL) {
        return false;
    }
    c->out_bytes += len;
    o->next = NULL;
    o->len = len;
    o->off = 0;
    memcpy(o->data, data, len);
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
    return true;
}

/* Posts the result of host call `req`: 0, or `status` with the reason in words. */
static void post_result(net_tls_t *n, uint32_t gen, int32_t req, int32_t status, const char *why)
{
    uint8_t *data = NULL;
    uint32_t len = 0;
    if (why != NULL && (data = (uint8_t *)strdup(why)) != NULL) {
        len = (uint32_t)strlen(why);
    }
    post(n, PK_EV_HOST_RESULT, gen, req, status, data, len);
}

/* CMD_LISTEN: a non-blocking listening socket on the configured address. */
static void do_listen(net_tls_t *n, net_cmd_t *cmd)
{
    char why[160];
    /* Without a serving certificate yet (first boot: the core's CSR for one is still pending) the port is
     * listened on all the same, and connections are refused until the serving slot's arrives. */
    if (n->listen_fd >= 0) {
        if (n->listen_port == cmd->port) {
            n->listen_gen = cmd->gen;
            post_result(n, cmd->gen, cmd->conn, 0, NULL);
        } else {
            snprintf(why, sizeof(why), "already listening on port %u", (unsigned)n->listen_port);
            post_result(n, cmd->gen, cmd->conn, KUBELET_ERR_HOST_CALL_FAILED, why);
        }
        return;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cmd->port);
    const char *host = n->cfg.listen_address != NULL ? n->cfg.listen_address : "0.0.0.0";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(why, sizeof(why), "listen address %s is not an IPv4 address", host);
        post_result(n, cmd->gen, cmd->conn, KUBELET_ERR_HOST_CALL_FAILED, why);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 4) != 0) {
        snprintf(why, sizeof(why), "cannot listen on %s:%u: %s", host, (unsigned)cmd->port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        PK_LOGW(TAG, "%s", why);
        post_result(n, cmd->gen, cmd->conn, KUBELET_ERR_HOST_CALL_FAILED, why);
        return;
    }
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    n->listen_fd = fd;
    n->listen_port = cmd->port;
    n->listen_gen = cmd->gen;
    PK_LOGI(TAG, "kubelet port: listening on %s:%u", host, (unsigned)cmd->port);
    post_result(n, cmd->gen, cmd->conn, 0, NULL);
}

static bool setup_tls(net_tls_t *n, net_conn_t *c);

/* A client connected to the listener: the server side of a handshake, as a connection of its own. */
static void do_accept(net_tls_t *n)
{
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int fd = accept(n->listen_fd, (struct sockaddr *)&peer, &plen);
    if (fd < 0) {
        return;
    }
    if (n->server == NULL) {
        PK_LOGW(TAG, "kubelet port: refusing a connection: no serving certificate yet (the serving CSR may be "
                     "waiting for approval: kubectl get csr)");
        close(fd);
        return;
    }
    pk_mutex_lock(n->lock);
    bool full = n->accepted_count >= NET_TLS_MAX_ACCEPTED;
    pk_mutex_unlock(n->lock);
    int32_t id = n->next_accepted;
    net_conn_t *c = full ? NULL : calloc(1, sizeof(*c));
    if (c == NULL || !budget_open(n, n->listen_gen, id)) {
        PK_LOGW(TAG, "kubelet port: refusing a connection (%s)", full ? "too many at once" : "out of memory");
        free(c);
        close(fd);
        return;
    }
    n->next_accepted = id >= 0x7ffffff0 ? KUBELET_CONN_ACCEPTED_MIN : id + 1;
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->gen = n->listen_gen;
    c->id = id;
    c->fd = fd;
    c->accepted = true;
    c->port = n->listen_port;
    c->peer_ipv4 = peer.sin_family == AF_INET ? ntohl(peer.sin_addr.s_addr) : 0;
    c->deadline = pk_now_ms() + n->cfg.connect_timeout_ms;
    pk_mutex_lock(n->lock);
    n->accepted_count++;
    pk_mutex_unlock(n->lock);
    c->next = n->conns;
    n->conns = c;
    if (!setup_tls(n, c)) {
        end_conn(n, c, -1);
        return;
    }
    c->state = CONN_HANDSHAKING;
    c->want_read = true;
}

/* The verified client identity of an accepted connection as "CN=..\nO=..\n" lines (heap), or NULL. */
static uint8_t *client_identity(net_conn_t *c, uint32_t *len)
{
    *len = 0;
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (peer == NULL || mbedtls_ssl_get_verify_result(&c->ssl) != 0) {
        return NULL;
    }
    char buf[512];
    size_t o = 0;
    for (const mbedtls_x509_name *a = &peer->subject; a != NULL; a = a->next) {
        const char *key = NULL;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &a->oid) == 0) {
            key = "CN=";
        } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORGANIZATION, &a->oid) == 0) {
            key = "O=";
        }
        if (key == NULL || a->val.len == 0 || o + strlen(key) + a->val.len + 2 > sizeof(buf) ||
            memchr(a->val.p, '\n', a->val.len) != NULL) {
            continue;
        }
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s\n", key, (int)a->val.len, (const char *)a->val.p);
    }
    /* CN first, then the organisations, whatever order the subject had. */
    char sorted[512];
    size_t s = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < o;) {
            const char *eol = memchr(buf + i, '\n', o - i);
            size_t line = (size_t)(eol - (buf + i)) + 1;
            if ((pass == 0) == (buf[i] == 'C')) {
                memcpy(sorted + s, buf + i, line);
                s += line;
            }
            i += line;
        }
    }
    uint8_t *out = s > 0 ? malloc(s) : NULL;
    if (out != NULL) {
        memcpy(out, sorted, s);
        *len = (uint32_t)s;
    }
    return out;
}

static tls_profile_t *profile_new(net_tls_t *n, bool server, const char *cert_pem, const char *key_pem, char *err,
                                  size_t err_size);
static tls_profile_t *public_profile_new(net_tls_t *n, char *err, size_t err_size);

/* CMD_IDENTITY: new connections of that side present the slot's certificate from now on. */
static void do_identity(net_tls_t *n, net_cmd_t *cmd)
{
    bool server = cmd->conn == KUBELET_KEY_SLOT_SERVING;
    char err[256];
    tls_profile_t *p = profile_new(n, server, (const char *)cmd->data, cmd->key_pem, err, sizeof(err));
    if (p == NULL) {
        PK_LOGE(TAG, "%s certificate not taken into use: %s", server ? "serving" : "client", err);
        return;
    }
    tls_profile_t **slot = server ? &n->server : &n->client;
    profile_release(*slot);
    *slot = p;
    PK_LOGI(TAG, "%s", server ? "kubelet port: new connections get the installed serving certificate"
                              : "new API connections present the installed client certificate");
}

static void run_commands(net_tls_t *n)
{
    pk_mutex_lock(n->lock);
    net_cmd_t *list = n->cmd_head;
    n->cmd_head = NULL;
    n->cmd_tail = NULL;
    pk_mutex_unlock(n->lock);
    while (list != NULL) {
        net_cmd_t *cmd = list;
        list = list->next;
        net_conn_t *c;
        switch (cmd->op) {
        case CMD_CONNECT:
            do_connect(n, cmd);
            break;
        case CMD_LISTEN:
            do_listen(n, cmd);
            break;
        case CMD_IDENTITY:
            do_identity(n, cmd);
            break;
        case CMD_SEND:
            c = find_conn(n, cmd->gen, cmd->conn);
            if (c != NULL && !queue_out(c, cmd->data, cmd->len)) {
                PK_LOGE(TAG, "connection %" PRId32 ": no room for %zu more bytes to send (%zu waiting, at most %d); "
                        "closing it", c->id, cmd->len, c->out_bytes, NET_MAX_QUEUED_OUT);
                end_conn(n, c, KUBELET_CLOSE_IO_ERROR);
            }
            break;
        case CMD_CLOSE:
            c = find_conn(n, cmd->gen, cmd->conn);
            if (c != NULL) {
                end_conn(n, c, cmd->reason);
            }
            break;
        case CMD_CLOSE_ALL:
            for (c = n->conns; c != NULL;) {
                net_conn_t *next = c->next;
                if (c->gen <= cmd->gen) {
                    end_conn(n, c, -1);
                }
                c = next;
            }
            break;
        case CMD_DROP_ALL:
            while (n->conns != NULL) {
                end_conn(n, n->conns, cmd->reason);
            }
            break;
        }
        free_cmd(cmd);
    }
}

static int verify_client(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

#if MBEDTLS_VERSION_MAJOR < 3
#include "mbedtls/asn1.h"
/*
 * mbedTLS 2.x matches a server name only against DNS names and the CN: a registry addressed by IP (the
 * core connects to the host of an image reference, e.g. 127.0.0.1:5000) would always fail. This finds
 * the address among the leaf's iPAddress SANs itself (2.x does not list them in subject_alt_names).
 */
static bool has_ip_san(const mbedtls_x509_crt *crt, const uint8_t *addr, size_t addr_len)
{
    unsigned char *p = crt->v3_ext.p;
    const unsigned char *end = p != NULL ? p + crt->v3_ext.len : NULL;
    size_t len;
    if (p == NULL || mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        return false;
    }
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
            return false;
        }
        unsigned char *ext_end = p + len;
        mbedtls_x509_buf oid;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0) {
            return false;
        }
        oid.p = p;
        p += oid.len;
        int critical = 0;
        (void)mbedtls_asn1_get_bool(&p, ext_end, &critical); /* optional */
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) != 0 ||
            mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 ||
            mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
            p = ext_end;
            continue;
        }
        unsigned char *names_end = p + len;
        while (p < names_end) {
            unsigned char tag = *p++;
            if (mbedtls_asn1_get_len(&p, names_end, &len) != 0) {
                return false;
            }
            if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) && len == addr_len &&
                memcmp(p, addr, addr_len) == 0) {
                return true;
            }
            p += len;
        }
        return false;
    }
    return false;
}

/* Per client connection named by an IP literal: a CN mismatch of the leaf is no mismatch when an iPAddress
 * SAN is that address. */
static int verify_server_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const net_conn_t *c = ctx;
    uint8_t addr[16];
    size_t addr_len = 0;
    if (inet_pton(AF_INET, c->server_name, addr) == 1) {
        addr_len = 4;
    } else if (inet_pton(AF_INET6, c->server_name, addr) == 1) {
        addr_len = 16;
    }
    if (depth == 0 && addr_len > 0 && (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0 &&
        has_ip_san(crt, addr, addr_len)) {
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}
#endif

static bool setup_tls(net_tls_t *n, net_conn_t *c)
{
    mbedtls_ssl_init(&c->ssl);
    c->ssl_ready = true;
    c->profile = c->accepted ? n->server : c->public_profile ? n->public_side : n->client;
    c->profile->refs++;
    int rc = mbedtls_ssl_setup(&c->ssl, &c->profile->conf);
    if (rc == 0 && !c->accepted) {
        rc = mbedtls_ssl_set_hostname(&c->ssl, c->server_name);
    }
    if (rc != 0) {
        char text[128];
        describe_mbedtls_error(rc, text, sizeof(text));
        PK_LOGE(TAG, "connection %" PRId32 ": TLS setup failed: %s", c->id, text);
        return false;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    if (c->accepted) {
        mbedtls_ssl_set_verify(&c->ssl, verify_client, c); /* per connection, to keep what was wrong */
    }
#if MBEDTLS_VERSION_MAJOR < 3
    else {
        mbedtls_ssl_set_verify(&c->ssl, verify_server_ip, c);
    }
#endif
    return true;
}

static void step_handshake(net_tls_t *n, net_conn_t *c)
{
    int rc = mbedtls_ssl_handshake(&c->ssl);
    c->want_read = rc == MBEDTLS_ERR_SSL_WANT_READ;
    c->want_write = rc == MBEDTLS_ERR_SSL_WANT_WRITE;
    if (c->want_read || c->want_write) {
        return;
    }
    if (rc != 0) {
        char text[128];
        describe_mbedtls_error(rc, text, sizeof(text));
        uint32_t flags = c->peer_flags != 0 ? c->peer_flags : mbedtls_ssl_get_verify_result(&c->ssl);
        char why[256] = "";
#if !defined(MBEDTLS_X509_REMOVE_INFO)
        if (flags != 0 && flags != (uint32_t)-1) {
            mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
            for (char *p = why; *p; p++) {
                if (*p == '\n') {
                    *p = ';';
                }
            }
        }
#endif
        if (c->accepted) {
            if (c->peer_flags != 0) {
                PK_LOGW(TAG, "kubelet port: connection %" PRId32 " refused: its client certificate does not verify "
                        "against the client CA: %s", c->id, why[0] ? why : "(no details)");
            } else {
                PK_LOGW(TAG, "kubelet port: connection %" PRId32 " refused: TLS handshake failed: %s", c->id, text);
            }
        } else {
            PK_LOGW(TAG, "connection %" PRId32 ": TLS handshake with %s failed: %s%s%s", c->id, c->server_name, text,
                    why[0] ? "; certificate: " : "", why);
        }
        end_conn(n, c, KUBELET_CLOSE_TLS_FAILED);
        return;
    }
    if (c->accepted && mbedtls_ssl_get_peer_cert(&c->ssl) != NULL && mbedtls_ssl_get_verify_result(&c->ssl) != 0) {
        /* A client certificate that does not verify against the client CA (or is not for client use): the
         * client is refused, not served as anonymous. verify_client usually stops it during the handshake
         * already; the key-usage checks mbedTLS does afterwards end up here. */
        PK_LOGW(TAG, "kubelet port: connection %" PRId32 " refused: its client certificate does not verify (flags 0x%x)",
                c->id, (unsigned)mbedtls_ssl_get_verify_result(&c->ssl));
        mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
        end_conn(n, c, -1);
        return;
    }
    c->state = CONN_OPEN;
    PK_LOGD(TAG, "connection %" PRId32 ": TLS up (%s, %s)", c->id, mbedtls_ssl_get_version(&c->ssl),
            mbedtls_ssl_get_ciphersuite(&c->ssl));
    if (c->accepted) {
        uint32_t len = 0;
        uint8_t *ident = client_identity(c, &len);
        const char *eol = ident != NULL ? memchr(ident, '\n', len) : NULL;
        PK_LOGD(TAG, "kubelet port: connection %" PRId32 " accepted, %s%.*s", c->id,
                eol != NULL ? "client " : "no client certificate",
                eol != NULL ? (int)(eol - (const char *)ident) : 0, eol != NULL ? (const char *)ident : "");
        pk_event_t ev = {.kind = PK_EV_ACCEPTED, .gen = c->gen, .conn = c->id, .arg = c->port,
                         .arg2 = (int32_t)c->peer_ipv4, .data = ident, .len = len};
        if (!pk_evq_post(n->cfg.queue, &ev, PK_WAIT_FOREVER)) {
            free(ident);
        }
        return;
    }
    post(n, PK_EV_CONNECTED, c->gen, c->id, 0, NULL, 0);
}

/* Writes queued bytes; false if the connection ended. */
static bool flush_out(net_tls_t *n, net_conn_t *c)
{
    while (c->out_head != NULL) {
        out_chunk_t *o = c->out_head;
        int rc = mbedtls_ssl_write(&c->ssl, o->data + o->off, o->len - o->off);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            c->want_write = true;
            return true;
        }
        if (rc < 0) {
            char text[128];
            describe_mbedtls_error(rc, text, sizeof(text));
            PK_LOGW(TAG, "connection %" PRId32 ": write failed: %s", c->id, text);
            end_conn(n, c, KUBELET_CLOSE_IO_ERROR);
            return false;
        }
        o->off += (size_t)rc;
        c->out_bytes -= (size_t)rc;
        budget_written(n, c->gen, c->id, (size_t)rc);
        if (o->off == o->len) {
            c->out_head = o->next;
            if (c->out_head == NULL) {
                c->out_tail = NULL;
            }
            free(o);
        }
    }
    c->want_write = false;
    return true;
}

/* Reads what is available; false if the connection ended. */
static bool pump_in(net_tls_t *n, net_conn_t *c)
{
    for (int i = 0; i < NET_READS_PER_TURN; i++) {
        int rc = mbedtls_ssl_read(&c->ssl, n->read_buf, NET_CHUNK);
        if (rc > 0) {
            uint8_t *copy = pk_buffer_alloc((size_t)rc);
            if (copy == NULL) {
                PK_LOGE(TAG, "connection %" PRId32 ": out of memory for %d received bytes", c->id, rc);
                end_conn(n, c, KUBELET_CLOSE_IO_ERROR);
                return false;
            }
            memcpy(copy, n->read_buf, (size_t)rc);
            post(n, PK_EV_DATA, c->gen, c->id, 0, copy, (uint32_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            return true;
        }
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            end_conn(n, c, KUBELET_CLOSE_EOF);
            return false;
        }
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
        if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
            continue;
        }
#endif
        char text[128];
        describe_mbedtls_error(rc, text, sizeof(text));
        PK_LOGW(TAG, "connection %" PRId32 ": read failed: %s", c->id, text);
        end_conn(n, c, KUBELET_CLOSE_IO_ERROR);
        return false;
    }
    return true;
}

static void step_conn(net_tls_t *n, net_conn_t *c, bool readable, bool writable, int64_t now)
{
    if (c->state == CONN_RESOLVING) {
        if (now >= c->deadline) {
            PK_LOGW(TAG, "connection %" PRId32 ": name lookup and connect timed out", c->id);
            end_conn(n, c, KUBELET_CLOSE_CONNECT_FAILED);
        }
        return;
    }
    if (c->state == CONN_CONNECTING) {
        if (!writable) {
            if (now >= c->deadline) {
                PK_LOGW(TAG, "connection %" PRId32 ": TCP connect timed out", c->id);
                end_conn(n, c, KUBELET_CLOSE_CONNECT_FAILED);
            }
            return;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            PK_LOGW(TAG, "connection %" PRId32 ": TCP connect failed: %s", c->id, strerror(err));
            end_conn(n, c, KUBELET_CLOSE_CONNECT_FAILED);
            return;
        }
        if (!setup_tls(n, c)) {
            end_conn(n, c, KUBELET_CLOSE_TLS_FAILED);
            return;
        }
        c->state = CONN_HANDSHAKING;
        step_handshake(n, c);
        return;
    }
    if (c->state == CONN_HANDSHAKING) {
        if (now >= c->deadline) {
            PK_LOGW(TAG, "connection %" PRId32 ": TLS handshake timed out", c->id);
            end_conn(n, c, KUBELET_CLOSE_TLS_FAILED);
            return;
        }
        if ((c->want_read && readable) || (c->want_write && writable)) {
            step_handshake(n, c);
        }
        return;
    }
    if (!flush_out(n, c)) {
        return;
    }
    pump_in(n, c);
}

static void net_task(void *arg)
{
    net_tls_t *n = arg;
    for (;;) {
        run_commands(n);
#ifndef ESP_PLATFORM
        while (atomic_load(&n->test_hold)) {
            atomic_store(&n->test_parked, true);
            pk_sleep_ms(2);
        }
        atomic_store(&n->test_parked, false);
#endif
        fd_set rd;
        fd_set wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(n->wake_fd, &rd);
        int max_fd = n->wake_fd;
        if (n->listen_fd >= 0) {
            FD_SET(n->listen_fd, &rd);
            max_fd = n->listen_fd > max_fd ? n->listen_fd : max_fd;
        }
        int64_t now = pk_now_ms();
        int64_t wait_ms = NET_IDLE_WAIT_MS;
        for (net_conn_t *c = n->conns; c != NULL; c = c->next) {
            if (c->state == CONN_RESOLVING) {
                c->selected = false;
                if (c->deadline - now < wait_ms) {
                    wait_ms = c->deadline - now > 0 ? c->deadline - now : 0;
                }
                continue;
            }
            bool r = c->state == CONN_OPEN || c->want_read;
            bool w = c->state == CONN_CONNECTING || c->want_write || (c->state == CONN_OPEN && c->out_head != NULL);
            c->selected = true;
            if (r) {
                FD_SET(c->fd, &rd);
            }
            if (w) {
                FD_SET(c->fd, &wr);
            }
            if ((r || w) && c->fd > max_fd) {
                max_fd = c->fd;
            }
            if (c->state != CONN_OPEN && c->deadline - now < wait_ms) {
                wait_ms = c->deadline - now > 0 ? c->deadline - now : 0;
            }
            if (c->state == CONN_OPEN && mbedtls_ssl_get_bytes_avail(&c->ssl) > 0) {
                wait_ms = 0;
            }
        }
        struct timeval tv = {.tv_sec = (long)(wait_ms / 1000), .tv_usec = (long)(wait_ms % 1000) * 1000};
        int ready = select(max_fd + 1, &rd, &wr, NULL, &tv);
        if (ready < 0 && errno != EINTR) {
            PK_LOGE(TAG, "select failed: %s", strerror(errno));
            pk_sleep_ms(100);
            continue;
        }
        if (ready > 0 && FD_ISSET(n->wake_fd, &rd)) {
            uint64_t count;
            if (read(n->wake_fd, &count, sizeof(count)) < 0) {
                /* EAGAIN: another turn already drained it. */
            }
        }
        /* Commands first: a close or send queued meanwhile applies before we touch the connection. */
        run_commands(n);
        take_resolved(n);
        if (ready > 0 && n->listen_fd >= 0 && FD_ISSET(n->listen_fd, &rd)) {
            do_accept(n);
        }
        now = pk_now_ms();
        for (net_conn_t *c = n->conns; c != NULL;) {
            net_conn_t *next = c->next;
            bool readable = ready > 0 && c->selected && FD_ISSET(c->fd, &rd);
            bool writable = ready > 0 && c->selected && FD_ISSET(c->fd, &wr);
#ifndef ESP_PLATFORM
            if (ready > 0 && !c->selected && c->fd >= 0 && (FD_ISSET(c->fd, &rd) || FD_ISSET(c->fd, &wr))) {
                atomic_fetch_add(&n->test_stale, 1);
            }
#endif
            step_conn(n, c, readable, writable, now);
            c = next;
        }
    }
}

/* ---------------------------------------------------------------- start-up */

static int parse_pem_cert(mbedtls_x509_crt *crt, const char *pem)
{
    /* mbedTLS wants PEM with its terminating NUL counted in the length. */
    return mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
}

static int parse_key_into(mbedtls_pk_context *key, net_tls_t *n, const char *pem)
{
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                &n->drbg);
#else
    (void)n;
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
}

/* Client CA check on the kubelet port: a client that presents a certificate the client CA does not vouch
 * for fails the handshake (VERIFY_OPTIONAL alone would let it in as anonymous). No certificate at all
 * never gets here: that client is served unauthenticated and the core decides (401 without a token). */
static int verify_client(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)crt;
    (void)depth;
    if (*flags == 0) {
        return 0;
    }
    if (ctx != NULL) {
        ((net_conn_t *)ctx)->peer_flags |= *flags;
    }
    return MBEDTLS_ERR_X509_FATAL_ERROR;
}

/* A profile (one reference, the caller's) for the client side (verify the server against the cluster CA,
 * present cert/key if given) or the server side (present cert/key, verify optional client certificates
 * against the client CA). NULL with the reason in `err`. */
static tls_profile_t *profile_new(net_tls_t *n, bool server, const char *cert_pem, const char *key_pem, char *err,
                                  size_t err_size)
{
    char text[128];
    tls_profile_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->refs = 1;
    mbedtls_ssl_config_init(&p->conf);
    mbedtls_x509_crt_init(&p->cert);
    mbedtls_pk_init(&p->key);
    const char *what = "TLS defaults";
    int rc = mbedtls_ssl_config_defaults(&p->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0) {
        mbedtls_ssl_conf_rng(&p->conf, mbedtls_ctr_drbg_random, &n->drbg);
        if (server) {
            mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
            mbedtls_ssl_conf_ca_chain(&p->conf, &n->client_ca, NULL);
            mbedtls_ssl_conf_verify(&p->conf, verify_client, NULL);
        } else {
            mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
#if defined(ESP_PLATFORM) && CONFIG_MBEDTLS_CERTIFICATE_BUNDLE
            if (n->building_public && n->public_bundle) {
                /* The bundle's own chain and verify callback (the CA that signed the top of the chain is
                 * looked up in the bundle); the handshake still requires a verified chain. */
                rc = esp_crt_bundle_attach(&p->conf) == ESP_OK ? 0 : MBEDTLS_ERR_X509_ALLOC_FAILED;
                what = "the certificate bundle";
            } else
#endif
            mbedtls_ssl_conf_ca_chain(&p->conf, n->building_public ? &n->public_ca : &n->ca, NULL);
        }
    }
    if (rc == 0 && cert_pem != NULL) {
        what = server ? "the serving certificate" : "the client certificate";
        rc = parse_pem_cert(&p->cert, cert_pem);
        if (rc == 0) {
            what = server ? "the serving key" : "the client key";
            rc = parse_key_into(&p->key, n, key_pem);
        }
        if (rc == 0) {
            what = server ? "the serving certificate and key" : "the client certificate and key";
            rc = mbedtls_ssl_conf_own_cert(&p->conf, &p->cert, &p->key);
        }
    }
    if (rc != 0) {
        describe_mbedtls_error(rc, text, sizeof(text));
        snprintf(err, err_size, "%s: %s", what, text);
        profile_release(p);
        return NULL;
    }
    return p;
}

/* The PROFILE_PUBLIC profile: the public CAs, no client certificate (a registry is not the cluster). */
static tls_profile_t *public_profile_new(net_tls_t *n, char *err, size_t err_size)
{
    n->building_public = true;
    tls_profile_t *p = profile_new(n, false, NULL, NULL, err, err_size);
    n->building_public = false;
    return p;
}

int32_t net_tls_set_identity(net_tls_t *n, int32_t slot, const char *cert_pem, const char *key_pem)
{
    if ((slot != KUBELET_KEY_SLOT_CLIENT && slot != KUBELET_KEY_SLOT_SERVING) || cert_pem == NULL || key_pem == NULL) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    net_cmd_t *c = new_cmd(CMD_IDENTITY, 0, slot);
    if (c == NULL || (c->data = (uint8_t *)strdup(cert_pem)) == NULL || (c->key_pem = strdup(key_pem)) == NULL) {
        if (c != NULL) {
            free_cmd(c);
        }
        return -KUBELET_ERR_HOST_CALL_FAILED;
    }
    push_cmd(n, c);
    return 0;
}

static int open_wake_fd(void)
{
#ifdef ESP_PLATFORM
    esp_vfs_eventfd_config_t config = ESP_VFS_EVENTD_CONFIG_DEFAULT();
    esp_err_t err = esp_vfs_eventfd_register(&config);
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) {
        PK_LOGE(TAG, "eventfd VFS registration failed: %d", err);
        return -1;
    }
    int fd = eventfd(0, 0);
#else
    int fd = eventfd(0, EFD_CLOEXEC);
#endif
    if (fd >= 0) {
        int flags = fcntl(fd, F_GETFL, 0);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    return fd;
}

net_tls_t *net_tls_start(const net_tls_config_t *config, char *err, size_t err_size)
{
    char text[128];
    if (config->ca_pem == NULL || config->queue == NULL) {
        snprintf(err, err_size, "a cluster CA and an event queue are required");
        return NULL;
    }
    if ((config->client_cert_pem == NULL) != (config->client_key_pem == NULL)) {
        snprintf(err, err_size, "client certificate and key must be given together");
        return NULL;
    }
    net_tls_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    n->cfg = *config;
    if (n->cfg.connect_timeout_ms == 0) {
        n->cfg.connect_timeout_ms = 10000;
    }
    if (n->cfg.max_connections == 0) {
        n->cfg.max_connections = 4;
    }
    n->wake_fd = -1;
    n->listen_fd = -1;
    n->next_accepted = KUBELET_CONN_ACCEPTED_MIN;
    mbedtls_entropy_init(&n->entropy);
    mbedtls_ctr_drbg_init(&n->drbg);
    mbedtls_x509_crt_init(&n->ca);
    mbedtls_x509_crt_init(&n->client_ca);
    mbedtls_x509_crt_init(&n->public_ca);
#if defined(MBEDTLS_PSA_CRYPTO_C)
    psa_crypto_init();
#endif
    static const char personalisation[] = "picokubelet-net";
    int rc = mbedtls_ctr_drbg_seed(&n->drbg, mbedtls_entropy_func, &n->entropy,
                                   (const unsigned char *)personalisation, sizeof(personalisation) - 1);
    if (rc != 0) {
        describe_mbedtls_error(rc, text, sizeof(text));
        snprintf(err, err_size, "seeding the DRBG: %s", text);
        goto fail;
    }
    rc = parse_pem_cert(&n->ca, config->ca_pem);
    if (rc != 0) {
        describe_mbedtls_error(rc, text, sizeof(text));
        snprintf(err, err_size, "the cluster CA (ca_pem) does not parse: %s", text);
        goto fail;
    }
    rc = parse_pem_cert(&n->client_ca, config->client_ca_pem != NULL ? config->client_ca_pem : config->ca_pem);
    if (rc != 0) {
        describe_mbedtls_error(rc, text, sizeof(text));
        snprintf(err, err_size, "the client CA (client_ca) does not parse: %s", text);
        goto fail;
    }
    char why[256];
    if (config->public_ca_pem != NULL) {
        /* A system bundle may hold certificates mbedTLS cannot read (rc > 0: how many): the rest are used. */
        rc = parse_pem_cert(&n->public_ca, config->public_ca_pem);
        if (rc < 0 || n->public_ca.version == 0) {
            describe_mbedtls_error(rc < 0 ? rc : MBEDTLS_ERR_X509_INVALID_FORMAT, text, sizeof(text));
            snprintf(err, err_size, "the public CAs (public_ca_pem) do not parse: %s", text);
            goto fail;
        }
        if ((n->public_side = public_profile_new(n, why, sizeof(why))) == NULL) {
            snprintf(err, err_size, "%s", why);
            goto fail;
        }
    } else if (config->public_ca_bundle) {
#if defined(ESP_PLATFORM) && CONFIG_MBEDTLS_CERTIFICATE_BUNDLE
        n->public_bundle = true;
        if ((n->public_side = public_profile_new(n, why, sizeof(why))) == NULL) {
            snprintf(err, err_size, "%s", why);
            goto fail;
        }
#else
        PK_LOGW(TAG, "public_ca_bundle: this build has no certificate bundle (CONFIG_MBEDTLS_CERTIFICATE_BUNDLE); "
                     "PROFILE_PUBLIC connections will fail");
#endif
    }
    n->client = profile_new(n, false, config->client_cert_pem, config->client_key_pem, why, sizeof(why));
    if (n->client == NULL) {
        snprintf(err, err_size, "%s", why);
        goto fail;
    }
    if ((config->serving_cert_pem == NULL) != (config->serving_key_pem == NULL)) {
        snprintf(err, err_size, "serving certificate and key must be given together");
        goto fail;
    }
    if (config->serving_cert_pem != NULL) {
        n->server = profile_new(n, true, config->serving_cert_pem, config->serving_key_pem, why, sizeof(why));
        if (n->server == NULL) {
            snprintf(err, err_size, "%s", why);
            goto fail;
        }
    }
    n->read_buf = malloc(NET_CHUNK);
    n->lock = pk_mutex_create();
    n->wake_fd = open_wake_fd();
    n->resolve_sem = pk_sem_create(0, UINT32_MAX);
    if (n->read_buf == NULL || n->lock == NULL || n->wake_fd < 0 || n->resolve_sem == NULL) {
        snprintf(err, err_size, "out of memory or file descriptors");
        goto fail;
    }
    /* getaddrinfo needs a few KiB of stack on lwIP; 6 KiB leaves a margin on the board. */
    if (!pk_thread_start("net_dns", resolver_task, n, 6 * 1024, config->task_priority)) {
        snprintf(err, err_size, "cannot start the resolver task");
        goto fail;
    }
    if (!pk_thread_start("net", net_task, n, config->task_stack_bytes, config->task_priority)) {
        /* The resolver thread already holds `n`: it stays allocated (this only fails at boot). */
        snprintf(err, err_size, "cannot start the network task");
        return NULL;
    }
    return n;

fail:
    if (n->wake_fd >= 0) {
        close(n->wake_fd);
    }
    if (n->resolve_sem != NULL) {
        pk_sem_destroy(n->resolve_sem);
    }
    pk_mutex_destroy(n->lock);
    free(n->read_buf);
    profile_release(n->client);
    profile_release(n->server);
    profile_release(n->public_side);
    mbedtls_x509_crt_free(&n->ca);
    mbedtls_x509_crt_free(&n->client_ca);
    mbedtls_x509_crt_free(&n->public_ca);
    mbedtls_ctr_drbg_free(&n->drbg);
    mbedtls_entropy_free(&n->entropy);
    free(n);
    return NULL;
}
