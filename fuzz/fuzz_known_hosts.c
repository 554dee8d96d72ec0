/*
 * fuzz_known_hosts.c: libFuzzer target for known_hosts text: parsing, and
 * lookups of fixed host names and a fixed key against whatever parsed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sshbpp/sshbpp_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are only kept alive, not judged: errors are expected. */
static volatile int sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key[] =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICEdXgsl8Xt8BWVAin4aTHYbMxu/j4XQgRsr5zsAzn+j";
    static const char *const hosts[] = {"example.org", "127.0.0.1", "h", "[weird]"};
    sshbpp_known_hosts *kh = NULL;
    sshbpp_known_hosts_result res;
    sshbpp_key *k = NULL;
    uint8_t blob[128];
    size_t n = 0, i;
    unsigned long bad;

    if (sshbpp_known_hosts_load_mem((const char *)data, size, "fuzz", &kh, &bad, NULL) != 0)
        return 0;
    if (sshbpp_key_parse_public_line(key, strlen(key), &k, NULL) == 0 &&
        sshbpp_key_public_blob(k, blob, sizeof(blob), &n) == 0) {
        for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
            sink += sshbpp_known_hosts_check(kh, hosts[i], 22, blob, n, &res);
            sink += sshbpp_known_hosts_check(kh, hosts[i], 2222, blob, n, &res);
        }
    }
    sshbpp_key_free(k);
    sshbpp_known_hosts_free(kh);
    return 0;
}
