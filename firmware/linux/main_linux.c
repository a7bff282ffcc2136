/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * picokubelet-linux: the firmware's host port. The same wasm host, network task and configuration code
 * as on the board, with Linux in place of the ESP-only parts: the link is the machine's own (reported
 * as Ethernet), the heap reading comes from malloc statistics, and the LED is a log line.
 *
 * Signals: SIGINT/SIGTERM ask the core to shut down (a second one exits at once); SIGUSR1 takes the
 * link down (connections are dropped with CLOSE_LINK_DOWN) and SIGUSR2 brings it back, to exercise the
 * core's link handling the way a pulled cable does on the board.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#include "wasm3.h"

#include "brain_host.h"
#include "brain_slot_file.h"
#include "brain_store.h"
#include "cred_store.h"
#include "host_crypto.h"
#include "kubeconfig.h"
#include "kubelet_abi.h"
#include "kubelet_config.h"
#include "led_status.h"
#include "net_tls.h"
#include "pk_evq.h"
#include "pk_os.h"
#include "wasm_host.h"

static const char *TAG = "linux";

#define DEFAULT_HEAP_TOTAL (4 * 1024 * 1024)
#define DEFAULT_WASM_STACK (32 * 1024)
#define DEFAULT_NATIVE_STACK (1024 * 1024)
#define STACK_PAINT 0xA5
/* Debian's bundle (ca-certificates): the public CAs of PROFILE_PUBLIC without --registry-ca. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

typedef struct {
    net_tls_t *net;
    host_crypto_t *crypto;
    /* the brain calls (NULL without --state-dir) and where proven brains are kept */
    brain_host_t *brain;
    brain_slot_file_t *slot_file;
    const char *state_dir;
    pk_evq_t *queue;
    wasm_host_t *host;
    atomic_int link_up;
    uint32_t ipv4;
    uint32_t heap_total;
    long exit_after_renewals;
    int64_t stop_at_ms;
    int shutdown_mode;
    atomic_bool shutdown_posted;
    int64_t summary_every_ms;
    int64_t next_summary_ms;
    int64_t started_ms;
    /* a client certificate went to net_tls: from --cert-dir at start (an earlier bootstrap), or installed */
    atomic_bool client_identity;
    atomic_bool done;
    int result;
    /* the wasm thread's stack, painted to measure how much of it was used */
    uint8_t *stack;
    size_t stack_size;
} linux_host_t;

/* indexed by KUBELET_PHASE_* */
static const char *const k_phase_names[] = {"CONFIGURING", "ANCHORING", "REGISTERING", "LEASING",    "RUNNING",
                                            "STOPPING",    "STOPPED",   "FAILED",      "HANDED_OFF", "BOOTSTRAPPING"};

static const char *phase_name(int64_t phase)
{
    return phase >= 0 && phase < (int64_t)(sizeof k_phase_names / sizeof k_phase_names[0]) ? k_phase_names[phase] : "?";
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* ---------------------------------------------------------------- host operations */

static int32_t op_connect(void *ctx, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                          const char *server_name, int32_t profile)
{
    linux_host_t *lh = ctx;
    if (!atomic_load(&lh->link_up)) {
        return KUBELET_CLOSE_LINK_DOWN; /* the wasm host delivers the close itself */
    }
    /* PROFILE_PUBLIC (a registry): --registry-ca, else the system's CA bundle; never the client certificate */
    return net_tls_connect_profile(lh->net, gen, conn, host, port, server_name, profile);
}

static int32_t op_send(void *ctx, uint32_t gen, int32_t conn, const uint8_t *data, size_t len)
{
    return net_tls_send(((linux_host_t *)ctx)->net, gen, conn, data, len);
}

/* OP_LISTEN through net_tls, the crypto ops through host_crypto, the brain ops through brain_host (ABI.md
 * "Host calls"). */
static int32_t op_host_call(void *ctx, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                            size_t len)
{
    linux_host_t *lh = ctx;
    if (host_crypto_serves(op)) {
        return host_crypto_call(lh->crypto, gen, req, op, arg, data, len);
    }
    if (brain_host_serves(op)) {
        /* NULL without --state-dir: -ERR_UNSUPPORTED, and the core's brain pods wait (BrainSwapUnsupported) */
        return brain_host_call(lh->brain, lh->host, req, op, arg, data, len);
    }
    if (op != KUBELET_OP_LISTEN) {
        return -KUBELET_ERR_UNSUPPORTED;
    }
    if (arg < 1 || arg > 65535) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    return net_tls_listen(lh->net, gen, req, (uint16_t)arg);
}

/* An installed (or stored) slot certificate: new TLS connections of that side present it. */
static void on_identity(void *ctx, int32_t slot, const char *chain_pem, const char *key_pem)
{
    linux_host_t *lh = ctx;
    if (net_tls_set_identity(lh->net, slot, chain_pem, key_pem) != 0) {
        PK_LOGE(TAG, "cannot hand the %s certificate to the network task", slot ? "serving" : "client");
    } else if (slot == KUBELET_KEY_SLOT_CLIENT) {
        atomic_store(&lh->client_identity, true);
    }
}

static void op_close(void *ctx, uint32_t gen, int32_t conn)
{
    net_tls_close(((linux_host_t *)ctx)->net, gen, conn);
}

static void op_close_all(void *ctx, uint32_t gen)
{
    net_tls_close_all(((linux_host_t *)ctx)->net, gen);
}

static void op_led(void *ctx, int pattern)
{
    led_status_set(pattern);
}

static void op_link(void *ctx, wasm_host_link_t *out)
{
    linux_host_t *lh = ctx;
    bool up = atomic_load(&lh->link_up);
    out->kind = up ? KUBELET_LINK_ETHERNET : KUBELET_LINK_DOWN;
    out->ipv4 = up ? lh->ipv4 : 0;
    out->bssid = 0;
    out->rssi = 0;
}

/* There is no fixed heap here: report a board-sized total minus what this process has allocated. */
static void op_heap(void *ctx, uint32_t *free_bytes, uint32_t *total_bytes)
{
    linux_host_t *lh = ctx;
    size_t used = heap_used();
    *total_bytes = lh->heap_total;
    *free_bytes = used >= lh->heap_total ? 0 : (uint32_t)(lh->heap_total - used);
}

static void post_shutdown(linux_host_t *lh, const char *why)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&lh->shutdown_posted, &expected, true)) {
        return;
    }
    PK_LOGI(TAG, "%s: asking the core to shut down (%s)", why,
            lh->shutdown_mode == KUBELET_SHUTDOWN_CLEANUP ? "cleanup: delete Lease and Node" : "stop");
    pk_event_t ev = {.kind = PK_EV_SHUTDOWN, .arg = lh->shutdown_mode};
    pk_evq_post(lh->queue, &ev, PK_WAIT_FOREVER);
}

static void summary(linux_host_t *lh, wasm_host_t *h)
{
    wasm_host_metrics_t m;
    wasm_host_metrics(h, &m);
    uint32_t free_bytes;
    uint32_t total;
    op_heap(lh, &free_bytes, &total);
    PK_LOGI(TAG,
            "phase=%s renewals=%" PRId64 " renew_failures=%" PRId64 " status_pushes=%" PRId64 " requests=%" PRId64
            " connects=%" PRId64 " last_http=%" PRId64 " led=%s activity=%" PRIu32 " memory=%" PRIu32
            " peak=%" PRIu32 " heap_free=%" PRIu32 "/%" PRIu32 " gen=%" PRIu32 " traps=%" PRIu32,
            phase_name(wasm_host_stat(h, KUBELET_STAT_PHASE)), wasm_host_stat(h, KUBELET_STAT_RENEWALS),
            wasm_host_stat(h, KUBELET_STAT_RENEW_FAILURES), wasm_host_stat(h, KUBELET_STAT_STATUS_PUSHES),
            wasm_host_stat(h, KUBELET_STAT_REQUESTS), wasm_host_stat(h, KUBELET_STAT_CONNECTS),
            wasm_host_stat(h, KUBELET_STAT_LAST_HTTP_STATUS), led_pattern_name(led_status_get()),
            led_status_activity_count(), m.memory_bytes, m.memory_peak_bytes, free_bytes, total,
            wasm_host_generation(h), m.traps);
}

static void op_brain(void *ctx, wasm_host_t *h, wasm_host_brain_event_t event, const char *reason, const char *detail)
{
    brain_host_on_event(((linux_host_t *)ctx)->brain, h, event, reason, detail);
}

static void brain_log(void *ctx, bool warn, const char *line)
{
    (void)ctx;
    if (warn) {
        PK_LOGW(TAG, "%s", line);
    } else {
        PK_LOGI(TAG, "%s", line);
    }
}

/* A proven brain is kept as brain-current.wasm in the state directory: the next start runs it. */
static void save_proven(void *ctx, const brain_commit_t *c, const uint8_t *wasm, size_t size)
{
    linux_host_t *lh = ctx;
    char err[512];
    if (brain_store_save(lh->state_dir, c, wasm, size, err, sizeof(err)) != 0) {
        PK_LOGW(TAG, "brain: cannot keep the proven brain: %s; the next start runs the core given", err);
    } else {
        PK_LOGI(TAG, "brain: kept as %s/%s; the next start runs it", lh->state_dir, BRAIN_CURRENT_WASM);
    }
}

static void op_after_turn(void *ctx, wasm_host_t *h)
{
    linux_host_t *lh = ctx;
    int64_t now = pk_now_ms();
    brain_host_after_turn(lh->brain, h);
    if (lh->summary_every_ms > 0 && now >= lh->next_summary_ms) {
        lh->next_summary_ms = now + lh->summary_every_ms;
        summary(lh, h);
    }
    if (lh->exit_after_renewals > 0 && !atomic_load(&lh->shutdown_posted) &&
        wasm_host_stat(h, KUBELET_STAT_RENEWALS) >= lh->exit_after_renewals) {
        summary(lh, h);
        post_shutdown(lh, "renewal target reached");
    }
    if (lh->stop_at_ms > 0 && now >= lh->stop_at_ms) {
        post_shutdown(lh, "duration reached");
    }
}

/* ---------------------------------------------------------------- wasm thread */

static void *wasm_thread(void *arg)
{
    linux_host_t *lh = arg;
    lh->result = wasm_host_run(lh->host);
    atomic_store(&lh->done, true);
    return NULL;
}

static size_t stack_used(const linux_host_t *lh)
{
    size_t untouched = 0;
    while (untouched < lh->stack_size && lh->stack[untouched] == STACK_PAINT) {
        untouched++;
    }
    return lh->stack_size - untouched;
}

/* ---------------------------------------------------------------- configuration */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: picokubelet-linux [options]\n"
            "Runs the picokubelet core (.wasm) under wasm3 against a Kubernetes API server.\n\n"
            "  --kubeconfig FILE        API server, cluster CA and client certificate or token (first entries)\n"
            "  --bootstrap-kubeconfig FILE  API server, cluster CA and a bootstrap token (<id>.<secret>) for\n"
            "                           TLS bootstrap: the node makes its own key, asks the cluster for a\n"
            "                           system:node:<name> client certificate (CSR) and keeps it in --cert-dir;\n"
            "                           a --kubeconfig that exists and works (its client certificate, if any,\n"
            "                           not expired) wins, as with the kubelet\n"
            "  --node-name NAME         node name (required)\n"
            "  --api-host HOST          API server host (overrides the kubeconfig)\n"
            "  --api-port PORT          API server port\n"
            "  --server-name NAME       name to verify the server certificate against (default: the host;\n"
            "                           an IP address is matched against the certificate's IP SANs)\n"
            "  --ca FILE                cluster CA bundle (PEM)\n"
            "  --client-ca-file FILE    CA bundle the kubelet port verifies client certificates against\n"
            "                           (default: the cluster CA)\n"
            "  --cert FILE --key FILE   client certificate and key (PEM)\n"
            "  --token TOKEN            bearer token (or --token-file FILE)\n"
            "  --wasm FILE              the core (default build/picokubelet.wasm)\n"
            "  --log-level LEVEL        error|warn|info|debug for the core and this host (default info)\n"
            "  --exit-after-renewals N  shut down after N successful lease renewals\n"
            "  --duration SECONDS       shut down after this long\n"
            "  --cleanup                shut down with cleanup: delete our Lease and Node first\n"
            "  --heap-total BYTES       heap size reported to the core (default %d)\n"
            "  --wasm-stack BYTES       wasm3 value stack (default %d)\n"
            "  --memory-limit BYTES     cap on linear memory (default none)\n"
            "  --ipv4 A.B.C.D           address reported with the link (default 127.0.0.1)\n"
            "  --summary-every SECONDS  status line period (default 30, 0: off)\n"
            "  --kubelet-port PORT      the kubelet port (TLS; default 10250, 0: off); its certificate is the\n"
            "                           serving slot's (a CSR the core makes), else --serving-cert/--serving-key\n"
            "  --serving-cert FILE --serving-key FILE   a serving certificate and key (PEM) to start with\n"
            "  --listen-address A.B.C.D the kubelet port's address (default: --ipv4)\n"
            "  --cert-dir DIR           keep the key slots' keys and certificates here (client.key/.crt,\n"
            "                           serving.key/.crt; keys mode 0600, the directory 0700); default: in\n"
            "                           memory only, and when bootstrapping\n"
            "                           ${XDG_STATE_HOME:-~/.local/state}/picokubelet/pki/<node name>\n"
            "  --registry-ca FILE       CAs (PEM) for PROFILE_PUBLIC connections (registries a brain is pulled\n"
            "                           from; default: the system bundle %s)\n"
            "  --state-dir DIR          brain swaps (docs/brain.md): a pulled brain goes to DIR/brain-next.wasm,\n"
            "                           a proven one is kept as DIR/brain-current.wasm (+ .json) and run at the\n"
            "                           next start instead of --wasm; without it the brain calls are unsupported\n"
            "  --brain-public-key FILE  an Ed25519 key brains must be signed with (base64 of 32 bytes, host-sim's\n"
            "                           brain.key.pub; repeatable); none: every brain is refused (BrainUntrusted)\n"
            "  --help\n\n"
            "Every configuration key can also come from the environment: PICOKUBELET_NODE_NAME,\n"
            "PICOKUBELET_API_HOST, PICOKUBELET_API_PORT, PICOKUBELET_SERVER_NAME, PICOKUBELET_TOKEN,\n"
            "PICOKUBELET_BOOTSTRAP_TOKEN, PICOKUBELET_CA_PEM, PICOKUBELET_CLIENT_CA, PICOKUBELET_CLIENT_CERT,\n"
            "PICOKUBELET_CLIENT_KEY (PEM text).\n"
            "Precedence: kubeconfig (or bootstrap kubeconfig) < environment < flags.\n",
            DEFAULT_HEAP_TOTAL, DEFAULT_WASM_STACK, SYSTEM_CA_BUNDLE);
}

static int set_from_file(kubelet_config_t *c, const char *key, const char *path)
{
    char *text = kubeconfig_read_file(path, NULL);
    if (text == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (strcmp(key, "token") == 0) {
        text[strcspn(text, "\r\n")] = '\0';
    }
    kubelet_config_set(c, key, text);
    free(text);
    return 0;
}

static void set_from_env(kubelet_config_t *c)
{
    for (size_t i = 0; i < kubelet_config_key_count; i++) {
        char name[64] = "PICOKUBELET_";
        size_t o = strlen(name);
        for (const char *k = kubelet_config_keys[i].key; *k && o + 1 < sizeof(name); k++) {
            name[o++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 32 : *k);
        }
        name[o] = '\0';
        const char *v = getenv(name);
        if (v != NULL && kubelet_config_set(c, kubelet_config_keys[i].key, v) != KUBELET_CONFIG_OK) {
            fprintf(stderr, "ignoring %s: not a valid value\n", name);
        }
    }
}

/*
 * Whether a --kubeconfig can be used as it is, the kubelet's rule when it also has a bootstrap kubeconfig:
 * it exists and parses, and its client certificate, if it has one, has not expired. Else false with the
 * reason in `why`.
 */
static bool kubeconfig_usable(const char *path, char *why, size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_size, "--kubeconfig %s does not exist", path);
        return false;
    }
    kubeconfig_t kc;
    char err[256];
    if (kubeconfig_load(path, &kc, err, sizeof(err)) != 0) {
        snprintf(why, why_size, "--kubeconfig %s is not usable (%s)", path, err);
        return false;
    }
    bool ok = true;
    if (kc.client_cert_pem != NULL) {
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)kc.client_cert_pem, strlen(kc.client_cert_pem) + 1) !=
            0) {
            snprintf(why, why_size, "--kubeconfig %s: its client certificate does not parse", path);
            ok = false;
        } else if (mbedtls_x509_time_is_past(&crt.valid_to)) {
            snprintf(why, why_size, "the client certificate of --kubeconfig %s has expired", path);
            ok = false;
        }
        mbedtls_x509_crt_free(&crt);
    }
    kubeconfig_free(&kc);
    return ok;
}

/* mkdir -p with mode 0700 for every directory it creates (the default certificate directory). */
static int make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/*
 * Where a bootstrapping node keeps its keys without --cert-dir (the kubelet's is /var/lib/kubelet/pki):
 * $XDG_STATE_HOME/picokubelet/pki/<name>, else ~/.local/state/picokubelet/pki/<name>, the base host-sim
 * uses too (its files are named differently, kubelet-client-current.pem). Without one, every restart would
 * make a new key and CSR.
 */
static bool default_cert_dir(const char *node_name, char *out, size_t size)
{
    const char *state = getenv("XDG_STATE_HOME");
    int n;
    if (state != NULL && state[0] == '/') {
        n = snprintf(out, size, "%s/picokubelet/pki/%s", state, node_name);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] != '/') {
            return false;
        }
        n = snprintf(out, size, "%s/.local/state/picokubelet/pki/%s", home, node_name);
    }
    return n > 0 && (size_t)n < size;
}

enum {
    OPT_KUBECONFIG = 1000,
    OPT_BOOTSTRAP_KUBECONFIG,
    OPT_NODE_NAME,
    OPT_API_HOST,
    OPT_API_PORT,
    OPT_SERVER_NAME,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_WASM,
    OPT_LOG_LEVEL,
    OPT_EXIT_AFTER_RENEWALS,
    OPT_DURATION,
    OPT_CLEANUP,
    OPT_HEAP_TOTAL,
    OPT_WASM_STACK,
    OPT_MEMORY_LIMIT,
    OPT_IPV4,
    OPT_SUMMARY_EVERY,
    OPT_KUBELET_PORT,
    OPT_SERVING_CERT,
    OPT_SERVING_KEY,
    OPT_LISTEN_ADDRESS,
    OPT_CLIENT_CA,
    OPT_CERT_DIR,
    OPT_STATE_DIR,
    OPT_REGISTRY_CA,
    OPT_BRAIN_PUBLIC_KEY,
    OPT_HELP,
};

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"bootstrap-kubeconfig", required_argument, NULL, OPT_BOOTSTRAP_KUBECONFIG},
        {"node-name", required_argument, NULL, OPT_NODE_NAME},
        {"api-host", required_argument, NULL, OPT_API_HOST},
        {"api-port", required_argument, NULL, OPT_API_PORT},
        {"server-name", required_argument, NULL, OPT_SERVER_NAME},
        {"ca", required_argument, NULL, OPT_CA},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"wasm", required_argument, NULL, OPT_WASM},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"exit-after-renewals", required_argument, NULL, OPT_EXIT_AFTER_RENEWALS},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"cleanup", no_argument, NULL, OPT_CLEANUP},
        {"heap-total", required_argument, NULL, OPT_HEAP_TOTAL},
        {"wasm-stack", required_argument, NULL, OPT_WASM_STACK},
        {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
        {"ipv4", required_argument, NULL, OPT_IPV4},
        {"summary-every", required_argument, NULL, OPT_SUMMARY_EVERY},
        {"kubelet-port", required_argument, NULL, OPT_KUBELET_PORT},
        {"serving-cert", required_argument, NULL, OPT_SERVING_CERT},
        {"serving-key", required_argument, NULL, OPT_SERVING_KEY},
        {"listen-address", required_argument, NULL, OPT_LISTEN_ADDRESS},
        {"client-ca-file", required_argument, NULL, OPT_CLIENT_CA},
        {"cert-dir", required_argument, NULL, OPT_CERT_DIR},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"registry-ca", required_argument, NULL, OPT_REGISTRY_CA},
        {"brain-public-key", required_argument, NULL, OPT_BRAIN_PUBLIC_KEY},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    linux_host_t lh;
    memset(&lh, 0, sizeof(lh));
    lh.heap_total = DEFAULT_HEAP_TOTAL;
    lh.ipv4 = 0x7F000001;
    lh.summary_every_ms = 30000;
    lh.shutdown_mode = KUBELET_SHUTDOWN_STOP;
    atomic_store(&lh.link_up, 1);
    const char *wasm_path = "build/picokubelet.wasm";
    const char *kubeconfig_path = NULL;
    const char *bootstrap_path = NULL;
    uint32_t wasm_stack = DEFAULT_WASM_STACK;
    uint32_t memory_limit = 0;
    uint16_t kubelet_port = 10250;
    char *serving_cert = NULL;
    char *serving_key = NULL;
    const char *listen_address = NULL;
    const char *cert_dir = NULL;
    bool wasm_given = false;
    char *registry_ca = NULL;
    static uint8_t brain_keys[8][BRAIN_PUBLIC_KEY_BYTES];
    size_t brain_key_count = 0;
    kubelet_config_t cfg;
    kubelet_config_init(&cfg);
    kubelet_config_t flags;
    kubelet_config_init(&flags);
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_KUBECONFIG:
            kubeconfig_path = optarg;
            break;
        case OPT_BOOTSTRAP_KUBECONFIG:
            bootstrap_path = optarg;
            break;
        case OPT_NODE_NAME:
            kubelet_config_set(&flags, "node_name", optarg);
            break;
        case OPT_API_HOST:
            kubelet_config_set(&flags, "api_host", optarg);
            break;
        case OPT_API_PORT:
            if (kubelet_config_set(&flags, "api_port", optarg) != KUBELET_CONFIG_OK) {
                fprintf(stderr, "--api-port: not a port: %s\n", optarg);
                return 2;
            }
            break;
        case OPT_SERVER_NAME:
            kubelet_config_set(&flags, "server_name", optarg);
            break;
        case OPT_CA:
            if (set_from_file(&flags, "ca_pem", optarg) != 0) {
                return 2;
            }
            break;
        case OPT_CERT:
            if (set_from_file(&flags, "client_cert", optarg) != 0) {
                return 2;
            }
            break;
        case OPT_KEY:
            if (set_from_file(&flags, "client_key", optarg) != 0) {
                return 2;
            }
            break;
        case OPT_TOKEN:
            kubelet_config_set(&flags, "token", optarg);
            break;
        case OPT_TOKEN_FILE:
            if (set_from_file(&flags, "token", optarg) != 0) {
                return 2;
            }
            break;
        case OPT_WASM:
            wasm_path = optarg;
            wasm_given = true;
            break;
        case OPT_LOG_LEVEL:
            kubelet_config_set(&flags, "log_level", optarg);
            break;
        case OPT_EXIT_AFTER_RENEWALS:
            lh.exit_after_renewals = strtol(optarg, NULL, 10);
            break;
        case OPT_DURATION:
            lh.stop_at_ms = (int64_t)(strtod(optarg, NULL) * 1000);
            break;
        case OPT_CLEANUP:
            lh.shutdown_mode = KUBELET_SHUTDOWN_CLEANUP;
            break;
        case OPT_HEAP_TOTAL:
            lh.heap_total = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case OPT_WASM_STACK:
            wasm_stack = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case OPT_MEMORY_LIMIT:
            memory_limit = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case OPT_IPV4: {
            struct in_addr a;
            if (inet_pton(AF_INET, optarg, &a) != 1) {
                fprintf(stderr, "--ipv4: not an IPv4 address: %s\n", optarg);
                return 2;
            }
            lh.ipv4 = ntohl(a.s_addr);
            break;
        }
        case OPT_SUMMARY_EVERY:
            lh.summary_every_ms = (int64_t)(strtod(optarg, NULL) * 1000);
            break;
        case OPT_KUBELET_PORT: {
            char *end = NULL;
            long port = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "--kubelet-port: not a port: %s\n", optarg);
                return 2;
            }
            kubelet_port = (uint16_t)port;
            break;
        }
        case OPT_SERVING_CERT:
        case OPT_SERVING_KEY: {
            char *text = kubeconfig_read_file(optarg, NULL);
            if (text == NULL) {
                fprintf(stderr, "cannot read %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            if (opt == OPT_SERVING_CERT) {
                serving_cert = text;
            } else {
                serving_key = text;
            }
            break;
        }
        case OPT_LISTEN_ADDRESS:
            listen_address = optarg;
            break;
        case OPT_CLIENT_CA:
            if (set_from_file(&flags, "client_ca", optarg) != 0) {
                return 2;
            }
            break;
        case OPT_CERT_DIR:
            cert_dir = optarg;
            break;
        case OPT_STATE_DIR:
            lh.state_dir = optarg;
            break;
        case OPT_REGISTRY_CA:
            if ((registry_ca = kubeconfig_read_file(optarg, NULL)) == NULL) {
                fprintf(stderr, "--registry-ca: cannot read %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case OPT_BRAIN_PUBLIC_KEY: {
            char kerr[512];
            if (brain_key_count == sizeof(brain_keys) / sizeof(brain_keys[0])) {
                fprintf(stderr, "--brain-public-key: at most %zu keys\n", sizeof(brain_keys) / sizeof(brain_keys[0]));
                return 2;
            }
            if (brain_store_read_key(optarg, brain_keys[brain_key_count], kerr, sizeof(kerr)) != 0) {
                fprintf(stderr, "--brain-public-key: %s\n", kerr);
                return 2;
            }
            brain_key_count++;
            break;
        }
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    /* With a bootstrap kubeconfig, the kubelet's choice: a --kubeconfig that works wins, else bootstrap. */
    bool bootstrapping = false;
    if (bootstrap_path != NULL) {
        char why[512] = "no --kubeconfig given";
        if (kubeconfig_path == NULL || !kubeconfig_usable(kubeconfig_path, why, sizeof(why))) {
            if (flags.token != NULL) {
                fprintf(stderr, "--token/--token-file go with --kubeconfig, not with --bootstrap-kubeconfig (its token "
                                "is the bootstrap token)\n");
                return 2;
            }
            PK_LOGI(TAG, "TLS bootstrap with --bootstrap-kubeconfig %s: %s", bootstrap_path, why);
            kubeconfig_path = bootstrap_path;
            bootstrapping = true;
        } else {
            PK_LOGI(TAG, "--kubeconfig %s works: --bootstrap-kubeconfig is not needed", kubeconfig_path);
        }
    }

    /* Layers: kubeconfig, then environment, then flags (the NVS-over-Kconfig rule of the board). */
    if (kubeconfig_path != NULL) {
        kubeconfig_t kc;
        char err[256];
        if (kubeconfig_load(kubeconfig_path, &kc, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        if (bootstrapping && !kubelet_config_is_bootstrap_token(kc.token)) {
            fprintf(stderr,
                    "--bootstrap-kubeconfig %s: its user has no bootstrap token (<id>.<secret>, "
                    "[a-z0-9]{6}.[a-z0-9]{16}); make one with `node tools/cluster.mjs bootstrap-token` "
                    "(k3s: `k3s token create`, docs/k3s.md)\n",
                    kubeconfig_path);
            kubeconfig_free(&kc);
            return 2;
        }
        if (!bootstrapping && kubelet_config_is_bootstrap_token(kc.token)) {
            fprintf(stderr,
                    "--kubeconfig %s: its token is a bootstrap token, which may only ask for a certificate, not "
                    "run a node: give that kubeconfig with --bootstrap-kubeconfig FILE instead\n",
                    kubeconfig_path);
            kubeconfig_free(&kc);
            return 2;
        }
        kubelet_config_set(&cfg, "api_host", kc.host);
        kubelet_config_set_port(&cfg, kc.port);
        if (kc.ca_pem) {
            kubelet_config_set(&cfg, "ca_pem", kc.ca_pem);
        }
        if (bootstrapping) {
            /* server and CA only: the token asks for the certificate the node will talk with */
            kubelet_config_set(&cfg, "bootstrap_token", kc.token);
        } else {
            if (kc.client_cert_pem) {
                kubelet_config_set(&cfg, "client_cert", kc.client_cert_pem);
            }
            if (kc.client_key_pem) {
                kubelet_config_set(&cfg, "client_key", kc.client_key_pem);
            }
            if (kc.token) {
                kubelet_config_set(&cfg, "token", kc.token);
            }
        }
        kubeconfig_free(&kc);
    }
    set_from_env(&cfg);
    const char *flag_keys[] = {"node_name", "api_host", "server_name", "token", "ca_pem", "client_ca",
                               "client_cert", "client_key", "log_level"};
    kubelet_config_t *src = &flags;
    for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
        const char *k = flag_keys[i];
        const char *v = strcmp(k, "node_name") == 0     ? src->node_name
                        : strcmp(k, "api_host") == 0    ? src->api_host
                        : strcmp(k, "server_name") == 0 ? src->server_name
                        : strcmp(k, "token") == 0       ? src->token
                        : strcmp(k, "ca_pem") == 0      ? src->ca_pem
                        : strcmp(k, "client_ca") == 0   ? src->client_ca
                        : strcmp(k, "client_cert") == 0 ? src->client_cert
                        : strcmp(k, "client_key") == 0  ? src->client_key
                                                        : src->log_level;
        if (v != NULL) {
            kubelet_config_set(&cfg, k, v);
        }
    }
    if (flags.api_port != KUBELET_CONFIG_DEFAULT_PORT) {
        kubelet_config_set_port(&cfg, flags.api_port);
    }
    kubelet_config_free(&flags);
    if (cfg.log_level != NULL) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(cfg.log_level, levels[i]) == 0) {
                pk_log_set_level((pk_log_level_t)i);
            }
        }
    }
    char os_image[64];
    snprintf(os_image, sizeof(os_image), "picokubelet-linux (host port)");
    char kernel[64];
    snprintf(kernel, sizeof(kernel), "wasm3 %s", M3_VERSION);
    kubelet_config_set(&cfg, "os_image", os_image);
    kubelet_config_set(&cfg, "kernel_version", kernel);

    char problems[512];
    if (kubelet_config_check(&cfg, problems, sizeof(problems)) > 0) {
        fprintf(stderr, "configuration: %s\n", problems);
        usage(stderr);
        return 2;
    }
    /* An IP literal is matched against the certificate's IP SANs (net_tls does it itself on mbedTLS 2.x). */
    const char *server_name = cfg.server_name ? cfg.server_name : cfg.api_host;
    char default_dir[1024];
    if (cfg.bootstrap_token != NULL && cert_dir == NULL) {
        if (!default_cert_dir(cfg.node_name, default_dir, sizeof(default_dir))) {
            fprintf(stderr, "TLS bootstrap needs a place for the node's key: pass --cert-dir DIR\n");
            return 2;
        }
        if (make_dirs(default_dir) != 0) {
            fprintf(stderr, "cannot create %s: %s (pass --cert-dir DIR)\n", default_dir, strerror(errno));
            return 2;
        }
        cert_dir = default_dir;
    }
    if (cfg.bootstrap_token != NULL) {
        PK_LOGI(TAG, "the node's key and client certificate are kept in %s", cert_dir);
    }

    size_t wasm_size = 0;
    uint8_t *wasm = NULL;
    /* A proven brain in the state directory runs instead of the core given (host-sim's rule: unless --wasm
     * names one), as a board boots the slot marked proven (docs/brain.md "Roll back"). */
    char proven_digest[BRAIN_DIGEST_LEN + 1] = "";
    char proven_path[1100] = "";
    if (lh.state_dir != NULL) {
        brain_commit_t proven;
        char perr[1024];
        snprintf(proven_path, sizeof(proven_path), "%s/%s", lh.state_dir, BRAIN_CURRENT_WASM);
        int got = brain_store_load(lh.state_dir, &wasm, &wasm_size, &proven, perr, sizeof(perr));
        if (got < 0) {
            PK_LOGW(TAG, "brain: %s; starting from the core given", perr);
        } else if (got > 0 && wasm_given) {
            PK_LOGI(TAG, "brain: not running the proven brain %s (%s): --wasm %s was given", proven_path,
                    proven.digest, wasm_path);
            free(wasm);
            wasm = NULL;
        } else if (got > 0) {
            PK_LOGI(TAG, "brain: starting from the proven brain %s (%s, version %s) instead of the core given",
                    proven_path, proven.digest, proven.version);
            snprintf(proven_digest, sizeof(proven_digest), "%s", proven.digest);
            wasm_path = proven_path;
        }
    }
    if (wasm == NULL) {
        wasm = (uint8_t *)kubeconfig_read_file(wasm_path, &wasm_size);
    }
    if (wasm == NULL) {
        fprintf(stderr, "cannot read the core %s: %s (build it with: npx asc assembly/kubelet.ts --target release)\n",
                wasm_path, strerror(errno));
        return 2;
    }
    static char config_json[KUBELET_ABI_CONFIG_MAX_BYTES];
    size_t config_len = 0;
    const char *bad_key = NULL;
    cfg.kubelet_port = kubelet_port;
    if (kubelet_config_to_json(&cfg, config_json, sizeof(config_json), &config_len, &bad_key) != KUBELET_CONFIG_OK) {
        fprintf(stderr, "configuration: %s is not valid UTF-8, or the document is over 16 KiB\n",
                bad_key ? bad_key : "a value");
        return 2;
    }

    /* Signals go to the main thread only (sigtimedwait below); SIGPIPE is never wanted. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    lh.queue = pk_evq_create(32);
    led_status_config_t led_cfg = {.gpio = -1, .task_priority = 0};
    led_status_start(&led_cfg);
    led_status_set(KUBELET_LED_BOOTING);
    char ipv4_text[INET_ADDRSTRLEN];
    struct in_addr ipv4_addr = {.s_addr = htonl(lh.ipv4)};
    inet_ntop(AF_INET, &ipv4_addr, ipv4_text, sizeof(ipv4_text));
    const char *public_cas = "--registry-ca";
    if (registry_ca == NULL && (registry_ca = kubeconfig_read_file(SYSTEM_CA_BUNDLE, NULL)) != NULL) {
        public_cas = SYSTEM_CA_BUNDLE;
    }
    if (registry_ca == NULL) {
        PK_LOGW(TAG, "no --registry-ca and no %s: PROFILE_PUBLIC connections (registries) will fail", SYSTEM_CA_BUNDLE);
    } else {
        PK_LOGI(TAG, "PROFILE_PUBLIC connections (registries) are verified against %s", public_cas);
    }
    net_tls_config_t net_cfg = {
        .ca_pem = cfg.ca_pem,
        .public_ca_pem = registry_ca,
        .client_ca_pem = cfg.client_ca,
        .client_cert_pem = cfg.client_cert,
        .client_key_pem = cfg.client_key,
        .serving_cert_pem = serving_cert,
        .serving_key_pem = serving_key,
        .listen_address = listen_address != NULL ? listen_address : ipv4_text,
        .queue = lh.queue,
    };
    char err[256];
    lh.net = net_tls_start(&net_cfg, err, sizeof(err));
    if (lh.net == NULL) {
        fprintf(stderr, "network: %s\n", err);
        return 1;
    }
    cred_store_t *store = NULL;
    if (cert_dir != NULL && (store = cred_store_open(cert_dir, err, sizeof(err))) == NULL) {
        fprintf(stderr, "--cert-dir: %s\n", err);
        return 2;
    }
    host_crypto_config_t crypto_cfg = {.queue = lh.queue, .store = store, .on_identity = on_identity, .ctx = &lh};
    lh.crypto = host_crypto_start(&crypto_cfg, err, sizeof(err));
    if (lh.crypto == NULL) {
        fprintf(stderr, "host crypto: %s\n", err);
        return 1;
    }
    if (lh.state_dir != NULL) {
        brain_slot_file_t *slot_file = brain_slot_file_open(lh.state_dir, BRAIN_SLOT_FILE_DEFAULT_BYTES, err, sizeof(err));
        lh.slot_file = slot_file;
        if (slot_file == NULL) {
            fprintf(stderr, "--state-dir: %s\n", err);
            return 2;
        }
        brain_host_config_t brain_cfg = {
            .backend = brain_slot_file_backend(slot_file),
            .keys = (const uint8_t(*)[BRAIN_PUBLIC_KEY_BYTES])brain_keys,
            .key_count = brain_key_count,
            .keys_hint = "--brain-public-key FILE",
            .check_module = wasm_host_check_module,
            .running_digest = proven_digest,
            .save_proven = save_proven,
            .log = brain_log,
            .ctx = &lh,
        };
        lh.brain = brain_host_create(&brain_cfg, err, sizeof(err));
        if (lh.brain == NULL) {
            fprintf(stderr, "brain: %s\n", err);
            return 1;
        }
        PK_LOGI(TAG, "brain: pulled brains go to %s (%zu brain public key%s%s)", brain_slot_file_path(slot_file),
                brain_key_count, brain_key_count == 1 ? "" : "s",
                brain_key_count == 0 ? ": every brain is refused, BrainUntrusted; give --brain-public-key FILE" : "");
    } else if (brain_key_count > 0) {
        PK_LOGW(TAG, "brain: --brain-public-key without --state-dir: brains have nowhere to go, the brain calls are "
                     "unsupported; give --state-dir DIR");
    }
    /* host_crypto_start handed a stored client certificate (an earlier bootstrap's) to on_identity. */
    const char *credentials = kubelet_config_credentials(&cfg);
    bool stored_client = atomic_load(&lh.client_identity);
    if (credentials == NULL && !stored_client) {
        PK_LOGW(TAG, "no token, bootstrap token or client certificate (configured or in --cert-dir): the API server "
                     "will refuse every request");
    }
    PK_LOGI(TAG, "node %s, API server %s:%u (server name %s, %s%s), core %s (%zu bytes), %s", cfg.node_name,
            cfg.api_host, (unsigned)cfg.api_port, server_name,
            stored_client ? "the client certificate in --cert-dir" : credentials ? credentials : "no credentials",
            stored_client && cfg.bootstrap_token != NULL ? "; the bootstrap token only if it expires" : "", wasm_path,
            wasm_size, MBEDTLS_VERSION_STRING_FULL);

    wasm_host_config_t host_cfg = {
        .wasm = wasm,
        .wasm_size = wasm_size,
        .config_json = config_json,
        .config_len = config_len,
        .stack_bytes = wasm_stack,
        .memory_limit = memory_limit,
        .call_budget_ms = 5000,
        .restart_delay_ms = 2000,
        .max_wait_ms = 1000,
        .queue = lh.queue,
        .ops =
            {
                .connect = op_connect,
                .send = op_send,
                .host_call = op_host_call,
                .close = op_close,
                .close_all = op_close_all,
                .led = op_led,
                .link = op_link,
                .heap = op_heap,
                .after_turn = op_after_turn,
                .brain = op_brain,
                .ctx = &lh,
            },
    };
    lh.host = wasm_host_create(&host_cfg);
    if (lh.host == NULL) {
        fprintf(stderr, "wasm host: bad settings\n");
        return 1;
    }
    lh.started_ms = pk_now_ms();
    lh.next_summary_ms = lh.started_ms + lh.summary_every_ms;
    if (lh.stop_at_ms > 0) {
        lh.stop_at_ms += lh.started_ms;
    }

    /* The wasm thread gets a painted stack of our own, so its high-water mark can be reported. */
    lh.stack_size = DEFAULT_NATIVE_STACK;
    lh.stack = mmap(NULL, lh.stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (lh.stack == MAP_FAILED) {
        fprintf(stderr, "cannot map the wasm thread's stack\n");
        return 1;
    }
    memset(lh.stack, STACK_PAINT, lh.stack_size);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, lh.stack, lh.stack_size);
    pthread_t thread;
    if (pthread_create(&thread, &attr, wasm_thread, &lh) != 0) {
        fprintf(stderr, "cannot start the wasm thread\n");
        return 1;
    }
    pthread_attr_destroy(&attr);

    int interrupts = 0;
    while (!atomic_load(&lh.done)) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            if (++interrupts > 1) {
                PK_LOGW(TAG, "second interrupt: exiting without waiting for the core");
                return 130;
            }
            post_shutdown(&lh, sig == SIGINT ? "SIGINT" : "SIGTERM");
        } else if (sig == SIGUSR1 && atomic_exchange(&lh.link_up, 0)) {
            PK_LOGI(TAG, "SIGUSR1: link down");
            net_tls_drop_all(lh.net, KUBELET_CLOSE_LINK_DOWN);
            pk_event_t ev = {.kind = PK_EV_LINK};
            pk_evq_post(lh.queue, &ev, PK_WAIT_FOREVER);
        } else if (sig == SIGUSR2 && !atomic_exchange(&lh.link_up, 1)) {
            PK_LOGI(TAG, "SIGUSR2: link up");
            pk_event_t ev = {.kind = PK_EV_LINK};
            pk_evq_post(lh.queue, &ev, PK_WAIT_FOREVER);
        }
    }
    pthread_join(thread, NULL);

    wasm_host_metrics_t m;
    wasm_host_metrics(lh.host, &m);
    PK_LOGI(TAG,
            "figures: module %zu bytes; parse+load+link %" PRId64 " us, compile %" PRId64 " us, boot to started %" PRId64
            " us; wasm3 heap after compile %" PRIu32 " bytes (incl. 64 KiB initial linear memory), now %" PRIu32
            ", peak %" PRIu32 "; linear memory %" PRIu32 " bytes (peak %" PRIu32 "); calls %" PRIu64
            ", longest %" PRId64 " us; events %" PRIu64 "; traps %" PRIu32 "; native stack high-water %zu bytes",
            wasm_size, m.load_us, m.compile_us, m.boot_us, m.runtime_heap_bytes, m.wasm3_heap_bytes,
            m.wasm3_heap_peak_bytes, m.memory_bytes, m.memory_peak_bytes, m.calls, m.longest_call_us, m.events,
            m.traps, stack_used(&lh));
    wasm_host_destroy(lh.host);
    brain_host_destroy(lh.brain);
    brain_slot_file_close(lh.slot_file);
    free(wasm);
    kubelet_config_free(&cfg);
    return lh.result == 0 ? 0 : 1;
}
