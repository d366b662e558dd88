/* Shared helpers for the libFuzzer drivers in tests/fuzz/: the entry point
 * prototype, a memfd-backed temporary file (parsers that only take a path
 * read the fuzz input through /proc/self/fd/N, no disk I/O), and the source
 * directory (for loading real tokenizers once). */
#ifndef EP_TESTS_FUZZ_H
#define EP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Writes data into an anonymous memory file; fills path ("/proc/self/fd/N")
 * and returns the fd (close it when done), or -1. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t pathsz) {
  int fd = memfd_create("fuzz", 0);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  snprintf(path, pathsz, "/proc/self/fd/%d", fd);
  return fd;
}

/* Source tree root: $EP_SOURCE_DIR, else the compile-time EP_FUZZ_SOURCE_DIR. */
static inline const char *fuzz_source_dir(void) {
  const char *d = getenv("EP_SOURCE_DIR");
#ifdef EP_FUZZ_SOURCE_DIR
  if (!d || !*d) d = EP_FUZZ_SOURCE_DIR;
#endif
  return d ? d : ".";
}

#endif
