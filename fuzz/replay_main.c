/*
 * replay_main.c: runs a fuzz target over files, without libFuzzer, so that
 * every gcc build (and the ASan/UBSan and valgrind stages of `make test`)
 * replays the committed corpora.
 *
 *   sshbpp_replay_<target> PATH...   (files, or directories of files)
 *
 * Exits 0 when every input ran (a crash or sanitizer report ends the
 * process); 1 if a path cannot be read or no input was found, so an empty
 * or missing corpus fails loudly.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    (void)LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

static int
run_path(const char *path)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    char sub[4096];
    int total = 0, r;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: not found\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (stat(sub, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if ((r = run_file(sub)) < 0) {
            closedir(d);
            return -1;
        }
        total += r;
    }
    closedir(d);
    return total;
}

int
main(int argc, char **argv)
{
    int i, r, total = 0;

    for (i = 1; i < argc; i++) {
        if ((r = run_path(argv[i])) < 0)
            return 1;
        total += r;
    }
    printf("replay: %d inputs ran\n", total);
    if (total == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    return 0;
}
