/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * picokubelet on the Waveshare ESP32-S3-ETH: wiring only. The LED task starts first (self-test), the
 * configuration comes from Kconfig and NVS, the network task and the links come up, and the wasm task
 * runs the core (embedded in flash) until the end of time. No Kubernetes or HTTP logic lives here:
 * that is all in the core.
 *
 * Tasks: led (frames), net (TLS sockets), wasm (the core, subscribed to the task watchdog), plus
 * ESP-IDF's own (event loop, lwIP, Wi-Fi, Ethernet). Only the queue connects them to the wasm task.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "esp_event.h"
#include "esp_heap_caps.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_task_wdt.h"
#include "nvs_flash.h"
#include "sdkconfig.h"
#include "wasm3.h"

#include "board_net.h"
#include "config_store.h"
#include "cred_store.h"
#include "brain_board.h"
#include "host_crypto.h"
#include "kubelet_abi.h"
#include "kubelet_config.h"
#include "led_status.h"
#include "net_tls.h"
#include "pk_evq.h"
#include "pk_os.h"
#include "wasm_host.h"

static const char *TAG = "picokubelet";

/* The release core, embedded by EMBED_FILES (firmware/main/CMakeLists.txt). */
extern const uint8_t k_core_start[] asm("_binary_picokubelet_wasm_start");
extern const uint8_t k_core_end[] asm("_binary_picokubelet_wasm_end");

#define EVENT_QUEUE_LEN 16
#define NET_TASK_PRIORITY 6
#define LED_TASK_PRIORITY 2
/* Below the network task: a key generation never holds up the sockets. */
#define CRYPTO_TASK_PRIORITY 4
/* mbedTLS ECDSA key generation and signing, CSR and certificate parsing: an estimate, not measured. */
#define CRYPTO_TASK_STACK (8 * 1024)
#define STATUS_LOG_MS (60 * 1000)

typedef struct {
    pk_evq_t *queue;
    net_tls_t *net;
    host_crypto_t *crypto;
    /* the brain calls; NULL without the brain partitions */
    brain_host_t *brain;
    /* the proven brain to run instead of the embedded core (brain_board_start), or none */
    brain_board_boot_t boot;
    wasm_host_t *host;
    char *config_json;
    size_t config_len;
    int64_t next_status_log;
    bool watchdog;
    /* a client certificate was handed to net_tls (from NVS at start, or installed since) */
    bool client_identity;
} board_t;

static board_t s_board;

/* ---------------------------------------------------------------- host operations (wasm task) */

static int32_t op_connect(void *ctx, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                          const char *server_name, int32_t profile)
{
    board_t *b = ctx;
    board_net_link_t link;
    board_net_get(&link);
    if (link.kind == BOARD_NET_DOWN) {
        return KUBELET_CLOSE_LINK_DOWN; /* the wasm host delivers the close itself */
    }
    /* PROFILE_PUBLIC (a registry): NVS registry_ca, else ESP-IDF's certificate bundle; never the client
     * certificate */
    return net_tls_connect_profile(b->net, gen, conn, host, port, server_name, profile);
}

static int32_t op_send(void *ctx, uint32_t gen, int32_t conn, const uint8_t *data, size_t len)
{
    return net_tls_send(((board_t *)ctx)->net, gen, conn, data, len);
}

/* OP_LISTEN through net_tls, the crypto ops through host_crypto (keys and certificates in NVS), the brain ops
 * through brain_host (the slot in the brain partition). */
static int32_t op_host_call(void *ctx, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                            size_t len)
{
    board_t *b = ctx;
    if (host_crypto_serves(op)) {
        return b->crypto != NULL ? host_crypto_call(b->crypto, gen, req, op, arg, data, len) : -KUBELET_ERR_UNSUPPORTED;
    }
    if (brain_host_serves(op)) {
        return brain_host_call(b->brain, b->host, req, op, arg, data, len);
    }
    if (op != KUBELET_OP_LISTEN) {
        return -KUBELET_ERR_UNSUPPORTED;
    }
    if (arg < 1 || arg > 65535) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    return net_tls_listen(b->net, gen, req, (uint16_t)arg);
}

/* Crypto task (or start-up): an installed or stored slot certificate goes to the network task. */
static void on_identity(void *ctx, int32_t slot, const char *chain_pem, const char *key_pem)
{
    board_t *b = ctx;
    if (net_tls_set_identity(b->net, slot, chain_pem, key_pem) != 0) {
        ESP_LOGE(TAG, "cannot hand the %s certificate to the network task", slot ? "serving" : "client");
    } else if (slot == KUBELET_KEY_SLOT_CLIENT) {
        b->client_identity = true;
    }
}

static void op_close(void *ctx, uint32_t gen, int32_t conn)
{
    net_tls_close(((board_t *)ctx)->net, gen, conn);
}

static void op_close_all(void *ctx, uint32_t gen)
{
    net_tls_close_all(((board_t *)ctx)->net, gen);
}

static void op_led(void *ctx, int pattern)
{
    led_status_set(pattern);
}

static void op_link(void *ctx, wasm_host_link_t *out)
{
    board_net_link_t link;
    board_net_get(&link);
    out->kind = (int32_t)link.kind;
    out->ipv4 = link.ipv4;
    out->bssid = link.bssid;
    out->rssi = link.rssi;
}

/* Internal RAM is what runs out first on this board (PSRAM holds the core and its memory). */
static void op_heap(void *ctx, uint32_t *free_bytes, uint32_t *total_bytes)
{
    *free_bytes = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    *total_bytes = (uint32_t)heap_caps_get_total_size(MALLOC_CAP_INTERNAL);
}

static void op_watchdog(void *ctx)
{
    if (((board_t *)ctx)->watchdog) {
        esp_task_wdt_reset();
    }
}

static void op_after_turn(void *ctx, wasm_host_t *h)
{
    board_t *b = ctx;
    int64_t now = pk_now_ms();
    brain_host_after_turn(b->brain, h);
    if (now < b->next_status_log) {
        return;
    }
    b->next_status_log = now + STATUS_LOG_MS;
    wasm_host_metrics_t m;
    wasm_host_metrics(h, &m);
    ESP_LOGI(TAG,
             "phase %" PRId64 ", renewals %" PRId64 ", status pushes %" PRId64 ", linear memory %" PRIu32
             " B, internal heap %u B free (min %u), PSRAM %u B free, wasm stack %u B spare, traps %" PRIu32,
             wasm_host_stat(h, KUBELET_STAT_PHASE), wasm_host_stat(h, KUBELET_STAT_RENEWALS),
             wasm_host_stat(h, KUBELET_STAT_STATUS_PUSHES), m.memory_bytes,
             (unsigned)heap_caps_get_free_size(MALLOC_CAP_INTERNAL),
             (unsigned)heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL),
             (unsigned)heap_caps_get_free_size(MALLOC_CAP_SPIRAM), (unsigned)uxTaskGetStackHighWaterMark(NULL),
             m.traps);
}

/* ---------------------------------------------------------------- links */

/* Event loop task: a new active link drops the connections of the old one, then wakes the wasm task. */
static void on_link_change(void *ctx, bool moved)
{
    board_t *b = ctx;
    if (moved && b->net != NULL) {
        net_tls_drop_all(b->net, KUBELET_CLOSE_LINK_DOWN);
    }
    pk_event_t ev = {.kind = PK_EV_LINK};
    pk_evq_post(b->queue, &ev, 0); /* a full queue wakes the wasm task anyway; it re-reads the link */
}

/* ---------------------------------------------------------------- wasm task */

static void op_brain(void *ctx, wasm_host_t *h, wasm_host_brain_event_t event, const char *reason, const char *detail)
{
    brain_host_on_event(((board_t *)ctx)->brain, h, event, reason, detail);
}

static void wasm_task(void *arg)
{
    board_t *b = arg;
#if CONFIG_ESP_TASK_WDT_EN
    b->watchdog = esp_task_wdt_add(NULL) == ESP_OK;
#endif
    const bool proven = b->boot.wasm != NULL;
    wasm_host_config_t cfg = {
        .wasm = proven ? b->boot.wasm : k_core_start,
        .wasm_size = proven ? b->boot.size : (size_t)(k_core_end - k_core_start),
        .config_json = b->config_json,
        .config_len = b->config_len,
        .stack_bytes = CONFIG_PICOKUBELET_WASM_STACK,
        .memory_limit = (uint32_t)CONFIG_PICOKUBELET_WASM_MEMORY_LIMIT_KB * 1024u,
        .call_budget_ms = CONFIG_PICOKUBELET_WASM_CALL_BUDGET_MS,
        .restart_delay_ms = CONFIG_PICOKUBELET_WASM_RESTART_DELAY_MS,
        .max_wait_ms = 1000,
        .queue = b->queue,
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
                .watchdog = op_watchdog,
                .after_turn = op_after_turn,
                .brain = op_brain,
                .ctx = b,
            },
    };
    wasm_host_t *host = wasm_host_create(&cfg);
    b->host = host;
    int rc = host != NULL ? wasm_host_run(host) : -1;
    if (proven) {
        /* The proven brain was checked when it was pulled, but this firmware may be newer than it (an ABI it no
         * longer takes): run the core the firmware was built with rather than nothing. */
        ESP_LOGW(TAG, "the proven brain %s (version %s) does not run here (%d); starting the embedded core",
                 b->boot.digest, b->boot.version, rc);
        if (host != NULL) {
            wasm_host_destroy(host);
        }
        brain_host_started_with(b->brain, NULL);
        cfg.wasm = k_core_start;
        cfg.wasm_size = (size_t)(k_core_end - k_core_start);
        b->host = host = wasm_host_create(&cfg);
        rc = host != NULL ? wasm_host_run(host) : -1;
    }
    /* Only a core that cannot run at all gets here (module or configuration refused): the reason is in the
     * log above, and the LED keeps showing it. Nothing is retried: the same bytes would fail the same way. */
    ESP_LOGE(TAG, "the core is not running (%d); fix the configuration (NVS) or the image and reset", rc);
#if CONFIG_ESP_TASK_WDT_EN
    if (b->watchdog) {
        esp_task_wdt_delete(NULL);
    }
#endif
    vTaskDelete(NULL);
}

/* ---------------------------------------------------------------- start-up */

static void init_nvs(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_LOGW(TAG, "NVS partition unusable (%s): erasing it", esp_err_to_name(err));
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
}

/* The host-described parts of the configuration document: identity MAC and nodeInfo. */
static void describe_host(kubelet_config_t *cfg)
{
    uint8_t mac[6];
    if (cfg->mac == NULL && esp_read_mac(mac, ESP_MAC_BASE) == ESP_OK) {
        char text[18];
        snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        kubelet_config_set(cfg, "mac", text);
    }
    char os_image[64];
    snprintf(os_image, sizeof(os_image), "picokubelet on ESP32-S3 (ESP-IDF %s)", esp_get_idf_version());
    kubelet_config_set(cfg, "os_image", os_image);
    char kernel[32];
    snprintf(kernel, sizeof(kernel), "wasm3 %s", M3_VERSION);
    kubelet_config_set(cfg, "kernel_version", kernel);
}

void app_main(void)
{
    led_status_config_t led_cfg = {.gpio = CONFIG_PICOKUBELET_LED_GPIO, .task_priority = LED_TASK_PRIORITY};
    led_status_start(&led_cfg);
    ESP_LOGI(TAG, "picokubelet firmware, core %u bytes, wasm3 %s, ESP-IDF %s", (unsigned)(k_core_end - k_core_start),
             M3_VERSION, esp_get_idf_version());

    init_nvs();
    kubelet_config_t cfg;
    config_store_load(&cfg);
    describe_host(&cfg);
    cfg.kubelet_port = CONFIG_PICOKUBELET_KUBELET_PORT;
    char problems[512];
    if (kubelet_config_check(&cfg, problems, sizeof(problems)) > 0) {
        ESP_LOGE(TAG, "configuration incomplete: %s (firmware/README.md \"Provisioning\")", problems);
        led_status_set(KUBELET_LED_WARNING);
        return;
    }
    static char config_json[KUBELET_ABI_CONFIG_MAX_BYTES];
    size_t config_len = 0;
    const char *bad = NULL;
    if (kubelet_config_to_json(&cfg, config_json, sizeof(config_json), &config_len, &bad) != KUBELET_CONFIG_OK) {
        ESP_LOGE(TAG, "configuration: %s is not valid UTF-8, or the document exceeds 16 KiB", bad ? bad : "a value");
        led_status_set(KUBELET_LED_WARNING);
        return;
    }
    const char *credentials = kubelet_config_credentials(&cfg);
    ESP_LOGI(TAG, "node %s, API server %s:%u (server name %s, %s)", cfg.node_name, cfg.api_host,
             (unsigned)cfg.api_port, cfg.server_name ? cfg.server_name : cfg.api_host,
             credentials ? credentials : "no configured credentials");

    board_t *b = &s_board;
    b->config_json = config_json;
    b->config_len = config_len;
    b->next_status_log = STATUS_LOG_MS;
    b->queue = pk_evq_create(EVENT_QUEUE_LEN);
    ESP_ERROR_CHECK(b->queue != NULL ? ESP_OK : ESP_ERR_NO_MEM);

    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    net_tls_config_t net_cfg = {
        .ca_pem = cfg.ca_pem,
        .client_ca_pem = cfg.client_ca,
        .client_cert_pem = cfg.client_cert,
        .client_key_pem = cfg.client_key,
        .public_ca_pem = brain_board_registry_ca(),
        .public_ca_bundle = true,
        .queue = b->queue,
        .max_connections = CONFIG_PICOKUBELET_MAX_CONNECTIONS,
        .task_stack_bytes = CONFIG_PICOKUBELET_NET_TASK_STACK,
        .task_priority = NET_TASK_PRIORITY,
    };
    char err[160];
    b->net = net_tls_start(&net_cfg, err, sizeof(err));
    if (b->net == NULL) {
        ESP_LOGE(TAG, "TLS: %s", err);
        led_status_set(KUBELET_LED_WARNING);
        return;
    }

    /* Keys and certificates of the key slots, kept in NVS (namespace "pk_certs"); without the store the
     * crypto ops still work, in RAM only. */
    cred_store_t *store = cred_store_open(NULL, err, sizeof(err));
    host_crypto_config_t crypto_cfg = {.queue = b->queue, .store = store, .on_identity = on_identity, .ctx = b,
                                       .task_stack_bytes = CRYPTO_TASK_STACK, .task_priority = CRYPTO_TASK_PRIORITY};
    b->crypto = host_crypto_start(&crypto_cfg, err, sizeof(err));
    if (b->crypto == NULL) {
        ESP_LOGE(TAG, "host crypto: %s (the core runs without key slots)", err);
    }
    b->brain = brain_board_start(&b->boot);
    /* host_crypto_start handed a stored client certificate (an earlier bootstrap's) to on_identity. */
    if (b->client_identity && credentials == NULL) {
        ESP_LOGI(TAG, "authenticating with the client certificate stored in NVS (an earlier TLS bootstrap)");
    } else if (b->client_identity && cfg.bootstrap_token != NULL) {
        ESP_LOGI(TAG, "client certificate stored in NVS: the bootstrap token is needed only if it expires");
    } else if (credentials == NULL) {
        ESP_LOGW(TAG, "no token, bootstrap token or client certificate (configured or stored): the API server will "
                      "refuse every request (firmware/README.md \"Provisioning\")");
    }

    board_net_config_t net = {
#if CONFIG_PICOKUBELET_ETHERNET
        .ethernet = true,
        .spi_mosi = CONFIG_PICOKUBELET_ETH_SPI_MOSI,
        .spi_miso = CONFIG_PICOKUBELET_ETH_SPI_MISO,
        .spi_sclk = CONFIG_PICOKUBELET_ETH_SPI_SCLK,
        .spi_cs = CONFIG_PICOKUBELET_ETH_SPI_CS,
        .eth_int = CONFIG_PICOKUBELET_ETH_INT,
        .eth_rst = CONFIG_PICOKUBELET_ETH_RST,
        .spi_clock_mhz = CONFIG_PICOKUBELET_ETH_SPI_CLOCK_MHZ,
#endif
        .wifi_ssid = cfg.wifi_ssid,
        .wifi_psk = cfg.wifi_psk,
        .on_change = on_link_change,
        .ctx = b,
    };
    if (board_net_start(&net) != ESP_OK) {
        ESP_LOGE(TAG, "no network interface could be started");
        led_status_set(KUBELET_LED_DISCONNECTED);
    }

    /* The core runs in its own task with a large internal-RAM stack (wasm3 is not tail-call optimised on
     * Xtensa); app_main returns and its task ends. cfg's strings stay allocated for the TLS task. */
    if (xTaskCreatePinnedToCore(wasm_task, "wasm", CONFIG_PICOKUBELET_WASM_TASK_STACK, b,
                                CONFIG_PICOKUBELET_WASM_TASK_PRIORITY, NULL, tskNO_AFFINITY) != pdPASS) {
        ESP_LOGE(TAG, "cannot start the wasm task (stack %d bytes)", CONFIG_PICOKUBELET_WASM_TASK_STACK);
        led_status_set(KUBELET_LED_PANIC);
    }
}
