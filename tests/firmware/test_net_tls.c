/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * net_tls.h against a loopback mbedTLS server on 127.0.0.1: the events the wasm task would see for a
 * good handshake and echo, a server that closes, a wrong server name, an untrusted server certificate,
 * a refused port, a required client certificate, a large response split into io_buffer-sized chunks,
 * a dropped link and a silent close, send back-pressure (flow control), and the kubelet-port listener
 * (accepted connections, a client identity, a listen repeated, a listen without a serving certificate,
 * client certificates verified against a client CA of their own: the right one accepted with its identity,
 * one from another CA refused).
 * argv[1] is the directory of the test certificates.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"

#include "check.h"
#include "test_pki.h"
#include "kubelet_abi.h"
#include "net_tls.h"
#include "pk_evq.h"
#include "pk_os.h"

static const char *s_cert_dir;

typedef enum {
    SERVE_ECHO,       /* echo everything until the client goes away */
    SERVE_BYE,        /* send "bye", then close cleanly */
    SERVE_BIG,        /* send 20000 bytes, then wait for the client to go away */
    SERVE_HANDSHAKE,  /* handshake only, then wait */
    SERVE_PUSH,       /* wait for `push`, send "push" (then `pushed`), wait for `push` again, then for the client to go */
} serve_mode_t;

typedef struct {
    int listen_fd;
    uint16_t port;
    serve_mode_t mode;
    bool rogue;
    bool require_client_cert;
    pk_sem_t *push;
    volatile bool pushed;
    /* results */
    bool handshake_ok;
    char peer_cn[128];
    pthread_t thread;
} server_t;

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", s_cert_dir, name);
    return buf[i];
}

static char *read_text(const char *name)
{
    FILE *f = fopen(path_of(name), "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path_of(name));
        exit(2);
    }
    char *buf = calloc(1, 8192); /* test lifetime: never freed */
    size_t got = fread(buf, 1, 8191, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static int sock_send(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    return n < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)n;
}

static int sock_recv(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t n = recv(*(int *)ctx, buf, len, 0);
    return n < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : (int)n;
}

static void *serve(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) {
        return NULL;
    }
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_x509_crt cert;
    mbedtls_x509_crt ca;
    mbedtls_pk_context key;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    mbedtls_x509_crt_init(&cert);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&key);
    mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
    char *crt = read_text(s->rogue ? "rogue-server.crt" : "server.crt");
    char *pem_key = read_text(s->rogue ? "rogue-server.key" : "server.key");
    mbedtls_x509_crt_parse(&cert, (const unsigned char *)crt, strlen(crt) + 1);
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_pk_parse_key(&key, (const unsigned char *)pem_key, strlen(pem_key) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                         &drbg);
#else
    mbedtls_pk_parse_key(&key, (const unsigned char *)pem_key, strlen(pem_key) + 1, NULL, 0);
#endif
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_own_cert(&conf, &cert, &key);
    if (s->require_client_cert) {
        char *ca_pem = read_text("ca.crt");
        mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1);
        free(ca_pem);
        mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
        mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    }
    free(crt);
    free(pem_key);
    mbedtls_ssl_setup(&ssl, &conf);
    mbedtls_ssl_set_bio(&ssl, &fd, sock_send, sock_recv, NULL);
    int rc = mbedtls_ssl_handshake(&ssl);
    s->handshake_ok = rc == 0;
    if (rc == 0) {
        const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&ssl);
        if (peer != NULL) {
            mbedtls_x509_dn_gets(s->peer_cn, sizeof(s->peer_cn), &peer->subject);
        }
        unsigned char buf[4096];
        if (s->mode == SERVE_BYE) {
            mbedtls_ssl_write(&ssl, (const unsigned char *)"bye", 3);
            mbedtls_ssl_close_notify(&ssl);
        } else if (s->mode == SERVE_PUSH) {
            pk_sem_take(s->push, PK_WAIT_FOREVER);
            mbedtls_ssl_write(&ssl, (const unsigned char *)"push", 4);
            __atomic_store_n(&s->pushed, true, __ATOMIC_SEQ_CST);
            /* Keep this end (and its socket number) open until told: a close here, right when the client
             * closes, would free a number below the client's. */
            pk_sem_take(s->push, PK_WAIT_FOREVER);
        } else if (s->mode == SERVE_BIG) {
            static unsigned char big[20000];
            for (size_t i = 0; i < sizeof(big); i++) {
                big[i] = (unsigned char)(i * 7);
            }
            for (size_t off = 0; off < sizeof(big);) {
                int n = mbedtls_ssl_write(&ssl, big + off, sizeof(big) - off);
                if (n <= 0) {
                    break;
                }
                off += (size_t)n;
            }
        }
        for (;;) {
            int n = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
            if (n <= 0) {
                break;
            }
            if (s->mode == SERVE_ECHO) {
                mbedtls_ssl_write(&ssl, buf, (size_t)n);
            }
        }
    }
    close(fd);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&cert);
    mbedtls_x509_crt_free(&ca);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return NULL;
}

static void server_start(server_t *s, serve_mode_t mode)
{
    s->mode = mode;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(s->listen_fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    listen(s->listen_fd, 1);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(server_t *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    close(s->listen_fd);
    pthread_join(s->thread, NULL);
}

typedef struct {
    pk_evq_t *q;
    net_tls_t *net;
} client_t;

static client_t client_new(bool with_client_cert)
{
    client_t c;
    c.q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text("ca.crt"),
        .client_cert_pem = with_client_cert ? read_text("client.crt") : NULL,
        .client_key_pem = with_client_cert ? read_text("client.key") : NULL,
        .queue = c.q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    c.net = net_tls_start(&cfg, err, sizeof(err));
    if (c.net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        exit(2);
    }
    return c;
}

static pk_event_t next_event(client_t *c, int64_t timeout_ms)
{
    pk_event_t ev;
    memset(&ev, 0, sizeof(ev));
    if (!pk_evq_wait(c->q, &ev, timeout_ms)) {
        ev.kind = PK_EV_NONE;
    }
    return ev;
}

static void test_handshake_echo_and_silent_close(void)
{
    server_t s = {0};
    server_start(&s, SERVE_ECHO);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 7, "127.0.0.1", s.port, "localhost");
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CONNECTED);
    CHECK_EQ_INT(ev.conn, 7);
    CHECK_EQ_INT(ev.gen, 1);
    net_tls_send(c.net, 1, 7, (const uint8_t *)"GET /version", 12);
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_DATA);
    CHECK(ev.len == 12 && memcmp(ev.data, "GET /version", 12) == 0);
    pk_event_release(&ev);
    CHECK_EQ_INT(net_tls_open_count(c.net), 1);
    net_tls_close(c.net, 1, 7);
    ev = next_event(&c, 300);
    CHECK_EQ_INT(ev.kind, PK_EV_NONE); /* a close the core asked for sends no event */
    server_stop(&s);
    CHECK(s.handshake_ok);
    CHECK_EQ_INT(net_tls_open_count(c.net), 0);
}

/* Output that cannot be buffered (out of memory) closes the connection with an error instead of silently
 * leaving a hole in the stream. */
static void test_send_out_of_memory_closes(void)
{
    server_t s = {0};
    server_start(&s, SERVE_ECHO);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 8, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    pk_buffer_alloc_fail_next(1);
    net_tls_send(c.net, 1, 8, (const uint8_t *)"lost", 4);
    pk_event_t ev = next_event(&c, 10000);
    pk_buffer_alloc_fail_next(0);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.conn, 8);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_IO_ERROR);
    CHECK_EQ_INT(net_tls_open_count(c.net), 0);

    server_stop(&s);
}

/* More than the 64 KiB budget: the send takes what fits, PK_EV_WRITABLE follows, the rest goes out and
 * every byte comes back echoed in order. Nothing is closed. A send on an unknown connection is -1. */
static void test_send_back_pressure(void)
{
    server_t s = {0};
    server_start(&s, SERVE_ECHO);
    client_t c = client_new(false);
    CHECK_EQ_INT(net_tls_send(c.net, 1, 9, (const uint8_t *)"x", 1), -1);
    net_tls_connect(c.net, 1, 9, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    enum { TOTAL = 150 * 1024 };
    static uint8_t big[TOTAL];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7 + i / 251);
    }
    size_t sent = 0;
    size_t received = 0;
    int writables = 0;
    bool in_order = true;
    int32_t first = net_tls_send(c.net, 1, 9, big, sizeof(big));
    CHECK_EQ_INT(first, NET_TLS_SEND_BUDGET);
    sent = (size_t)first;
    int64_t deadline = pk_now_ms() + 20000;
    while (received < sizeof(big) && pk_now_ms() < deadline) {
        pk_event_t ev = next_event(&c, 1000);
        if (ev.kind == PK_EV_WRITABLE) {
            CHECK_EQ_INT(ev.conn, 9);
            writables++;
            int32_t took = net_tls_send(c.net, 1, 9, big + sent, sizeof(big) - sent);
            CHECK(took > 0);
            sent += took > 0 ? (size_t)took : 0;
        } else if (ev.kind == PK_EV_DATA) {
            in_order = in_order && received + ev.len <= sizeof(big) && memcmp(ev.data, big + received, ev.len) == 0;
            received += ev.len;
        } else if (ev.kind == PK_EV_CLOSED) {
            CHECK(!"the connection must not close");
            break;
        }
        pk_event_release(&ev);
    }
    CHECK_EQ_INT((int)sent, (int)sizeof(big));
    CHECK_EQ_INT((int)received, (int)sizeof(big));
    CHECK(in_order);
    CHECK(writables >= 2);
    net_tls_close(c.net, 1, 9);
    CHECK_EQ_INT(net_tls_send(c.net, 1, 9, big, 10), -1);
    server_stop(&s);
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* The kubelet port: net_tls listens, connects to itself (with the node's client certificate) and both
 * ends carry bytes; the accepted end sees the verified identity and its peer. */
static void test_listener_accepts(void)
{
    pk_evq_t *q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text("ca.crt"),
        .client_cert_pem = read_text("client.crt"),
        .client_key_pem = read_text("client.key"),
        .serving_cert_pem = read_text("server.crt"),
        .serving_key_pem = read_text("server.key"),
        .listen_address = "127.0.0.1",
        .queue = q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    net_tls_t *net = net_tls_start(&cfg, err, sizeof(err));
    CHECK(net != NULL);
    if (net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        return;
    }
    client_t c = {.q = q, .net = net};
    uint16_t port = free_port();
    CHECK_EQ_INT(net_tls_listen(net, 1, 5, port), 0);
    pk_event_t ev = next_event(&c, 5000);
    CHECK_EQ_INT(ev.kind, PK_EV_HOST_RESULT);
    CHECK_EQ_INT(ev.conn, 5);
    CHECK_EQ_INT(ev.arg, 0);
    pk_event_release(&ev);
    /* Asking again (a resumed or rebuilt core) succeeds; another port does not. */
    net_tls_listen(net, 1, 6, port);
    ev = next_event(&c, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.conn == 6 && ev.arg == 0);
    pk_event_release(&ev);
    net_tls_listen(net, 1, 7, (uint16_t)(port + 1));
    ev = next_event(&c, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.conn == 7 && ev.arg == KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(ev.len > 0 && memmem(ev.data, ev.len, "already listening", 17) != NULL);
    pk_event_release(&ev);

    net_tls_connect(net, 1, 3, "127.0.0.1", port, "localhost");
    int32_t accepted = 0;
    bool connected = false;
    for (int i = 0; i < 2; i++) {
        ev = next_event(&c, 10000);
        if (ev.kind == PK_EV_ACCEPTED) {
            accepted = ev.conn;
            CHECK_EQ_INT(ev.arg, port);
            CHECK_EQ_INT(ev.arg2, 0x7F000001);
            const char *want = "CN=system:node:test\nO=system:nodes\n";
            CHECK(ev.len == strlen(want) && memcmp(ev.data, want, ev.len) == 0);
        } else if (ev.kind == PK_EV_CONNECTED) {
            connected = ev.conn == 3;
        }
        pk_event_release(&ev);
    }
    CHECK(connected);
    CHECK(accepted >= KUBELET_CONN_ACCEPTED_MIN);
    CHECK_EQ_INT(net_tls_send(net, 1, 3, (const uint8_t *)"GET /healthz", 12), 12);
    ev = next_event(&c, 10000);
    CHECK(ev.kind == PK_EV_DATA && ev.conn == accepted && ev.len == 12 && memcmp(ev.data, "GET /healthz", 12) == 0);
    pk_event_release(&ev);
    CHECK_EQ_INT(net_tls_send(net, 1, accepted, (const uint8_t *)"ok", 2), 2);
    ev = next_event(&c, 10000);
    CHECK(ev.kind == PK_EV_DATA && ev.conn == 3 && ev.len == 2 && memcmp(ev.data, "ok", 2) == 0);
    pk_event_release(&ev);
    net_tls_close(net, 1, accepted);
    ev = next_event(&c, 10000);
    CHECK(ev.kind == PK_EV_CLOSED && ev.conn == 3 && ev.arg == KUBELET_CLOSE_EOF);
    pk_event_release(&ev);

    /* A client without a certificate is accepted without an identity. */
    client_t anon = client_new(false);
    net_tls_connect(anon.net, 1, 4, "127.0.0.1", port, "localhost");
    CHECK_EQ_INT(next_event(&anon, 10000).kind, PK_EV_CONNECTED);
    ev = next_event(&c, 10000);
    CHECK(ev.kind == PK_EV_ACCEPTED && ev.len == 0);
    pk_event_release(&ev);
}

/* A net_tls client presenting cert/key (NULL: none), trusting the cluster CA. */
static client_t client_with(const char *cert_pem, const char *key_pem)
{
    client_t c;
    c.q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text("ca.crt"),
        .client_cert_pem = cert_pem,
        .client_key_pem = key_pem,
        .queue = c.q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    c.net = net_tls_start(&cfg, err, sizeof(err));
    if (c.net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        exit(2);
    }
    return c;
}

/* The kubelet port with a client CA other than the cluster CA (the API server's kubelet client
 * certificates come from the cluster's client CA): a client certificate from it is accepted with its CN and
 * every O; one from another CA (here the cluster CA's own client.crt, and one from a stranger CA) fails
 * the handshake and the core never hears of it; no certificate at all is accepted without an identity. */
static void test_listener_client_ca(void)
{
    pki_ca_t client_ca;
    pki_ca(&client_ca, "test client CA");
    pki_ca_t stranger;
    pki_ca(&stranger, "stranger CA");
    pk_evq_t *q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text("ca.crt"),
        .client_ca_pem = client_ca.pem,
        .serving_cert_pem = read_text("server.crt"),
        .serving_key_pem = read_text("server.key"),
        .listen_address = "127.0.0.1",
        .queue = q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    net_tls_t *net = net_tls_start(&cfg, err, sizeof(err));
    CHECK(net != NULL);
    if (net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        return;
    }
    client_t server = {.q = q, .net = net};
    uint16_t port = free_port();
    net_tls_listen(net, 1, 5, port);
    pk_event_t ev = next_event(&server, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.arg == 0);
    pk_event_release(&ev);

    char *cert;
    char *key;
    pki_leaf(&client_ca, "CN=kube-apiserver-kubelet-client,O=system:masters,O=kubeadm:cluster-admins", NULL, 0, &cert,
             &key);
    client_t good = client_with(cert, key);
    net_tls_connect(good.net, 1, 1, "127.0.0.1", port, "localhost");
    CHECK_EQ_INT(next_event(&good, 10000).kind, PK_EV_CONNECTED);
    ev = next_event(&server, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_ACCEPTED);
    const char *want = "CN=kube-apiserver-kubelet-client\nO=system:masters\nO=kubeadm:cluster-admins\n";
    CHECK(ev.len == strlen(want) && memcmp(ev.data, want, ev.len) == 0);
    if (ev.len != strlen(want) || memcmp(ev.data, want, ev.len) != 0) {
        fprintf(stderr, "identity: %.*s\n", (int)ev.len, (const char *)ev.data);
    }
    pk_event_release(&ev);

    client_t cluster_signed = client_new(true); /* client.crt: signed by the cluster CA, not the client CA */
    net_tls_connect(cluster_signed.net, 1, 2, "127.0.0.1", port, "localhost");
    ev = next_event(&cluster_signed, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED);
    char *stranger_cert;
    char *stranger_key;
    pki_leaf(&stranger, "CN=system:node:intruder,O=system:nodes", NULL, 0, &stranger_cert, &stranger_key);
    client_t strange = client_with(stranger_cert, stranger_key);
    net_tls_connect(strange.net, 1, 3, "127.0.0.1", port, "localhost");
    ev = next_event(&strange, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED);

    client_t anon = client_with(NULL, NULL);
    net_tls_connect(anon.net, 1, 4, "127.0.0.1", port, "localhost");
    CHECK_EQ_INT(next_event(&anon, 10000).kind, PK_EV_CONNECTED);
    ev = next_event(&server, 10000);
    CHECK(ev.kind == PK_EV_ACCEPTED && ev.len == 0); /* the refused ones produced no event before this */
    pk_event_release(&ev);
    CHECK_EQ_INT(next_event(&server, 300).kind, PK_EV_NONE);
    /* The PEM texts given to net_tls_start stay with its configuration; the CA keys are ours. */
    mbedtls_pk_free(&client_ca.key);
    pki_ca_free(&stranger);
}

/* Without a serving certificate the port is listened on, and connections are refused until one is set
 * (net_tls_set_identity, as host_crypto does when the serving slot's certificate is installed). */
static void test_listen_without_certificate(void)
{
    client_t c = client_new(false);
    uint16_t port = free_port();
    net_tls_listen(c.net, 1, 9, port);
    pk_event_t ev = next_event(&c, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.conn == 9 && ev.arg == 0);
    pk_event_release(&ev);
    client_t peer = client_new(false);
    net_tls_connect(peer.net, 1, 1, "127.0.0.1", port, "localhost");
    ev = next_event(&peer, 10000);
    CHECK(ev.kind == PK_EV_CLOSED && ev.conn == 1 && ev.arg == KUBELET_CLOSE_TLS_FAILED);
    CHECK_EQ_INT(next_event(&c, 300).kind, PK_EV_NONE); /* the core hears nothing of it */
    char *cert = read_text("server.crt");
    char *key = read_text("server.key");
    CHECK_EQ_INT(net_tls_set_identity(c.net, 2, cert, key), -KUBELET_ERR_HOST_CALL_INVALID);
    CHECK_EQ_INT(net_tls_set_identity(c.net, KUBELET_KEY_SLOT_SERVING, cert, key), 0);
    free(cert); /* copied */
    free(key);
    net_tls_connect(peer.net, 1, 2, "127.0.0.1", port, "localhost");
    CHECK_EQ_INT(next_event(&peer, 10000).kind, PK_EV_CONNECTED);
    ev = next_event(&c, 10000);
    CHECK(ev.kind == PK_EV_ACCEPTED && ev.len == 0);
    pk_event_release(&ev);
}

/* A blocking mbedTLS client handshake on `fd` (server verified for "localhost" against ca.crt). */
static bool blocking_client_handshake(int fd)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_x509_crt ca;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    mbedtls_x509_crt_init(&ca);
    char *ca_pem = read_text("ca.crt");
    int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0);
    if (rc == 0) {
        rc = mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1);
    }
    if (rc == 0) {
        rc = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    }
    if (rc == 0) {
        mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
        mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
        mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        rc = mbedtls_ssl_setup(&ssl, &conf);
    }
    if (rc == 0) {
        rc = mbedtls_ssl_set_hostname(&ssl, "localhost");
    }
    if (rc == 0) {
        mbedtls_ssl_set_bio(&ssl, &fd, sock_send, sock_recv, NULL);
        rc = mbedtls_ssl_handshake(&ssl);
    }
    free(ca_pem);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc == 0;
}

/*
 * Socket number reuse (issue 13): in one turn the network task closes a connection (a command that
 * arrived during select()) and then accepts a new one, which gets the freed socket number and so would
 * find that number's readiness in the select() result. The guard keeps the new connection from acting
 * on it; the connection then completes its handshake normally. The turn is staged with the task held
 * before select(): bytes waiting on the old connection, a client waiting in the listen backlog, the
 * close queued, and every lower socket number taken so that accept() must reuse the closed one.
 */
static void test_socket_number_reuse(void)
{
    server_t s = {.push = pk_sem_create(0, 1)};
    server_start(&s, SERVE_PUSH);
    pk_evq_t *q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text("ca.crt"),
        .serving_cert_pem = read_text("server.crt"),
        .serving_key_pem = read_text("server.key"),
        .listen_address = "127.0.0.1",
        .queue = q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    net_tls_t *net = net_tls_start(&cfg, err, sizeof(err));
    CHECK(net != NULL);
    if (net == NULL) {
        return;
    }
    client_t x = {.q = q, .net = net};
    uint16_t port = free_port();
    net_tls_listen(net, 1, 1, port);
    pk_event_t ev = next_event(&x, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.arg == 0);
    pk_event_release(&ev);
    net_tls_connect(net, 1, 7, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&x, 10000).kind, PK_EV_CONNECTED);

    /* The server's bytes arrive while the task is held: connection 7's socket is readable. */
    net_tls_test_hold(net, true);
    int64_t deadline = pk_now_ms() + 5000;
    while (!net_tls_test_parked(net) && pk_now_ms() < deadline) {
        pk_sleep_ms(1);
    }
    CHECK(net_tls_test_parked(net));
    int old_fd = net_tls_test_socket(net, 1, 7);
    CHECK(old_fd > 2);
    /* Every free socket number below the old one is taken, so accept() must reuse it. */
    int fillers[64];
    int nfill = 0;
    for (;;) {
        int f = dup(0);
        if (f < 0 || f > old_fd || nfill == 64) {
            if (f >= 0) {
                close(f);
            }
            break;
        }
        fillers[nfill++] = f;
    }
    int raw = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(raw > old_fd);
    CHECK_EQ_INT(connect(raw, (struct sockaddr *)&a, sizeof(a)), 0); /* in the listen backlog now */
    pk_sem_give(s.push);
    /* Both sockets must be readable before the task's select(): poll them from here (only polled, never
     * read; loopback delivery can lag the sender's write on a busy machine). */
    struct pollfd ready[2] = {{.fd = old_fd, .events = POLLIN}, {.fd = net_tls_test_listen_socket(net), .events = POLLIN}};
    CHECK(ready[1].fd >= 0);
    deadline = pk_now_ms() + 5000;
    bool both = false;
    while (!both && pk_now_ms() < deadline) {
        both = poll(ready, 2, 100) >= 0 && (ready[0].revents & POLLIN) && (ready[1].revents & POLLIN);
    }
    CHECK(both);
    net_tls_close(net, 1, 7);
    uint32_t before = net_tls_test_stale_readiness(net);
    net_tls_test_hold(net, false);

    CHECK(blocking_client_handshake(raw));
    ev = next_event(&x, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_ACCEPTED);
    int32_t accepted = ev.conn;
    pk_event_release(&ev);
    CHECK(net_tls_test_stale_readiness(net) > before);
    CHECK_EQ_INT(next_event(&x, 300).kind, PK_EV_NONE); /* no data or close for 7 (the core closed it) */
    net_tls_close(net, 1, accepted);
    close(raw);
    for (int i = 0; i < nfill; i++) {
        close(fillers[i]);
    }
    pk_sem_give(s.push);
    server_stop(&s);
    pk_sem_destroy(s.push);
}

/* A name lookup in progress (held, as a slow DNS server would) does not stall an open connection. */
static void test_lookup_does_not_block_others(void)
{
    server_t s = {0};
    server_start(&s, SERVE_ECHO);
    server_t s2 = {0};
    server_start(&s2, SERVE_ECHO);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 1, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    net_tls_test_hold_resolver(true);
    net_tls_connect(c.net, 1, 2, "localhost", s2.port, "localhost");
    net_tls_send(c.net, 1, 1, (const uint8_t *)"ping", 4);
    pk_event_t ev = next_event(&c, 5000);
    CHECK_EQ_INT(ev.kind, PK_EV_DATA); /* the echo arrives while connection 2 is still resolving */
    CHECK_EQ_INT(ev.conn, 1);
    CHECK(ev.len == 4 && memcmp(ev.data, "ping", 4) == 0);
    pk_event_release(&ev);
    net_tls_test_hold_resolver(false);
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CONNECTED);
    CHECK_EQ_INT(ev.conn, 2);
    net_tls_close(c.net, 1, 1);
    net_tls_close(c.net, 1, 2);
    server_stop(&s);
    server_stop(&s2);
}

static void test_server_closes(void)
{
    server_t s = {0};
    server_start(&s, SERVE_BYE);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 1, "localhost", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_DATA);
    CHECK(ev.len == 3 && memcmp(ev.data, "bye", 3) == 0);
    pk_event_release(&ev);
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_EOF);
    server_stop(&s);
}

static void test_wrong_server_name(void)
{
    server_t s = {0};
    server_start(&s, SERVE_HANDSHAKE);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 2, "127.0.0.1", s.port, "kubernetes.example");
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED);
    server_stop(&s);
}

static void test_untrusted_server(void)
{
    server_t s = {.rogue = true};
    server_start(&s, SERVE_HANDSHAKE);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 3, "127.0.0.1", s.port, "localhost");
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED);
    server_stop(&s);
}

/* An IP address as the server name is matched against the certificate's IP SANs (net_tls does it itself on
 * mbedTLS 2.x, which matches only DNS names): server.crt has IP:127.0.0.1 and not 127.0.0.2. */
static void test_ip_server_name(void)
{
    server_t s = {0};
    server_start(&s, SERVE_HANDSHAKE);
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 4, "127.0.0.1", s.port, "127.0.0.1");
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CONNECTED);
    net_tls_close(c.net, 1, 4);
    server_stop(&s);

    server_start(&s, SERVE_HANDSHAKE);
    net_tls_connect(c.net, 1, 5, "127.0.0.1", s.port, "127.0.0.2");
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED);
    server_stop(&s);
}

static client_t client_public(const char *cluster_ca, const char *public_ca)
{
    client_t c;
    c.q = pk_evq_create(32);
    net_tls_config_t cfg = {
        .ca_pem = read_text(cluster_ca),
        .public_ca_pem = public_ca != NULL ? read_text(public_ca) : NULL,
        .client_cert_pem = read_text("client.crt"),
        .client_key_pem = read_text("client.key"),
        .queue = c.q,
        .connect_timeout_ms = 5000,
    };
    char err[256];
    c.net = net_tls_start(&cfg, err, sizeof(err));
    if (c.net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        exit(2);
    }
    return c;
}

/* PROFILE_PUBLIC (a registry): verified against the public CAs, not the cluster's, and without the node's
 * client certificate; refused at once by a host given no public CAs. */
static void test_public_profile(void)
{
    server_t s = {0};
    client_t c = client_public("rogue-ca.crt", "ca.crt");
    server_start(&s, SERVE_HANDSHAKE);
    CHECK_EQ_INT(net_tls_connect_profile(c.net, 1, 6, "127.0.0.1", s.port, "localhost", KUBELET_PROFILE_PUBLIC), 0);
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CONNECTED);
    net_tls_close(c.net, 1, 6);
    server_stop(&s);

    server_start(&s, SERVE_HANDSHAKE);
    net_tls_connect_profile(c.net, 1, 7, "127.0.0.1", s.port, "localhost", KUBELET_PROFILE_CLUSTER);
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_TLS_FAILED); /* the cluster CA here is the rogue one */
    server_stop(&s);

    server_t strict = {.require_client_cert = true};
    server_start(&strict, SERVE_HANDSHAKE);
    net_tls_connect_profile(c.net, 1, 8, "127.0.0.1", strict.port, "localhost", KUBELET_PROFILE_PUBLIC);
    ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    server_stop(&strict);
    CHECK(!strict.handshake_ok); /* no client certificate was presented */

    client_t none = client_public("ca.crt", NULL);
    CHECK_EQ_INT(net_tls_connect_profile(none.net, 1, 9, "127.0.0.1", 1, "localhost", KUBELET_PROFILE_PUBLIC),
                 KUBELET_CLOSE_TLS_FAILED);
}

static void test_refused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* nobody listens on this port now */
    client_t c = client_new(false);
    net_tls_connect(c.net, 1, 4, "127.0.0.1", ntohs(a.sin_port), "localhost");
    pk_event_t ev = next_event(&c, 10000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_CONNECT_FAILED);
}

static void test_client_certificate(void)
{
    server_t s = {.require_client_cert = true};
    server_start(&s, SERVE_HANDSHAKE);
    client_t c = client_new(true);
    net_tls_connect(c.net, 1, 6, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    net_tls_close(c.net, 1, 6);
    server_stop(&s);
    CHECK(s.handshake_ok);
    CHECK(strstr(s.peer_cn, "system:node:test") != NULL);
}

static void test_large_response_is_chunked(void)
{
    server_t s = {0};
    server_start(&s, SERVE_BIG);
    client_t c = client_new(false);
    net_tls_connect(c.net, 2, 9, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    uint32_t total = 0;
    bool chunks_ok = true;
    bool bytes_ok = true;
    while (total < 20000) {
        pk_event_t ev = next_event(&c, 10000);
        if (ev.kind != PK_EV_DATA) {
            break;
        }
        chunks_ok = chunks_ok && ev.len >= 1 && ev.len <= KUBELET_ABI_IO_BUFFER_SIZE && ev.gen == 2;
        for (uint32_t i = 0; i < ev.len; i++) {
            bytes_ok = bytes_ok && ev.data[i] == (uint8_t)((total + i) * 7);
        }
        total += ev.len;
        pk_event_release(&ev);
    }
    CHECK_EQ_INT(total, 20000);
    CHECK(chunks_ok);
    CHECK(bytes_ok);
    net_tls_close_all(c.net, 2);
    CHECK_EQ_INT(next_event(&c, 300).kind, PK_EV_NONE);
    server_stop(&s);
}

static void test_link_drop(void)
{
    server_t s = {0};
    server_start(&s, SERVE_ECHO);
    client_t c = client_new(false);
    net_tls_connect(c.net, 3, 11, "127.0.0.1", s.port, "localhost");
    CHECK_EQ_INT(next_event(&c, 10000).kind, PK_EV_CONNECTED);
    net_tls_drop_all(c.net, KUBELET_CLOSE_LINK_DOWN);
    pk_event_t ev = next_event(&c, 5000);
    CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
    CHECK_EQ_INT(ev.conn, 11);
    CHECK_EQ_INT(ev.arg, KUBELET_CLOSE_LINK_DOWN);
    /* sends to a connection that is gone are dropped quietly */
    net_tls_send(c.net, 3, 11, (const uint8_t *)"x", 1);
    CHECK_EQ_INT(next_event(&c, 300).kind, PK_EV_NONE);
    server_stop(&s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CERT_DIR\n", argv[0]);
        return 2;
    }
    s_cert_dir = argv[1];
    pk_log_set_level(PK_LOG_WARN);
    RUN(test_socket_number_reuse);
    RUN(test_handshake_echo_and_silent_close);
    RUN(test_send_out_of_memory_closes);
    RUN(test_send_back_pressure);
    RUN(test_listener_accepts);
    RUN(test_listener_client_ca);
    RUN(test_listen_without_certificate);
    RUN(test_lookup_does_not_block_others);
    RUN(test_server_closes);
    RUN(test_wrong_server_name);
    RUN(test_untrusted_server);
    RUN(test_ip_server_name);
    RUN(test_public_profile);
    RUN(test_refused_port);
    RUN(test_client_certificate);
    RUN(test_large_response_is_chunked);
    RUN(test_link_drop);
    return check_summary("net_tls");
}
