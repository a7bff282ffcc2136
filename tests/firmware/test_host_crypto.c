/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * host_crypto.h through its host calls, as the core makes them (results arrive as PK_EV_HOST_RESULT):
 * key generation and CSRs parsed back with mbedTLS (subject, SANs, key type, signature), spec errors,
 * installing a certificate issued for the slot's key by a test CA and one issued for another key,
 * OP_CERT_INFO, persistence in a certificate directory (file modes, a restart, a restart in the middle of
 * a rotation, a torn pair), and both slots taken into use by net_tls: the kubelet port presents the
 * installed serving certificate and the node's own connections the installed client certificate.
 */
#define _GNU_SOURCE /* memmem, mkdtemp */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbedtls/md.h"

#include "check.h"
#include "test_pki.h"

#include "cred_store.h"
#include "host_crypto.h"
#include "kubelet_abi.h"
#include "net_tls.h"
#include "pk_evq.h"
#include "pk_os.h"

typedef struct {
    int32_t status;
    char text[4097];
    uint32_t len;
} result_t;

static int32_t s_req = 100;

/* host_call(op, slot, bytes) and the result that follows; status -1000 - rc when refused at once. */
static result_t call(host_crypto_t *hc, pk_evq_t *q, int32_t op, int32_t slot, const char *bytes)
{
    result_t r;
    memset(&r, 0, sizeof(r));
    int32_t req = ++s_req;
    int32_t rc = host_crypto_call(hc, 3, req, op, slot, (const uint8_t *)bytes, bytes != NULL ? strlen(bytes) : 0);
    if (rc != 0) {
        r.status = -1000 + rc;
        return r;
    }
    pk_event_t ev;
    for (;;) {
        if (!pk_evq_wait(q, &ev, 20000)) {
            r.status = -2000;
            return r;
        }
        if (ev.kind == PK_EV_HOST_RESULT) {
            break;
        }
        /* net_tls shares the queue in the last test: a connection's close may still come in */
        CHECK_EQ_INT(ev.kind, PK_EV_CLOSED);
        pk_event_release(&ev);
    }
    CHECK_EQ_INT(ev.conn, req);
    CHECK_EQ_INT(ev.gen, 3);
    r.status = ev.arg;
    r.len = ev.len < sizeof(r.text) - 1 ? ev.len : (uint32_t)sizeof(r.text) - 1;
    if (r.len > 0) {
        memcpy(r.text, ev.data, r.len);
    }
    pk_event_release(&ev);
    return r;
}

/* What on_identity was given last, per slot. */
typedef struct {
    int calls[2];
    char chain[2][8192];
    char key[2][2048];
    net_tls_t *net;
} identities_t;

static void on_identity(void *ctx, int32_t slot, const char *chain_pem, const char *key_pem)
{
    identities_t *ids = ctx;
    ids->calls[slot]++;
    snprintf(ids->chain[slot], sizeof(ids->chain[slot]), "%s", chain_pem);
    snprintf(ids->key[slot], sizeof(ids->key[slot]), "%s", key_pem);
    if (ids->net != NULL) {
        CHECK_EQ_INT(net_tls_set_identity(ids->net, slot, chain_pem, key_pem), 0);
    }
}

static host_crypto_t *start(pk_evq_t *q, cred_store_t *store, identities_t *ids)
{
    host_crypto_config_t cfg = {.queue = q, .store = store, .on_identity = on_identity, .ctx = ids};
    char err[256];
    host_crypto_t *hc = host_crypto_start(&cfg, err, sizeof(err));
    if (hc == NULL) {
        fprintf(stderr, "host_crypto_start: %s\n", err);
        exit(2);
    }
    return hc;
}

/* Parses a CSR result; false if it is not one. */
static bool parse_csr(const result_t *r, mbedtls_x509_csr *csr)
{
    mbedtls_x509_csr_init(csr);
    char pem[4097];
    memcpy(pem, r->text, r->len);
    pem[r->len] = '\0';
    return r->status == 0 && strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0 &&
           mbedtls_x509_csr_parse(csr, (const unsigned char *)pem, r->len + 1) == 0;
}

/* A certificate for the key of a CSR, issued by `ca`, with the CSR's subjectAltName. */
static char *issue_for(const pki_ca_t *ca, mbedtls_x509_csr *csr, const char *subject, const char *from,
                       const char *to)
{
    size_t san_len = 0;
    const unsigned char *san = pki_csr_san(csr, &san_len);
    return pki_issue(ca, NULL, &csr->pk, subject, false, from, to, san, san_len);
}

static void test_csr_contents(void)
{
    pk_evq_t *q = pk_evq_create(8);
    identities_t ids = {0};
    host_crypto_t *hc = start(q, NULL, &ids);
    result_t r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING, "CN=x\n");
    CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_INVALID); /* no key yet */
    CHECK(strstr(r.text, "has no key") != NULL);
    r = call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(r.len, 0);
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING,
             "CN=system:node:esp-node-03\nO=system:nodes\nO=picokubelet:boards\nDNS=esp-node-03\n"
             "DNS=esp-node-03.lab.example\nIP=192.168.0.103\nIP=fd00::3\n");
    mbedtls_x509_csr csr;
    CHECK(parse_csr(&r, &csr));
    char dn[256];
    mbedtls_x509_dn_gets(dn, sizeof(dn), &csr.subject);
    CHECK_EQ_STR(dn, "O=system:nodes, O=picokubelet:boards, CN=system:node:esp-node-03");
    CHECK_EQ_INT(mbedtls_pk_get_type(&csr.pk), MBEDTLS_PK_ECKEY);
    CHECK_EQ_INT(mbedtls_pk_get_bitlen(&csr.pk), 256);
    CHECK_EQ_INT(mbedtls_pk_ec(csr.pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
    CHECK_EQ_INT(csr.sig_md, MBEDTLS_MD_SHA256);
    CHECK_EQ_INT(csr.sig_pk, MBEDTLS_PK_ECDSA);
    /* The signature is the slot key's over the request info. */
    unsigned char hash[32];
    CHECK_EQ_INT(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), csr.cri.p, csr.cri.len, hash), 0);
    CHECK_EQ_INT(mbedtls_pk_verify(&csr.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), csr.sig.p, csr.sig.len), 0);
    hash[0] ^= 1;
    CHECK(mbedtls_pk_verify(&csr.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), csr.sig.p, csr.sig.len) != 0);
    size_t san_len = 0;
    const unsigned char *san = pki_csr_san(&csr, &san_len);
    CHECK(san != NULL);
    char lines[512] = "";
    if (san != NULL) {
        pki_san_lines(san, san_len, lines, sizeof(lines));
    }
    CHECK_EQ_STR(lines, "DNS=esp-node-03\nDNS=esp-node-03.lab.example\nIP=192.168.0.103\n"
                        "IP6=fd000000000000000000000000000003\n");
    mbedtls_x509_csr_free(&csr);

    /* Without SANs: no extension request at all; a second CSR for the same key has the same key. */
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING, "CN=system:node:a\nO=system:nodes");
    mbedtls_x509_csr csr2;
    CHECK(parse_csr(&r, &csr2));
    CHECK(pki_csr_san(&csr2, &san_len) == NULL);
    mbedtls_x509_dn_gets(dn, sizeof(dn), &csr2.subject);
    CHECK_EQ_STR(dn, "O=system:nodes, CN=system:node:a");
    mbedtls_x509_csr_free(&csr2);

    /* A new key: another public key in the next request. */
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING, "CN=k");
    mbedtls_x509_csr before;
    CHECK(parse_csr(&r, &before));
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL).status, 0);
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING, "CN=k");
    mbedtls_x509_csr after;
    CHECK(parse_csr(&r, &after));
    unsigned char a[128];
    unsigned char b[128];
    int la = mbedtls_pk_write_pubkey_der(&before.pk, a, sizeof(a));
    int lb = mbedtls_pk_write_pubkey_der(&after.pk, b, sizeof(b));
    CHECK(la > 0 && la == lb && memcmp(a + sizeof(a) - la, b + sizeof(b) - lb, (size_t)la) != 0);
    mbedtls_x509_csr_free(&before);
    mbedtls_x509_csr_free(&after);
}

static void test_spec_errors_and_refusals(void)
{
    pk_evq_t *q = pk_evq_create(8);
    identities_t ids = {0};
    host_crypto_t *hc = start(q, NULL, &ids);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_CLIENT, NULL).status, 0);
    static const struct {
        const char *spec;
        const char *words;
    } bad[] = {
        {"O=system:nodes\n", "no CN"},
        {"CN=a\nCN=b\n", "more than one CN"},
        {"CN=a\nOU=x\n", "unknown spec key"},
        {"CN=a\nDNS=bad name\n", "bad DNS name"},
        {"CN=a\nDNS=-lead\n", "bad DNS name"},
        {"CN=a\nIP=300.1.1.1\n", "bad IP address"},
        {"CN=a\nO=\n", "bad spec line"},
        {"CN=a\tb\n", "bad spec line"},
        {"CN\n", "bad spec line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        result_t r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_CLIENT, bad[i].spec);
        CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_INVALID);
        if (strstr(r.text, bad[i].words) == NULL) {
            fprintf(stderr, "spec %zu: \"%s\" does not say \"%s\"\n", i, r.text, bad[i].words);
            g_failures++;
        }
    }
    /* Refused at once: no such slot, another op. */
    CHECK_EQ_INT(host_crypto_call(hc, 3, 1, KUBELET_OP_KEY_GENERATE, 2, NULL, 0), -KUBELET_ERR_HOST_CALL_INVALID);
    CHECK_EQ_INT(host_crypto_call(hc, 3, 1, KUBELET_OP_CSR_CREATE, -1, NULL, 0), -KUBELET_ERR_HOST_CALL_INVALID);
    CHECK_EQ_INT(host_crypto_call(hc, 3, 1, KUBELET_OP_LISTEN, 0, NULL, 0), -KUBELET_ERR_UNSUPPORTED);
    CHECK_EQ_INT(host_crypto_call(hc, 3, 1, 99, 0, NULL, 0), -KUBELET_ERR_UNSUPPORTED);
    CHECK_EQ_INT(pk_evq_count(q), 0);
}

static void test_install_and_info(void)
{
    pk_evq_t *q = pk_evq_create(8);
    identities_t ids = {0};
    host_crypto_t *hc = start(q, NULL, &ids);
    pki_ca_t ca;
    pki_ca(&ca, "test cluster CA");
    result_t r = call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_CLIENT, NULL);
    CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(strstr(r.text, "no certificate") != NULL);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, ca.pem).status,
                 KUBELET_ERR_HOST_CALL_INVALID); /* no key in the slot */

    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_CLIENT, NULL).status, 0);
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_CLIENT, "CN=system:node:n1\nO=system:nodes\n");
    mbedtls_x509_csr csr;
    CHECK(parse_csr(&r, &csr));
    /* 2026-01-01T00:00:00Z .. 2027-01-01T00:00:00Z */
    char *leaf = issue_for(&ca, &csr, "O=system:nodes,CN=system:node:n1", "20260101000000", "20270101000000");
    mbedtls_x509_csr_free(&csr);

    /* A certificate for some other key is refused, and changes nothing. */
    char *other_cert;
    char *other_key;
    pki_leaf(&ca, "CN=system:node:n1", NULL, 0, &other_cert, &other_key);
    r = call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, other_cert);
    CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_INVALID);
    CHECK(strstr(r.text, "does not match key slot 0") != NULL);
    r = call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, "-----BEGIN CERTIFICATE-----\nAAAA\n");
    CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_INVALID);
    CHECK(strstr(r.text, "not a PEM certificate") != NULL);
    /* ...nor is the right certificate in the other slot. */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL).status, 0);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_SERVING, leaf).status,
                 KUBELET_ERR_HOST_CALL_INVALID);
    CHECK_EQ_INT(ids.calls[0] + ids.calls[1], 0);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_CLIENT, NULL).status, KUBELET_ERR_HOST_CALL_FAILED);

    /* The chain (leaf first, then the CA) for the slot's key. */
    char chain[8192];
    snprintf(chain, sizeof(chain), "%s%s", leaf, ca.pem);
    r = call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, chain);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.text, "notBefore=1767225600\nnotAfter=1798761600\n");
    CHECK_EQ_INT(ids.calls[KUBELET_KEY_SLOT_CLIENT], 1);
    CHECK_EQ_STR(ids.chain[KUBELET_KEY_SLOT_CLIENT], chain);
    CHECK(strstr(ids.key[KUBELET_KEY_SLOT_CLIENT], "PRIVATE KEY-----") != NULL);
    r = call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_CLIENT, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.text, "notBefore=1767225600\nnotAfter=1798761600\n");
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_SERVING, NULL).status, KUBELET_ERR_HOST_CALL_FAILED);

    /* A rotation: the new key is pending, the installed pair stays (and is what OP_CERT_INFO reports). */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_CLIENT, NULL).status, 0);
    r = call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_CLIENT, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.text, "notBefore=1767225600\nnotAfter=1798761600\n");
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, chain).status,
                 KUBELET_ERR_HOST_CALL_INVALID); /* the old certificate is not for the pending key */
    CHECK_EQ_INT(ids.calls[KUBELET_KEY_SLOT_CLIENT], 1);
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_CLIENT, "CN=system:node:n1\nO=system:nodes\n");
    CHECK(parse_csr(&r, &csr));
    char *renewed = issue_for(&ca, &csr, "O=system:nodes,CN=system:node:n1", "20261001000000", "20271001000000");
    mbedtls_x509_csr_free(&csr);
    r = call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, renewed);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.text, "notBefore=1790812800\nnotAfter=1822348800\n");
    CHECK_EQ_INT(ids.calls[KUBELET_KEY_SLOT_CLIENT], 2);
    CHECK_EQ_STR(ids.chain[KUBELET_KEY_SLOT_CLIENT], renewed);
    CHECK_EQ_STR(call(hc, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_CLIENT, NULL).text,
                 "notBefore=1790812800\nnotAfter=1822348800\n");
    /* The same key again (a renewed certificate for the installed key) is accepted too. */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, renewed).status, 0);
    free(renewed);
    free(leaf);
    free(other_cert);
    free(other_key);
    pki_ca_free(&ca);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 0777 : 0;
}

static void test_persistence(void)
{
    char dir_template[] = "/tmp/pk-certs-XXXXXX";
    char *base = mkdtemp(dir_template);
    CHECK(base != NULL);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/node", base); /* created by the store */
    char err[256];
    cred_store_t *store = cred_store_open(dir, err, sizeof(err));
    CHECK(store != NULL);
    if (store == NULL) {
        return;
    }
    CHECK_EQ_INT(mode_of(dir), 0700);
    pki_ca_t ca;
    pki_ca(&ca, "persistence CA");
    pk_evq_t *q = pk_evq_create(8);
    identities_t ids = {0};
    host_crypto_t *hc = start(q, store, &ids);
    CHECK_EQ_INT(ids.calls[0] + ids.calls[1], 0); /* nothing stored yet */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL).status, 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/serving.key", dir);
    CHECK(access(path, F_OK) != 0); /* a key without a certificate is not stored */
    result_t r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING, "CN=system:node:p\nDNS=p\nIP=10.0.0.7");
    mbedtls_x509_csr csr;
    CHECK(parse_csr(&r, &csr));
    char *leaf = issue_for(&ca, &csr, "O=system:nodes,CN=system:node:p", "20260301120000", "20260401120000");
    mbedtls_x509_csr_free(&csr);
    r = call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_SERVING, leaf);
    CHECK_EQ_INT(r.status, 0);
    const char *lines = "notBefore=1772366400\nnotAfter=1775044800\n";
    CHECK_EQ_STR(r.text, lines);
    CHECK_EQ_INT(mode_of(path), 0600);
    snprintf(path, sizeof(path), "%s/serving.crt", dir);
    CHECK_EQ_INT(mode_of(path), 0644);
    char *key_stored = NULL;
    char *chain_stored = NULL;
    CHECK(cred_store_load(store, KUBELET_KEY_SLOT_SERVING, &key_stored, &chain_stored));
    CHECK(key_stored != NULL && strstr(key_stored, "PRIVATE KEY-----") != NULL);
    CHECK_EQ_STR(chain_stored, leaf);
    char *none_key = NULL;
    char *none_chain = NULL;
    CHECK(!cred_store_load(store, KUBELET_KEY_SLOT_CLIENT, &none_key, &none_chain)); /* nothing there */
    CHECK(none_key == NULL && none_chain == NULL);

    /* A restart: the stored pair is the slot's again, and handed to the TLS side at start. */
    identities_t ids2 = {0};
    host_crypto_t *hc2 = start(q, store, &ids2);
    CHECK_EQ_INT(ids2.calls[KUBELET_KEY_SLOT_SERVING], 1);
    CHECK_EQ_INT(ids2.calls[KUBELET_KEY_SLOT_CLIENT], 0);
    CHECK_EQ_STR(ids2.chain[KUBELET_KEY_SLOT_SERVING], leaf);
    r = call(hc2, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_SERVING, NULL);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.text, lines);
    /* A rotation begun (new key, no certificate yet) and a restart before it finished: the old pair holds. */
    CHECK_EQ_INT(call(hc2, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL).status, 0);
    CHECK_EQ_STR(call(hc2, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_SERVING, NULL).text, lines);
    char *key_again = NULL;
    char *chain_again = NULL;
    CHECK(cred_store_load(store, KUBELET_KEY_SLOT_SERVING, &key_again, &chain_again));
    CHECK_EQ_STR(key_again, key_stored); /* the pending key is not stored */
    free(key_again);
    free(chain_again);
    identities_t ids3 = {0};
    host_crypto_t *hc3 = start(q, store, &ids3);
    CHECK_EQ_INT(ids3.calls[KUBELET_KEY_SLOT_SERVING], 1);
    r = call(hc3, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_SERVING, NULL);
    CHECK_EQ_STR(r.text, lines);

    /* A torn pair (the key replaced, the certificate not): ignored, not used. */
    mbedtls_pk_context stray;
    pki_key(&stray);
    char *stray_pem = pki_key_pem(&stray);
    mbedtls_pk_free(&stray);
    CHECK(cred_store_save(store, KUBELET_KEY_SLOT_SERVING, stray_pem, leaf, err, sizeof(err)));
    identities_t ids4 = {0};
    host_crypto_t *hc4 = start(q, store, &ids4);
    CHECK_EQ_INT(ids4.calls[KUBELET_KEY_SLOT_SERVING], 0);
    r = call(hc4, q, KUBELET_OP_CERT_INFO, KUBELET_KEY_SLOT_SERVING, NULL);
    CHECK_EQ_INT(r.status, KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(strstr(r.text, "no certificate") != NULL);
    free(leaf);
    free(stray_pem);
    free(key_stored);
    free(chain_stored);
    pki_ca_free(&ca);
    cred_store_close(store);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    CHECK_EQ_INT(system(cmd), 0);
}

/* ---------------------------------------------------------------- with net_tls */

static uint16_t free_port(void);

static pk_event_t next(pk_evq_t *q, int64_t timeout_ms)
{
    pk_event_t ev;
    memset(&ev, 0, sizeof(ev));
    if (!pk_evq_wait(q, &ev, timeout_ms)) {
        ev.kind = PK_EV_NONE;
    }
    return ev;
}

/* Connects net to its own listener as (gen 1, conn) and returns the accepted side's identity lines. */
static bool self_connect(pk_evq_t *q, net_tls_t *net, int32_t conn, uint16_t port, char *ident, size_t ident_size)
{
    net_tls_connect(net, 1, conn, "127.0.0.1", port, "localhost");
    bool connected = false;
    bool accepted = false;
    ident[0] = '\0';
    for (int i = 0; i < 2; i++) {
        pk_event_t ev = next(q, 10000);
        if (ev.kind == PK_EV_CONNECTED && ev.conn == conn) {
            connected = true;
        } else if (ev.kind == PK_EV_ACCEPTED) {
            accepted = true;
            snprintf(ident, ident_size, "%.*s", (int)ev.len, (const char *)ev.data);
            net_tls_close(net, 1, ev.conn);
        } else {
            fprintf(stderr, "self_connect: event %d conn %d arg %d\n", ev.kind, ev.conn, ev.arg);
        }
        pk_event_release(&ev);
    }
    net_tls_close(net, 1, conn);
    return connected && accepted;
}

static void test_slots_used_by_net_tls(void)
{
    pki_ca_t ca;
    pki_ca(&ca, "cluster CA for net_tls");
    pk_evq_t *q = pk_evq_create(16);
    net_tls_config_t ncfg = {.ca_pem = ca.pem, .listen_address = "127.0.0.1", .queue = q, .connect_timeout_ms = 5000};
    char err[256];
    net_tls_t *net = net_tls_start(&ncfg, err, sizeof(err));
    CHECK(net != NULL);
    if (net == NULL) {
        fprintf(stderr, "net_tls_start: %s\n", err);
        return;
    }
    identities_t ids = {.net = net};
    host_crypto_t *hc = start(q, NULL, &ids);
    uint16_t port = free_port();
    /* No serving certificate yet: the kubelet port listens but refuses connections. */
    net_tls_listen(net, 1, 50, port);
    pk_event_t ev = next(q, 5000);
    CHECK(ev.kind == PK_EV_HOST_RESULT && ev.conn == 50 && ev.arg == 0);
    pk_event_release(&ev);
    net_tls_connect(net, 1, 9, "127.0.0.1", port, "localhost");
    ev = next(q, 10000);
    CHECK(ev.kind == PK_EV_CLOSED && ev.conn == 9 && ev.arg == KUBELET_CLOSE_TLS_FAILED);
    pk_event_release(&ev);

    /* The serving slot: key, CSR, certificate; then the listener presents it (the client verifies it for
     * "localhost" against the cluster CA). */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_SERVING, NULL).status, 0);
    result_t r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_SERVING,
                      "CN=system:node:n2\nO=system:nodes\nDNS=localhost\nIP=127.0.0.1\n");
    mbedtls_x509_csr csr;
    CHECK(parse_csr(&r, &csr));
    char *serving = issue_for(&ca, &csr, "O=system:nodes,CN=system:node:n2", "20200101000000", "20991231235959");
    mbedtls_x509_csr_free(&csr);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_SERVING, serving).status, 0);
    char ident[256];
    CHECK(self_connect(q, net, 1, port, ident, sizeof(ident)));
    CHECK_EQ_STR(ident, ""); /* no client certificate yet */

    /* The client slot: the node's own connections present it from now on. */
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_KEY_GENERATE, KUBELET_KEY_SLOT_CLIENT, NULL).status, 0);
    r = call(hc, q, KUBELET_OP_CSR_CREATE, KUBELET_KEY_SLOT_CLIENT, "CN=system:node:n2\nO=system:nodes\n");
    CHECK(parse_csr(&r, &csr));
    char *client = issue_for(&ca, &csr, "O=system:nodes,CN=system:node:n2", "20200101000000", "20991231235959");
    mbedtls_x509_csr_free(&csr);
    CHECK_EQ_INT(call(hc, q, KUBELET_OP_CERT_INSTALL, KUBELET_KEY_SLOT_CLIENT, client).status, 0);
    CHECK(self_connect(q, net, 2, port, ident, sizeof(ident)));
    CHECK_EQ_STR(ident, "CN=system:node:n2\nO=system:nodes\n");
    free(serving);
    free(client);
    /* ca.pem stays with net_tls's configuration */
    mbedtls_pk_free(&ca.key);
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

int main(void)
{
    pk_log_set_level(PK_LOG_WARN);
    RUN(test_csr_contents);
    RUN(test_spec_errors_and_refusals);
    RUN(test_install_and_info);
    RUN(test_persistence);
    RUN(test_slots_used_by_net_tls);
    return check_summary("host_crypto");
}
