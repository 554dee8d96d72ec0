/*
 * keys_replay.c: the corpus-replay driver for the key-parser fuzz targets
 * (fuzz_keyfile.c, fuzz_openssh_key.c, fuzz_known_hosts.c,
 * fuzz_authorized_keys.c, fuzz_agent.c), linked with one target each.
 *
 *   keys_replay DIR [MUTATIONS]
 *
 * Feeds every file of DIR to LLVMFuzzerTestOneInput, then, for each, up to
 * MUTATIONS (default 400) deterministic variants: every truncation point and
 * single-bit flips spread evenly over the file. Any crash or sanitizer
 * report fails the ctest; an empty or missing corpus fails it too, so the
 * replay cannot pass without running.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
    }
    fclose(f);
    return buf;
}

static void
mutate(const uint8_t *seed, size_t n, unsigned budget)
{
    uint8_t *m = malloc(n + 1);
    size_t i, step;
    unsigned done = 0;

    if (m == NULL || n == 0) {
        free(m);
        return;
    }
    /* Truncations: half the budget, spread over the length. */
    step = n / (budget / 2 + 1) + 1;
    for (i = 0; i < n && done < budget / 2; i += step, done++) {
        memcpy(m, seed, i);
        LLVMFuzzerTestOneInput(m, i);
    }
    /* Bit flips: the other half. */
    step = (n * 8) / (budget / 2 + 1) + 1;
    for (i = 0; i < n * 8 && done < budget; i += step, done++) {
        memcpy(m, seed, n);
        m[i / 8] ^= (uint8_t)(1u << (i % 8));
        LLVMFuzzerTestOneInput(m, n);
    }
    free(m);
}

int
main(int argc, char **argv)
{
    DIR *d;
    struct dirent *de;
    char path[4096];
    unsigned budget = 400, files = 0;
    uint8_t *buf;
    size_t len = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
        return 2;
    }
    if (argc > 2)
        budget = (unsigned)strtoul(argv[2], NULL, 10);
    if ((d = opendir(argv[1])) == NULL) {
        fprintf(stderr, "%s: cannot open corpus %s\n", argv[0], argv[1]);
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        if ((buf = slurp(path, &len)) == NULL)
            continue;
        LLVMFuzzerTestOneInput(buf, len);
        mutate(buf, len, budget);
        free(buf);
        files++;
    }
    closedir(d);
    printf("%s: %u corpus files replayed with %u mutations each\n", argv[1], files, budget);
    return files > 0 ? 0 : 1;
}
