#include "console/console.h"

#include <utility>

#include "console/embedded_files.h"

namespace ablo::console {

namespace {

// Content types by extension; anything else is served as opaque bytes.
constexpr std::pair<std::string_view, std::string_view> kContentTypes[] = {
    {".html", "text/html; charset=utf-8"},     {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},       {".svg", "image/svg+xml"},
    {".png", "image/png"},                     {".json", "application/json"},
    {".ico", "image/x-icon"},
};

std::string_view content_type_of(std::string_view path) {
  for (const auto& [extension, type] : kContentTypes) {
    if (path.size() > extension.size() && path.substr(path.size() - extension.size()) == extension) return type;
  }
  return "application/octet-stream";
}

}  // namespace

std::optional<Asset> find_asset(std::string_view path) {
  for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
    const auto& file = detail::kEmbeddedFiles[i];
    if (path != file.path) continue;
    return Asset{content_type_of(path),
                 std::string_view(reinterpret_cast<const char*>(file.bytes), file.size), file.etag};
  }
  return std::nullopt;
}

}  // namespace ablo::console
