#pragma once
// The web console's static assets (index.html, app.js, style.css, ...), compiled into the
// binary from src/console/assets/ at build time (cmake/EmbedAssets.cmake), so `ablo serve`
// needs no files and no Node at run time. The assets are public; the data they show is read
// through the authenticated API.
#include <optional>
#include <string_view>

namespace ablo::console {

struct Asset {
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view bytes;         // the file as built; lives as long as the process
  std::string_view etag;          // quoted strong validator: a hash of the bytes
};

// The asset at `path` relative to the console root ("index.html", "pages/live.js"); nullopt
// for anything not built in (including "" and paths with "..": only exact names match).
std::optional<Asset> find_asset(std::string_view path);

}  // namespace ablo::console
