#pragma once
// GET/HEAD /console and /console/<file>: the web console's built-in static assets. Public (no
// key): the console holds no data; every page reads through the authenticated API.
#include <optional>
#include <string>

#include "net/http_types.h"

namespace ablo::net {

// The answer for `path` when it is under /console (an asset, 304 for a matching
// If-None-Match, or 404), nullopt for any other path or method.
std::optional<HttpResponse> console_response(const HttpRequest& request, const std::string& path);

}  // namespace ablo::net
