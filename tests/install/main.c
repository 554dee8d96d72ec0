/* Consumer of an installed sshbpp: builds one packet with an engine, feeds
 * it to a second engine and checks the message comes back. Exit 0 on
 * success. Uses only the installed public headers. */
#include <stdio.h>
#include <string.h>

#include <sshbpp/sshbpp.h>
#include <sshbpp/sshbpp_io.h>

int main(void)
{
    static const unsigned char msg[] = {2, 'h', 'e', 'l', 'l', 'o'}; /* SSH_MSG_IGNORE */
    const char *const *ciphers = sshbpp_alg_list(SSHBPP_ALG_CIPHER);
    sshbpp_engine *tx = sshbpp_engine_new();
    sshbpp_engine *rx = sshbpp_engine_new();
    const unsigned char *wire;
    sshbpp_packet pkt;
    size_t n = 0, wire_len = 0;
    int rc, ok = 0;

    while (ciphers && ciphers[n])
        n++;
    if (!tx || !rx || n == 0) {
        fprintf(stderr, "consumer: engine_new failed or no ciphers\n");
        goto out;
    }
    rc = sshbpp_engine_send(tx, msg, sizeof(msg));
    if (rc != 0) {
        fprintf(stderr, "consumer: send: %s\n", sshbpp_strerror(rc));
        goto out;
    }
    wire = sshbpp_engine_tx_data(tx, &wire_len);
    if (!wire || wire_len < 16) {
        fprintf(stderr, "consumer: no wire bytes\n");
        goto out;
    }
    rc = sshbpp_engine_feed(rx, wire, wire_len);
    if (rc == 0)
        rc = sshbpp_engine_rx_next(rx, &pkt);
    if (rc != 0 || pkt.len != sizeof(msg) || memcmp(pkt.payload, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "consumer: round trip failed (%d: %s)\n", rc, sshbpp_err_name(rc));
        goto out;
    }
    sshbpp_engine_tx_consume(tx, wire_len);
    printf("consumer: sshbpp %s, %zu ciphers (first %s), %zu-byte packet round trip OK\n",
           SSHBPP_VERSION_STRING, n, ciphers[0], wire_len);
    ok = 1;
out:
    sshbpp_engine_free(tx);
    sshbpp_engine_free(rx);
    return ok ? 0 : 1;
}
