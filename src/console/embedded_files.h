#pragma once
// The table the build generates from src/console/assets/ (cmake/EmbedAssets.cmake writes its
// definition); private to the console module.
#include <cstddef>

namespace ablo::console::detail {

struct EmbeddedFile {
  const char* path;            // relative to src/console/assets/, '/' separated
  const unsigned char* bytes;  // `size` bytes (plus a 0 so an empty file is a valid array)
  std::size_t size;
  const char* etag;            // quoted SHA-256 prefix of the bytes
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace ablo::console::detail
