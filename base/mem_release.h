/* Give back memory the start-up touched and the engine no longer needs.
 *
 * Library code and read-only data run once at start-up (gRPC's and
 * OpenSSL's initialisation touch ~7 MiB of them) stay in the resident set
 * although nothing uses them again. For the mappings of the named
 * libraries that are read-only and hold no private copy (no anonymous or
 * dirty page: text and .rodata, never a relocated RELRO page),
 * MADV_DONTNEED drops our page-table entries: the pages stay in the page
 * cache, shared with other processes, and a later use faults them back in
 * from there (what memory reclaim does anyway, only at once). Then
 * malloc_trim(0) returns the malloc arenas' free tails. Safe at any time,
 * from any thread; costs one read of /proc/self/smaps. */
#ifndef SPARKSHIM_MEM_RELEASE_H
#define SPARKSHIM_MEM_RELEASE_H

#include <stddef.h>
#include <stdint.h>

/* libs: file-name prefixes ("libgrpc"); a mapping's file name (basename)
 * must start with one. Returns the resident kB dropped from those
 * mappings, or -1 when /proc/self/smaps cannot be read. */
int64_t mem_release_clean_lib_pages(const char *const *libs, size_t n_libs);

#endif
