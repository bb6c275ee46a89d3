/* zlib (Debian's zlib1g-dev): streaming gzip decompression. Swift cannot import the
   function-like macro inflateInit2, so it is wrapped here. */
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>

/* inflateInit2(stream, windowBits) with the library version and stream size checks. */
static inline int czlib_inflate_init2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
#endif
