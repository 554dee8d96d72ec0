/*
 * fuzz_authorized_keys.c: libFuzzer target for authorized_keys text with
 * options: parsing, then every entry's checks and a lookup of each
 * entry's own key from a few client addresses.
 */
#include <stddef.h>
#include <stdint.h>

#include "sshbpp/sshbpp_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Results are only kept alive, not judged: errors are expected. */
static volatile int sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const addrs[] = {"10.0.0.1", "192.168.7.7", "::1", "2001:db8::5", "x"};
    sshbpp_authorized_keys *ak = NULL;
    const sshbpp_ak_entry *e, *found;
    uint8_t blob[4096];
    size_t i, j, n;
    unsigned long skipped;

    if (sshbpp_authorized_keys_load_mem((const char *)data, size, &ak, &skipped, NULL) != 0)
        return 0;
    for (i = 0; (e = sshbpp_authorized_keys_get(ak, i)) != NULL; i++) {
        sink += sshbpp_ak_entry_permits(e, SSHBPP_AK_PERMIT_PTY);
        if (sshbpp_key_public_blob(e->key, blob, sizeof(blob), &n) != 0)
            continue;
        for (j = 0; j < sizeof(addrs) / sizeof(addrs[0]); j++) {
            sink += sshbpp_ak_entry_check(e, addrs[j], "host.example", 1700000000000LL);
            sink += sshbpp_authorized_keys_find(ak, blob, n, addrs[j], 1700000000000LL, &found);
        }
    }
    sshbpp_authorized_keys_free(ak);
    return 0;
}
